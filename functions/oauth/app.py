"""OauthFunction: connect a CRM account (authorize + public OAuth callback), connection status, disconnect."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Depends, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from leadbridge import connect, runtime
from leadbridge.api import ERROR_CONTENT, SECURED, AdminCaller, Caller, http_lambda_handler, make_resolver
from leadbridge.api.responses import BODY_ERRORS
from leadbridge.models.connection import (
    AuthorizeRequest,
    AuthorizeResponse,
    ConnectionList,
    ConnectionView,
    DisconnectResult,
)
from leadbridge.observability import metrics

app = make_resolver()


# What the routes take from the composition root, asked for per request (see leadbridge.api.dependencies).
def _connection_services() -> connect.ConnectionServices:
    return runtime.connection_services()


Services = Annotated[connect.ConnectionServices, Depends(_connection_services)]

CrmName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{1,31}$", description="CRM name, e.g. `superoffice`.")]
# The 401 of API Gateway's JWT authorizer is added by scripts/generate_openapi.py to every secured route.
_ERRORS: dict[int, OpenAPIResponse] = {
    403: {"description": "Not an admin, or the token carries no tenant", "content": ERROR_CONTENT},
    404: {"description": "Unknown CRM, or nothing connected", "content": ERROR_CONTENT},
    422: {"description": "Invalid request", "content": ERROR_CONTENT},
}
# The browser pages (connect page, callback) answer HTML, not the shared JSON error body; only a query parameter
# failing its declared bounds gets the JSON 422 of every route.
_HTML: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    content_types.TEXT_HTML: {"schema": {"type": "string"}}
}
_PAGE_ERRORS: dict[int, OpenAPIResponse] = {
    422: {"description": "A query parameter out of its bounds", "content": ERROR_CONTENT},
}
# Responses carrying nothing a cache or a later page should keep.
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@app.post(
    "/connections/<crm>/authorize",
    summary="Start connecting a CRM account (made by the connect page)",
    description="Admin only. Creates a single-use authorization (10 minutes) bound to the browser making this call: "
    "the answer sets a cookie (HttpOnly, SameSite=Lax, scoped to the callback path) and gives the CRM's sign-in URL "
    "to send that same browser to. Make the call from the connect page (GET on this path), which runs on the API's "
    "own origin so the cookie is first-party; a cross-site call from the app would get a third-party cookie that "
    "browsers drop, and the sign-in would end in `state_mismatch`. After sign-in the browser comes back to "
    "`return_url` with `?status=connected&crm=...` or `?status=error&error=<code>` (`denied`, `expired_state`, "
    "`invalid_state`, `state_mismatch` (the sign-in came back in another browser), `email_mismatch` "
    "(`require_same_email`), `wrong_account`, `already_connected_other_account`, `crm_error`, "
    "`temporarily_unavailable`, `server_error`). `return_url` must start with an entry of ALLOWED_RETURN_URLS. "
    "Which CRM account the admin signs in to is only known after sign-in, so a conflict with another connected "
    "account is reported on the return URL, not here.",
    tags=["connections"],
    security=SECURED,
    responses={
        200: {
            "description": "The CRM's sign-in URL; the answer sets the browser-binding cookie",
            "content": {content_types.APPLICATION_JSON: {"model": AuthorizeResponse}},
        },
        **_ERRORS,
        **BODY_ERRORS,
    },
)
def authorize(
    crm: CrmName, request: Annotated[AuthorizeRequest, Body()], admin: AdminCaller, services: Services
) -> Response[AuthorizeResponse]:
    started = connect.start_authorization(
        services,
        tenant_id=admin.tenant_id,
        user_id=admin.user_id,
        crm=crm,
        return_url=request.return_url,
        user_email=admin.email,
        require_same_email=request.require_same_email,
    )
    cookie = Cookie(
        name=started.cookie.name,
        value=started.cookie.value,
        path=started.cookie.path,
        secure=started.cookie.secure,
        http_only=True,
        max_age=started.cookie.max_age,
        # Lax: the cookie comes along on the CRM's top-level redirect back to the callback, on nothing else.
        same_site=SameSite.LAX_MODE,
    )
    return Response(200, content_types.APPLICATION_JSON, started.response(), headers=_NO_STORE, cookies=[cookie])


@app.get(
    "/connections/<crm>/authorize",
    summary="Connect page (open it with window.open from the app)",
    description="Public, and grants nothing by itself: an HTML page on the API's origin that asks the window that "
    "opened it for the admin's token (`postMessage`, only to and from the origin of `return_url`), makes POST "
    "/connections/{crm}/authorize with it (same-origin, so the browser-binding cookie is first-party) and goes on to "
    "the CRM's sign-in. See docs/connections.md for the messages. An unsupported CRM or a `return_url` off the "
    "allow-list gets a 400 HTML page.",
    tags=["connections"],
    responses={
        200: {"description": "The connect page", "content": _HTML},
        400: {"description": "Unknown CRM or return URL (an HTML page)", "content": _HTML},
        **_PAGE_ERRORS,
    },
)
def connect_page(
    crm: CrmName, services: Services, return_url: Annotated[str | None, Query(max_length=2048)] = None
) -> Response[str]:
    target = connect.connect_page_target(services, crm=crm, return_url=return_url)
    if target is None:
        return _error_response(
            400, "invalid_request", "Unknown CRM, or the return_url is not an allowed return URL of this app."
        )
    page = connect.render_connect_page(target)
    return Response(
        200,
        content_types.TEXT_HTML,
        page.body,
        headers={**_NO_STORE, "Content-Security-Policy": page.content_security_policy},
    )


@app.get(
    "/oauth/<crm>/callback",
    summary="OAuth callback (the CRM redirects the browser here)",
    description="Public; the single-use `state` and the browser cookie set by POST /connections/{crm}/authorize are "
    "the proof. Redirects (302) to the return URL given to authorize (`error=state_mismatch` when the cookie is "
    "missing or different: the code is then not exchanged). When the state is missing, unknown, forged or already "
    "used there is no trustworthy return URL: 400 with an HTML page naming the error. With `require_same_email`, a "
    "CRM user whose e-mail is not the app user's gets `error=email_mismatch` and nothing is stored.",
    tags=["connections"],
    # 302 has no body: `content: {}` keeps Powertools from describing the return annotation as one.
    responses={
        302: {"description": "Back to the app's return URL (`Location`)", "content": {}},
        400: {"description": "Missing, unknown or already used state (an HTML page)", "content": _HTML},
        **_PAGE_ERRORS,
    },
)
def callback(
    crm: CrmName,
    services: Services,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[str]:
    cookie_name = connect.browser_cookie_name(state) if state else None
    result = connect.complete_authorization(
        services,
        crm=crm,
        params=connect.CallbackParams(
            state=state,
            code=code,
            error=error,
            error_description=error_description,
            browser_key=_cookie(cookie_name) if cookie_name else None,
        ),
    )
    # One metric per outcome, so an alarm can watch failed connects (error codes are a small fixed set).
    metrics.add_metric(name=f"Connect_{result.error or 'connected'}", unit=MetricUnit.Count, value=1)
    # The state is used up either way: its cookie has served its purpose.
    spent = [_expired_cookie(services, cookie_name, crm)] if cookie_name and _cookie(cookie_name) is not None else []
    if result.redirect_url is not None:
        return Response(
            302, content_types.TEXT_HTML, "", headers={"Location": result.redirect_url, **_NO_STORE}, cookies=spent
        )
    return _error_response(result.status, result.error or "invalid_state", result.message, cookies=spent)


def _cookie(name: str) -> str | None:
    for raw in app.current_event.cookies or []:
        key, _, value = raw.partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def _expired_cookie(svc: connect.ConnectionServices, name: str, crm: str) -> Cookie:
    return Cookie(
        name=name,
        value="",
        path=urlsplit(svc.redirect_uri(crm)).path,
        secure=svc.public_api_url.startswith("https://"),
        http_only=True,
        max_age=0,
        same_site=SameSite.LAX_MODE,
    )


def _error_response(status: int, code: str, message: str, *, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(
        status,
        content_types.TEXT_HTML,
        _error_page(code, message),
        headers={**_NO_STORE, "Content-Security-Policy": "default-src 'none'"},
        cookies=cookies or [],
    )


@app.get(
    "/connections",
    summary="Connection status of every supported CRM",
    description="Any member of the tenant. One entry per CRM leadbridge supports; `disconnected` when never connected.",
    tags=["connections"],
    security=SECURED,
    responses=_ERRORS,
)
def list_connections(caller: Caller, services: Services) -> ConnectionList:
    return connect.list_connections(services, tenant_id=caller.tenant_id, admin=caller.is_admin)


@app.get(
    "/connections/<crm>",
    summary="Connection status of one CRM",
    description="`connected`, `needs_reauth` (an admin must connect again) or `disconnected`; the CRM account, who "
    "connected it and when, the last successful sync and the last error. For an admin, `webhook_setup` says what to "
    "do in the CRM when its webhooks cannot be created through its API (Salesforce Outbound Messages): the endpoint "
    "URL (it carries the connection's secret key: keep it private) and the steps.",
    tags=["connections"],
    security=SECURED,
    responses=_ERRORS,
)
def get_connection(crm: CrmName, caller: Caller, services: Services) -> ConnectionView:
    return connect.connection_status(services, tenant_id=caller.tenant_id, crm=crm, admin=caller.is_admin)


@app.delete(
    "/connections/<crm>",
    summary="Disconnect a CRM account",
    description="Admin only. Removes the webhook registration and revokes the grant at the CRM, deletes the stored "
    "credentials (recoverable by AWS for 7 days), and marks the connection disconnected. The sync log and the links "
    "between app and CRM records are kept; nothing is deleted in the CRM. A webhook set up by hand in the CRM "
    "(Salesforce Outbound Messages) cannot be removed through its API: `webhook_removed` is false and "
    "`webhook_manual_removal` says what to remove in the CRM, or that it may stay for a reconnect of the same "
    "account, which keeps the webhook URL (meanwhile its deliveries are acknowledged and dropped).",
    tags=["connections"],
    security=SECURED,
    responses=_ERRORS,
)
def delete_connection(crm: CrmName, admin: AdminCaller, services: Services) -> DisconnectResult:
    return connect.disconnect(services, tenant_id=admin.tenant_id, crm=crm, user_id=admin.user_id)


def _error_page(code: str, message: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Connection failed</title></head>"
        f"<body><h1>Connection failed</h1><p>{html.escape(message)}</p>"
        f"<p>Error code: <code>{html.escape(code)}</code></p></body></html>"
    )


lambda_handler = http_lambda_handler(app)
