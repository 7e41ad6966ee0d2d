"""OAuth 2.0 of the HubSpot sandbox (§1): the authorize page on the app host, and on the API host the `2026-03` token,
introspect and revoke endpoints (form-body parameters only), their earlier `/oauth/v3/token` name, and the deprecated
v1 endpoints, which answer until `v1_shutdown` and then 404."""

from __future__ import annotations

import hmac
import html
import secrets
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import json_response
from local.sandbox.common.oauth_http import authorize_params, carried_params, error_page, pkce_s256, redirect_with
from local.sandbox.hubspot.model import (
    AccessToken,
    AuthCode,
    IntrospectActive,
    IntrospectInactive,
    OAuthApp,
    OAuthError,
    RefreshGrant,
    TokenFormRequest,
    TokenRequest,
    V1TokenInfo,
    checked,
)
from local.sandbox.hubspot.state import HubSpotState

FORM = "application/x-www-form-urlencoded"
Form = TypeVar("Form", bound=BaseModel)
TOKEN_PATHS = ("/oauth/2026-03/token", "/oauth/v3/token")


def authorize(sb: HubSpotState, request: Request, pinned_hub: int | None) -> Response:
    """`/oauth/authorize` (or `/oauth/{hubId}/authorize`): `sandbox_login=<email>` signs in without the page."""
    params = authorize_params(request)
    with sb.lock:
        app = sb.apps.get(params.get("client_id", ""))
    if app is None:
        return error_page(400, "Authorization failed", "Unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return error_page(400, "Authorization failed", "redirect_uri does not match the app's redirect URLs")
    required = params.get("scope", "").split()
    optional = params.get("optional_scope", "").split()
    if app.scopes and not set(required) <= set(app.scopes):
        # since 2024-10-21 the requested scopes must match the app's settings (§1.1)
        return error_page(400, "Authorization failed", f"scopes not in the app's settings: "
                          f"{sorted(set(required) - set(app.scopes))}")
    challenge = params.get("code_challenge")
    state = params.get("state")
    if challenge is None and sb.require_pkce:
        return redirect_with(redirect_uri, {"error": "invalid_request", "error_description": "code_challenge "
                                            "required", "state": state})
    login = params.get("sandbox_login")
    if login is None:
        return _login_page(sb, params, app)
    if params.get("sandbox_consent", "allow") == "deny":
        return redirect_with(redirect_uri, {"error": "access_denied", "error_description": "user denied access",
                                            "state": state})
    found = sb.find_user(login)
    if found is None or (pinned_hub is not None and found[0].hub_id != pinned_hub):
        return error_page(400, "Unknown user", f"No user {login!r} in {pinned_hub or 'any sandbox portal'}")
    portal, owner = found
    granted = required + [s for s in optional if not app.scopes or s in app.scopes]
    code = secrets.token_hex(18)
    with sb.lock:
        sb.codes[code] = AuthCode(code, app.client_id, redirect_uri, portal.hub_id, owner.user_id, granted,
                                  challenge, sb.clock() + sb.code_ttl)
    return redirect_with(redirect_uri, {"code": code, "state": state})


def _login_page(sb: HubSpotState, params: dict[str, str], app: OAuthApp) -> Response:
    with sb.lock:
        choices = [(p.name, p.hub_id, o.email) for p in sb.portals.values() for o in p.owners.values()]
    options = "".join(f'<option value="{html.escape(email)}">{html.escape(email)} ({html.escape(name)}, '
                      f"{hub})</option>" for name, hub, email in choices)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>HubSpot sandbox - choose an account</title>
</head><body style="font-family:sans-serif;max-width:32em;margin:3em auto"><h1>HubSpot sandbox</h1>
<p><b>{html.escape(app.name)}</b> asks to connect to your HubSpot account.</p>
<form method="post">{carried_params(params)}
<label>Account <select name="sandbox_login">{options}</select></label>
<p><button name="sandbox_consent" value="allow">Connect app</button>
<button name="sandbox_consent" value="deny">Cancel</button></p></form></body></html>"""
    return Response(page, mimetype="text/html")


def _form(request: Request, model: type[Form]) -> Form:
    """The form body as `model`; parameters anywhere else, or fields the reference does not list, are refused (§1:
    form body only, never path or query)."""
    if request.method != "POST":
        raise OAuthError("invalid_request", "use POST", "BAD_REQUEST", 405)
    if request.args:
        raise OAuthError("invalid_request", "parameters belong in the form body, not the query", "BAD_REQUEST")
    if request.mimetype != FORM:
        raise OAuthError("invalid_request", f"Content-Type must be {FORM}", "BAD_REQUEST")
    try:
        return model.model_validate(dict(request.form.items()))
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())
        raise OAuthError("invalid_request", f"invalid parameters: {fields}", "BAD_REQUEST") from None


def _client(sb: HubSpotState, form: TokenRequest | TokenFormRequest) -> OAuthApp:
    with sb.lock:
        app = sb.apps.get(form.client_id)
    if app is None:
        raise OAuthError("invalid_client", "missing or unknown client_id", "BAD_CLIENT_ID")
    if not hmac.compare_digest(app.client_secret, form.client_secret):
        raise OAuthError("invalid_client", "client_secret does not match client_id", "BAD_CLIENT_SECRET")
    return app


def token(sb: HubSpotState, request: Request) -> Response:
    form = _form(request, TokenRequest)
    app = _client(sb, form)
    grant_type = form.grant_type
    if grant_type == "authorization_code":
        return json_response(_code_grant(sb, app, form))
    if grant_type == "refresh_token":
        return json_response(_refresh_grant(sb, app, form))
    raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported", "BAD_GRANT_TYPE")


def _code_grant(sb: HubSpotState, app: OAuthApp, form: TokenRequest) -> dict[str, Any]:
    with sb.lock:
        code: AuthCode | None = sb.codes.get(form.code or "")
        if code is None or code.client_id != app.client_id or code.used or sb.clock() > code.expires_at:
            raise OAuthError("invalid_grant", "missing or unknown auth code", "BAD_AUTH_CODE")
        if form.redirect_uri != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request",
                             "BAD_REDIRECT_URI")
        if code.code_challenge is not None:
            verifier = form.code_verifier or ""
            if not verifier or not hmac.compare_digest(pkce_s256(verifier), code.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge",
                                 "BAD_AUTH_CODE")
        code.used = True
        return sb.issue_tokens(app.client_id, code.hub_id, code.user_id, code.scopes)


def _refresh_grant(sb: HubSpotState, app: OAuthApp, form: TokenRequest) -> dict[str, Any]:
    with sb.lock:
        grant = sb.refresh_grants.get(form.refresh_token or "")
        if grant is None or grant.client_id != app.client_id or grant.revoked:
            raise OAuthError("invalid_grant", "missing or unknown refresh token", "BAD_REFRESH_TOKEN")
        if not sb.rotate_refresh_tokens:
            return sb.issue_tokens(app.client_id, grant.hub_id, grant.user_id, grant.scopes, grant.token)
        grant.revoked = True
        return sb.issue_tokens(app.client_id, grant.hub_id, grant.user_id, grant.scopes)


def _find(sb: HubSpotState, value: str) -> AccessToken | RefreshGrant | None:
    with sb.lock:
        return sb.tokens.get(value) or sb.refresh_grants.get(value)


def introspect(sb: HubSpotState, request: Request) -> Response:
    """Answer fields are **unconfirmed** (§1): RFC 7662 by default, the v1 token-info fields with
    `introspect_style="v1"`. An unknown, expired or revoked token is `{"active": false}`."""
    form = _form(request, TokenFormRequest)
    _client(sb, form)
    found = _find(sb, form.token)
    live = found is not None and not found.revoked and (
        not isinstance(found, AccessToken) or sb.access_for(found.token) is not None)
    if found is None or not live:
        return json_response(checked(IntrospectInactive, {"active": False}))
    if sb.introspect_style == "v1":
        return json_response(checked(V1TokenInfo, {"active": True, **_v1_info(sb, found)}))
    body: dict[str, Any] = {"active": True, "client_id": found.client_id, "hub_id": found.hub_id,
                            "user_id": found.user_id, "scope": " ".join(found.scopes),
                            "token_type": "access_token" if isinstance(found, AccessToken) else "refresh_token"}
    if isinstance(found, AccessToken):
        body.update(iat=int(found.issued_at), exp=int(found.expires_at))
    return json_response(checked(IntrospectActive, body))


def _revoke_value(sb: HubSpotState, value: str) -> bool:
    with sb.lock:
        grant = sb.refresh_grants.get(value)
        access = sb.tokens.get(value)
        if grant is None and access is None:
            return False
        if grant is not None:
            grant.revoked = True  # and every access token issued from it
            for issued in sb.tokens.values():
                if issued.refresh_token == value:
                    issued.revoked = True
        if access is not None:
            access.revoked = True
        return True


def revoke(sb: HubSpotState, request: Request) -> Response:
    form = _form(request, TokenFormRequest)
    _client(sb, form)
    _revoke_value(sb, form.token)  # RFC 7009: unknown tokens are not an error
    return Response("", status=200)


# --- v1 (deprecated, off on v1_shutdown) ---------------------------------------------------------------------------


def _v1_info(sb: HubSpotState, found: AccessToken | RefreshGrant) -> dict[str, Any]:
    with sb.lock:
        portal = sb.portals.get(found.hub_id)
        owner = next((o for o in portal.owners.values() if o.user_id == found.user_id), None) if portal else None
    body: dict[str, Any] = {"token": found.token, "user": owner.email if owner else None, "user_id": found.user_id,
                            "hub_id": found.hub_id, "hub_domain": portal.domain if portal else None,
                            "scopes": list(found.scopes)}
    if isinstance(found, AccessToken):
        body.update(app_id=sb.apps[found.client_id].app_id if found.client_id in sb.apps else None,
                    expires_in=max(0, int(found.expires_at - sb.clock())), token_type="access")
    else:
        body.update(client_id=found.client_id, token_type="refresh")
    return body


def v1(sb: HubSpotState, request: Request) -> Response:
    if not sb.v1_available():
        raise OAuthError("invalid_request", f"The v1 OAuth API was shut down on {sb.v1_shutdown.isoformat()}: use "
                         "/oauth/2026-03/token", "NOT_FOUND", 404)
    path = request.path.rstrip("/")
    if path == "/oauth/v1/token":
        return token(sb, request)
    kind, _, value = path.removeprefix("/oauth/v1/").partition("/")
    found = _find(sb, value)
    if kind == "access-tokens" and request.method == "GET":
        if not isinstance(found, AccessToken) or sb.access_for(found.token) is None:
            raise OAuthError("invalid_token", "missing or unknown access token", "BAD_ACCESS_TOKEN", 404)
        return json_response(checked(V1TokenInfo, _v1_info(sb, found)))
    if kind == "refresh-tokens" and request.method in ("GET", "DELETE"):
        if not isinstance(found, RefreshGrant) or found.revoked:
            raise OAuthError("invalid_grant", "missing or unknown refresh token", "BAD_REFRESH_TOKEN", 404)
        if request.method == "DELETE":
            _revoke_value(sb, value)
            return Response("", status=204)
        return json_response(checked(V1TokenInfo, _v1_info(sb, found)))
    raise OAuthError("invalid_request", f"{request.method} {path} does not exist", "NOT_FOUND", 404)
