"""The resolver every HTTP function uses, and the decorator stack around its Lambda entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Route
from aws_lambda_powertools.event_handler.depends import build_dependency_tree, solve_dependencies
from aws_lambda_powertools.event_handler.middlewares import BaseMiddlewareHandler, NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from leadbridge import __version__
from leadbridge.api.dependencies import admin_caller, caller
from leadbridge.api.errors import register_error_handlers
from leadbridge.json_body import MAX_BODY_BYTES, MAX_BULK_BODY_BYTES, event_body_bytes, parse_json_body
from leadbridge.observability import logger, metrics, tracer

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# Name of the security scheme in the OpenAPI document (the HTTP API's JWT authorizer).
BEARER_AUTH = "bearerAuth"
SECURED: list[dict[str, list[str]]] = [{BEARER_AUTH: []}]
# The scheme as the dict Powertools validates into its `HTTPBearer` model when it builds the document: importing
# `openapi.models` here would cost every HTTP function ~0.1-0.3 s at cold start for a document it never serves.
_BEARER_SCHEME: dict[str, Any] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def make_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload v2) resolver with request/response validation and the shared error mapping.

    Before Powertools validates a request, `CallerFirst` resolves the route's caller (so a member gets 403, not a
    422 naming the fields of an invalid body) and parses the JSON body through `leadbridge.json_body` (bounded; any
    failure is a 400, a body over the route's size limit a 413)."""
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    app.configure_openapi(
        title="leadbridge",
        version=__version__,
        security_schemes={BEARER_AUTH: _BEARER_SCHEME},  # type: ignore[dict-item]
    )
    register_error_handlers(app)
    validation = getattr(app, "_request_validation_middleware", None)
    if validation is None:  # pragma: no cover - Powertools creates it for enable_validation=True
        raise RuntimeError("Powertools created no request validation middleware; CallerFirst cannot be installed")
    app._request_validation_middleware = CallerFirst(validation)  # type: ignore[assignment]
    return app


# Dependencies that say who is calling: resolved before request validation, in this order.
_CALLER_DEPENDENCIES = (caller, admin_caller)
_DEPENDS_CACHE_KEY = "_dependency_cache"  # where Powertools keeps per-request dependency values
# Routes that take a larger body than `MAX_BODY_BYTES`, by method and path as the route declares them: the bulk
# export's 1,000 leads (docs/export.md).
BODY_LIMITS: dict[tuple[str, str], int] = {("POST", "/exports"): MAX_BULK_BODY_BYTES}


def body_limit(method: str, path: str) -> int:
    """The largest request body (bytes) the route reads; a larger one is answered 413 before it is parsed."""
    return BODY_LIMITS.get((method.upper(), path), MAX_BODY_BYTES)


class CallerFirst(BaseMiddlewareHandler[APIGatewayHttpResolver]):
    """Runs in place of Powertools' request validation middleware, and then calls it:
    1. the route's `Caller`/`AdminCaller` dependency is resolved first (401/403 before any 422), its value cached
       for the route the way Powertools caches dependencies;
    2. a route that takes a JSON body gets it parsed by `parse_json_body` from the raw event bytes (400 on any
       failure, 413 over the route's `body_limit`), and Powertools' validation reads that value instead of parsing
       again."""

    def __init__(self, validation: BaseMiddlewareHandler[Any]) -> None:
        self._validation = validation

    def handler(self, app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        route = app.context.get("_route")
        if isinstance(route, Route):
            self._resolve_caller(app, route)
            if route.dependant.body_params:
                self._parse_body(app, body_limit(route.method, route.path))
        return self._validation(app, next_middleware)

    @staticmethod
    def _resolve_caller(app: APIGatewayHttpResolver, route: Route) -> None:
        tree = build_dependency_tree(route.func)
        for wanted in _CALLER_DEPENDENCIES:
            nodes = [node for node in tree.dependencies if node.depends.dependency is wanted]
            if nodes:
                solve_dependencies(
                    dependant=type(tree)(dependencies=nodes[:1]),
                    request=app.request,
                    dependency_overrides=app.dependency_overrides or None,
                    dependency_cache=app.context.setdefault(_DEPENDS_CACHE_KEY, {}),
                )

    @staticmethod
    def _parse_body(app: APIGatewayHttpResolver, max_bytes: int) -> None:
        event = app.current_event
        content_type = (event.headers.get("content-type") or "").strip().lower()
        if content_type and not content_type.startswith(content_types.APPLICATION_JSON):
            return  # Powertools answers an unsupported media type
        raw = event_body_bytes(event.body, bool(event.is_base64_encoded))
        # `json_body` is a cached property: the bounded parse is the one Powertools' validation sees.
        event.__dict__["json_body"] = parse_json_body(raw, max_bytes=max_bytes)


def model_response(status: int, model: BaseModel, *, headers: dict[str, str] | None = None) -> Response[Any]:
    """A JSON response with `model` as its body, for a route that answers another status than 200 or adds headers
    (its return annotation, e.g. `Response[SyncRun]`, still gives the OpenAPI schema)."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=model.model_dump(mode="json"),
        headers=headers,
    )


def http_lambda_handler(app: APIGatewayHttpResolver) -> LambdaHandler:
    """The Lambda entry point for `app`: JSON logs with the request id as correlation id, metrics flushed, traced.

    Usage in a function module: `lambda_handler = http_lambda_handler(app)`.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler
