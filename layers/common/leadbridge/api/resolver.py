"""The resolver every HTTP function uses, and the decorator stack around its Lambda entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from leadbridge import __version__
from leadbridge.api.errors import register_error_handlers
from leadbridge.observability import logger, metrics, tracer

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

# Name of the security scheme in the OpenAPI document (the HTTP API's JWT authorizer).
BEARER_AUTH = "bearerAuth"
SECURED: list[dict[str, list[str]]] = [{BEARER_AUTH: []}]


def make_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload v2) resolver with request/response validation and the shared error mapping."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app.configure_openapi(
        title="leadbridge",
        version=__version__,
        security_schemes={BEARER_AUTH: HTTPBearer(bearerFormat="JWT")},
    )
    register_error_handlers(app)
    return app


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
