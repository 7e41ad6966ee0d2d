"""Response models and declarations for the OpenAPI document: answers that do not come from a route's own code.

API Gateway answers some requests before the function runs, in its own shape `{"message": "..."}`: the HTTP API's
JWT authorizer refuses a missing, expired or forged bearer token with 401 `{"message":"Unauthorized"}`. The
function itself answers 401 in the shared `ErrorBody` shape only for a verified token without a subject. Both can
reach the client, so a 401 is documented as either.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, RootModel

from leadbridge.api.errors import ERROR_CONTENT, ErrorBody


class GatewayMessage(BaseModel):
    """API Gateway's own error body (the function was not called)."""

    model_config = ConfigDict(defer_build=True)

    message: str = Field(description="API Gateway's reason, e.g. `Unauthorized`.", examples=["Unauthorized"])


class Unauthorized(RootModel[GatewayMessage | ErrorBody]):
    """A 401: API Gateway's JWT authorizer refused the bearer token (`{"message":"Unauthorized"}`), or the verified
    token has no subject (`ErrorBody`, code `unauthenticated`)."""


UNAUTHORIZED_DESCRIPTION = (
    'Missing, expired or invalid bearer token: API Gateway answers `{"message":"Unauthorized"}` without calling the '
    "function (a verified token without `sub` gets the error body, code `unauthenticated`)"
)


# Declarations (`responses=` of a route) for the answers the shared request parsing gives every route that takes a
# JSON body (leadbridge.json_body, leadbridge.api.errors), in the shared error shape.
BODY_ERRORS: dict[int, OpenAPIResponse] = {
    400: {"description": "The body is not JSON (malformed, not UTF-8, nested too deeply)", "content": ERROR_CONTENT},
    413: {"description": "The body is larger than the route accepts", "content": ERROR_CONTENT},
    415: {"description": "The body is not sent as application/json", "content": ERROR_CONTENT},
}
