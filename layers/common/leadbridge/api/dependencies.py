"""The caller of an HTTP route, as a parameter the route declares and Powertools' `Depends` resolves per request.

    def delete_connection(crm: CrmName, caller: AdminCaller, services: Services) -> DisconnectResult: ...

`Caller` is the principal the HTTP API's JWT authorizer verified (401/403 as `principal_from_claims` raises them);
`AdminCaller` also requires the admin role (403). Each function module declares its area's services the same way,
with a provider that asks the composition root (`leadbridge.runtime`) when the request comes in, so a test that
replaces a runtime factory is seen by every route. Dependencies hold no HTTP parameters, so the OpenAPI document does
not change, and an error one raises is answered like one the route raised. `Caller`/`AdminCaller` are resolved
before request validation (`leadbridge.api.resolver.CallerFirst`): a member always gets 403, never a 422 that
describes the body; the other dependencies are resolved after it.
"""

from __future__ import annotations

from typing import Annotated, cast

from aws_lambda_powertools.event_handler import Depends, Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from leadbridge.api.auth import Principal, principal_from_claims, require_admin


def caller(request: Request) -> Principal:
    """The principal of the request (tenant and role from the configured claims)."""
    event = cast(APIGatewayProxyEventV2, request.resolved_event)
    return principal_from_claims(event.request_context.authorizer.jwt_claim)


def admin_caller(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    return require_admin(principal)


Caller = Annotated[Principal, Depends(caller)]
AdminCaller = Annotated[Principal, Depends(admin_caller)]
