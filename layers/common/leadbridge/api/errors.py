"""The one mapping from errors to HTTP responses, shared by every HTTP function.

Every error body has the same shape:
`{"error": {"code": "...", "message": "...", "details": {...}, "correlation_id": "..."}}`.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from pydantic import BaseModel, ConfigDict, Field

from leadbridge import errors
from leadbridge.json_body import MalformedBody
from leadbridge.observability import logger

# First match wins, so subclasses come before their bases.
_STATUS: list[tuple[type[errors.LeadbridgeError], int]] = [
    (errors.InvalidCursor, 400),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.CrmNotFound, 404),
    (errors.PreconditionFailed, 412),
    (errors.Conflict, 409),
    (errors.ConnectionMissing, 409),
    (errors.NeedsReauth, 409),
    (errors.CrmConflict, 409),
    (errors.RateLimited, 429),
    (errors.CrmRejected, 502),
    (errors.CrmUnavailable, 503),
    (errors.StoreUnavailable, 503),
    (errors.WebhookRejected, 400),
    (errors.CrmError, 502),
]

# What the caller can do about a 409, unless the code that raised the error said something more specific.
_HINTS: dict[type[errors.LeadbridgeError], str] = {
    errors.NeedsReauth: "The CRM no longer accepts the stored credentials; an admin must reconnect the CRM account.",
    errors.ConnectionMissing: "No CRM account is connected for this tenant; an admin must connect one first.",
    errors.Conflict: "Reload the current state and retry, or resolve the conflict described in the message.",
    errors.CrmConflict: "The record changed in the CRM meanwhile; reload it and retry.",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str = Field(description="Stable machine-readable error code, e.g. `invalid_input`, `not_connected`.")
    message: str = Field(description="Human-readable explanation.")
    details: dict[str, Any] = Field(default_factory=dict, description="Error-specific facts, e.g. `errors` per field.")
    correlation_id: str | None = Field(default=None, description="Quote this when reporting a problem.")


class ErrorBody(BaseModel):
    """The body of every non-2xx response."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


# The ErrorBody model, for routes that describe each error status in their own words. A model, not its inlined
# `model_json_schema()`: Powertools then puts ErrorBody and ErrorDetail in `components/schemas`, where the document's
# `$ref`s resolve (an inlined schema's `#/$defs/...` refs point at the document root and resolve nowhere).
ERROR_CONTENT: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    content_types.APPLICATION_JSON: {"model": ErrorBody}
}

_DESCRIPTIONS = {
    400: "Bad request (e.g. an invalid or foreign pagination cursor)",
    401: "Missing or invalid bearer token",
    403: "Not allowed: no tenant in the token, or a role is missing",
    404: "Not found",
    409: "Conflict with the current state; `details.hint` says what to do",
    412: "The resource changed since it was read (stale ETag)",
    422: "Invalid input; `details.errors` names each bad field with its `loc`",
    429: "The CRM rate-limited us; see the Retry-After header",
    502: "The CRM rejected the request; the message carries its reason",
    503: "A dependency (CRM or store) is unavailable; retry later",
}


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI `responses` for a route's error statuses, all with the shared ErrorBody schema."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
        for status in statuses
    }


def status_for(exc: errors.LeadbridgeError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    correlation_id: str | None = None,
) -> Response[Any]:
    """A JSON error response in the shared shape. Usable by any handler that must answer an error itself."""
    body = ErrorBody(
        error=ErrorDetail(
            code=code,
            message=message,
            details=details or {},
            correlation_id=correlation_id or logger.get_correlation_id(),
        )
    )
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json"),
        headers=headers or {},
    )


def domain_error_response(exc: errors.LeadbridgeError) -> Response[Any]:
    status = status_for(exc)
    details = dict(exc.details)
    headers: dict[str, str] = {}
    for cls, hint in _HINTS.items():
        if isinstance(exc, cls):
            details.setdefault("hint", hint)
            break
    if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        logger.warning("request failed", extra={"error_code": exc.code, "status": status, "reason": exc.message})
    else:
        logger.info("request rejected", extra={"error_code": exc.code, "status": status})
    return error_response(status, exc.code, exc.message, details=details, headers=headers)


def validation_error_response(exc: RequestValidationError) -> Response[Any]:
    # `loc` names the part and field (["query", "limit"], ["body", "mapping", 0, "field"]); `input` is left out
    # because it may echo secrets back.
    problems = [{"loc": list(e["loc"]), "type": e["type"], "message": e.get("msg", "")} for e in exc.errors()]
    fields = ", ".join(".".join(str(p) for p in p["loc"]) for p in problems)
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        errors.InvalidInput.code,
        f"Invalid request: {fields}" if fields else "Invalid request",
        details={"errors": problems},
    )


def malformed_body_response(exc: MalformedBody) -> Response[Any]:
    # The body could not be read as JSON at all (leadbridge.json_body): nothing of it is echoed back.
    logger.info("request rejected", extra={"error_code": errors.InvalidInput.code, "reason": exc.reason})
    if exc.too_large:
        return error_response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", f"Request body rejected: {exc.reason}."
        )
    return error_response(
        HTTPStatus.BAD_REQUEST,
        errors.InvalidInput.code,
        f"Request body rejected: {exc.reason}.",
        details={"errors": [{"loc": ["body"], "type": "json_invalid", "message": exc.reason}]},
    )


def service_error_response(exc: ServiceError) -> Response[Any]:
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "_").replace("-", "_")
    if isinstance(exc.msg, dict):
        return error_response(status, code, status.phrase, details=exc.msg)
    return error_response(status, code, exc.msg)


def unexpected_error_response(exc: Exception) -> Response[Any]:
    # The traceback goes to the (redacting) log with the correlation id; the client sees neither.
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return error_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal_error",
        "An unexpected error occurred. Quote the correlation id when reporting it.",
    )


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    """Install the mapping on a resolver (the factory in `leadbridge.api.resolver` does this for every function)."""
    app.exception_handler(errors.LeadbridgeError)(domain_error_response)
    app.exception_handler(RequestValidationError)(validation_error_response)
    app.exception_handler(MalformedBody)(malformed_body_response)
    app.exception_handler(RequestUnsupportedContentType)(
        lambda exc: error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json."
        )
    )
    app.exception_handler(ServiceError)(service_error_response)
    app.exception_handler(Exception)(unexpected_error_response)
