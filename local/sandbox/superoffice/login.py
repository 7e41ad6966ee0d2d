"""The login host (`https://sod.superoffice.com`): SuperID OIDC, Tenant Status API, and the sandbox admin API.

Token endpoint errors follow RFC 6749 §5.2 (`invalid_request`, `invalid_client`, `invalid_grant`,
`unsupported_grant_type`). Access tokens are opaque `8A:{ctx}.{random}`; id_tokens are RS256 JWTs with the claims of
SOD `validate-security-tokens.mdx` (string values, numeric `nbf`/`exp`, `iat` as a string).
"""

from __future__ import annotations

import base64
import hmac
import html
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import SandboxHttpApp, json_response
from local.sandbox.common.oauth_http import (
    authorize_params,
    basic_credentials,
    carried_params,
    error_page,
    hidden_inputs,
    pkce_s256,
    redirect_with,
)
from local.sandbox.superoffice.admin_http import handle_admin
from local.sandbox.superoffice.http_errors import fault_response, misdirected
from local.sandbox.superoffice.model import AccessToken, AuthCode, OAuthApp, RefreshToken, User
from local.sandbox.superoffice.state import TENANT_STATES, USABLE_STATES, SuperOfficeState

CLAIM = "http://schemes.superoffice.net/identity/"
_TENANT_PATH = re.compile(r"^/(Cust\d+)(/.*)?$", re.IGNORECASE)


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # token endpoint answers are never cached


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    headers = dict(_NO_STORE)
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="SuperId"'
    return json_response({"error": error, "error_description": description}, status, headers)


def issue_token_response(
    sandbox: SuperOfficeState, app: OAuthApp, user: User, *, nonce: str | None, with_refresh: bool,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    """Mint an access token (+ refresh token on code exchange) and an id_token. Caller holds the sandbox lock."""
    now = int(time.time())
    access = f"8A:{user.ctx}.{base64.b64encode(secrets.token_bytes(48)).decode('ascii')}"
    if with_refresh:
        refresh_token = secrets.token_urlsafe(48)
        sandbox.refresh_tokens[refresh_token] = RefreshToken(refresh_token, app.client_id, user.ctx, user.associate_id)
    sandbox.access_tokens[access] = AccessToken(
        access, app.client_id, user.ctx, user.associate_id, now + sandbox.access_token_ttl, refresh_token
    )
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": sandbox.access_token_ttl,
        "id_token": sandbox.signing_key.sign(id_token_claims(sandbox, app, user, now, nonce)),
    }
    if with_refresh:
        body["refresh_token"] = refresh_token
    return body


def id_token_claims(
    sandbox: SuperOfficeState, app: OAuthApp, user: User, now: int, nonce: str | None
) -> dict[str, Any]:
    customer = sandbox.customers[user.ctx]
    base = sandbox.api_base(user.ctx)
    claims: dict[str, Any] = {
        "sub": user.email,
        CLAIM + "associateid": str(user.associate_id),
        CLAIM + "identityprovider": "central-superid",
        CLAIM + "email": user.email,
        CLAIM + "upn": user.email,
        CLAIM + "is_administrator": "True" if user.is_admin else "False",
        CLAIM + "ctx": user.ctx,
        CLAIM + "company_name": customer.company_name,
        CLAIM + "serial": customer.serial,
        CLAIM + "netserver_url": f"{base}/Remote/Services88/",
        CLAIM + "webapi_url": f"{base}/api/",
        CLAIM + "system_token": f"{app.name} Sandbox-{secrets.token_urlsafe(8)}",
        "iat": str(now),
        CLAIM + "initials": user.initials,
        CLAIM + "so_primary_email_address": user.email,
        "nbf": now - 60,
        "exp": now + sandbox.id_token_ttl,
        "iss": sandbox.issuer,
        "aud": app.client_id,
    }
    if nonce:
        claims["nonce"] = nonce
    return claims


class LoginApp(SandboxHttpApp):
    def __init__(self, sandbox: SuperOfficeState) -> None:
        self.sb = sandbox

    def failure_response(self, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return json_response({"error": exc.name, "error_description": exc.description}, exc.code or 500)
        return json_response({"error": "server_error", "error_description": repr(exc)}, 500)  # a sandbox bug

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/__admin"):
            return handle_admin(self.sb, request)
        self.sb.calls.hit("login", f"{request.method} {path}")
        faulted = fault_response(self.sb.faults, request, (path,), None)
        if faulted is not None:
            return faulted
        tenant = _TENANT_PATH.match(path)
        if tenant and tenant.group(1) in self.sb.customers:
            self.sb.calls.hit(tenant.group(1), f"{request.method} {tenant.group(2) or '/'}")
            return misdirected(tenant.group(1))
        routes = {
            ("GET", "/login/.well-known/openid-configuration"): self.metadata,
            ("GET", "/login/.well-known/jwks"): self.jwks,
            ("GET", "/login/common/oauth/authorize"): self.authorize,
            ("POST", "/login/common/oauth/authorize"): self.authorize,
            ("POST", "/login/common/oauth/tokens"): self.tokens,
            ("POST", "/login/common/oauth/revoke"): self.revoke,
            ("GET", "/login/common/oauth/logout"): self.end_session,
        }
        handler = routes.get((request.method, path))
        if handler is not None:
            return handler(request)
        if request.method == "GET" and path.lower().startswith("/api/state/"):
            return self.tenant_status(path.split("/")[-1])
        return json_response({"error": "not_found", "error_description": f"{request.method} {path}"}, 404)

    # --- discovery ----------------------------------------------------------------------------------------------

    def metadata(self, request: Request) -> Response:
        base = self.sb.login_base
        return json_response({
            "issuer": self.sb.issuer,
            "authorization_endpoint": f"{base}/login/common/oauth/authorize",
            "token_endpoint": f"{base}/login/common/oauth/tokens",
            "jwks_uri": f"{base}/login/.well-known/jwks",
            "revocation_endpoint": f"{base}/login/common/oauth/revoke",
            "end_session_endpoint": f"{base}/login/common/oauth/logout",
            "scopes_supported": ["openid"],
            "response_modes_supported": ["form_post", "fragment", "query"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["implicit", "authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["plain", "S256"],
        })

    def jwks(self, request: Request) -> Response:
        return json_response(self.sb.signing_key.jwks())

    def tenant_status(self, ctx: str) -> Response:
        with self.sb.lock:
            customer = self.sb.customers.get(ctx)
            if customer is None:
                return json_response({"ContextIdentifier": ctx, "Endpoint": "", "State": "Unknown",
                                      "IsRunning": False, "ValidUntil": "0001-01-01T00:00:00", "Api": "",
                                      "Version": ""})
            base = self.sb.api_base(ctx)
            valid = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
            assert customer.state in TENANT_STATES
            return json_response({
                "ContextIdentifier": ctx,
                "Endpoint": base,
                "State": customer.state,
                "IsRunning": customer.state in USABLE_STATES,
                "ValidUntil": valid,
                "Api": f"{base}/api",
                "Version": "Release_11.10_2026.02.24-02",
            })

    # --- authorize ----------------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        params = authorize_params(request)
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        with self.sb.lock:
            app = self.sb.apps.get(client_id)
        if app is None:
            return error_page(400, "Unknown application", f"client_id {client_id!r} is not registered.")
        if redirect_uri not in app.redirect_uris:
            # Never redirect to an unregistered URI (SOD app-authorization code 2, InvalidRedirectUrl).
            return error_page(400, "Invalid redirect URL", f"redirect_uri {redirect_uri!r} is not registered.")
        state = params.get("state")
        response_mode = params.get("response_mode", "query")
        if "code" not in params.get("response_type", "").split():
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state}, response_mode)
        if "openid" not in params.get("scope", "").split():
            return _redirect(redirect_uri, {"error": "invalid_scope", "state": state}, response_mode)
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method") or "plain"
        if challenge is not None and method not in ("plain", "S256"):
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state,
                                            "error_description": "code_challenge_method must be S256 or plain"},
                             response_mode)
        tenant = None
        for value in params.get("acr_values", "").split():
            if value.startswith("tenant:"):
                tenant = value.split(":", 1)[1]
        login = params.get("sandbox_login")
        if login is None:
            return self._login_page(params, app, tenant)
        if params.get("sandbox_consent", "allow") == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state}, response_mode)
        user = self.sb.find_user(login, tenant)
        if user is None:
            return error_page(400, "Unknown user", f"No SuperID user {login!r}" + (f" in {tenant}" if tenant else ""))
        code = secrets.token_urlsafe(32)
        with self.sb.lock:
            self.sb.codes[code] = AuthCode(
                code=code, client_id=app.client_id, redirect_uri=redirect_uri, ctx=user.ctx,
                associate_id=user.associate_id, code_challenge=challenge, code_challenge_method=method,
                nonce=params.get("nonce"), expires_at=time.time() + self.sb.code_ttl,
            )
        return _redirect(redirect_uri, {"code": code, "state": state}, response_mode)

    def _login_page(self, params: dict[str, str], app: OAuthApp, tenant: str | None) -> Response:
        with self.sb.lock:
            users = [u for c in self.sb.customers.values() for u in c.users.values() if not tenant or u.ctx == tenant]
        hidden = carried_params(params)
        options = "".join(
            f'<option value="{html.escape(u.email)}">{html.escape(u.email)} ({html.escape(u.ctx)})</option>'
            for u in users
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>SuperOffice sandbox - sign in</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>SuperOffice sandbox</h1>
<p><b>{html.escape(app.name)}</b> wants to access your SuperOffice data.</p>
<form method="post" action="/login/common/oauth/authorize">{hidden}
<label>Sign in as <select name="sandbox_login">{options}</select></label>
<p><button name="sandbox_consent" value="allow">Allow</button>
<button name="sandbox_consent" value="deny">Deny</button></p></form></body></html>"""
        return Response(page, mimetype="text/html")

    # --- tokens -------------------------------------------------------------------------------------------------

    def tokens(self, request: Request) -> Response:
        params = dict(request.args.items())
        params.update(request.form.items())  # docs send query parameters, clients a form body: accept both
        client_id = params.get("client_id")
        client_secret = params.get("client_secret")
        try:
            basic = basic_credentials(request)
        except ValueError:
            return oauth_error("invalid_client", "malformed Basic credentials", 401)
        if basic is not None:
            client_id, client_secret = basic
        grant_type = params.get("grant_type")
        if not grant_type:
            return oauth_error("invalid_request", "grant_type is required")
        if not client_id:
            return oauth_error("invalid_request", "client_id is required")
        with self.sb.lock:
            app = self.sb.apps.get(client_id)
        if app is None or not client_secret or not hmac.compare_digest(app.client_secret, client_secret):
            why = "client_secret is required (even with PKCE)" if app and not client_secret else "unknown client"
            return oauth_error("invalid_client", why if app is None or not client_secret else "wrong client_secret",
                               401)
        if grant_type == "authorization_code":
            return self._code_grant(app, params)
        if grant_type == "refresh_token":
            return self._refresh_grant(app, params)
        return oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _code_grant(self, app: OAuthApp, params: dict[str, str]) -> Response:
        code_value = params.get("code")
        if not code_value:
            return oauth_error("invalid_request", "code is required")
        with self.sb.lock:
            code = self.sb.codes.get(code_value)
            if code is None or code.client_id != app.client_id:
                return oauth_error("invalid_grant", "unknown authorization code")
            if code.used:
                # RFC 6749 §4.1.2: a reused code revokes what it issued.
                for token in code.issued_access:
                    self.sb.access_tokens[token].revoked = True
                for token in code.issued_refresh:
                    self.sb.refresh_tokens[token].revoked = True
                return oauth_error("invalid_grant", "authorization code already used")
            code.used = True
            if time.time() > code.expires_at:
                return oauth_error("invalid_grant", "authorization code expired")
            if params.get("redirect_uri") != code.redirect_uri:
                return oauth_error("invalid_grant", "redirect_uri does not match the authorize request")
            if code.code_challenge is not None:
                verifier = params.get("code_verifier")
                if not verifier:
                    return oauth_error("invalid_grant", "code_verifier is required (PKCE)")
                expected = pkce_s256(verifier) if code.code_challenge_method == "S256" else verifier
                if not hmac.compare_digest(expected, code.code_challenge):
                    return oauth_error("invalid_grant", "code_verifier does not match code_challenge")
            user = self._grant_user(code.ctx, code.associate_id)
            if user is None:
                return oauth_error("invalid_grant", "user no longer exists")
            body = issue_token_response(self.sb, app, user, nonce=code.nonce, with_refresh=True)
            code.issued_access.append(body["access_token"])
            code.issued_refresh.append(body["refresh_token"])
        return json_response(body, headers=_NO_STORE)

    def _refresh_grant(self, app: OAuthApp, params: dict[str, str]) -> Response:
        value = params.get("refresh_token")
        if not value:
            return oauth_error("invalid_request", "refresh_token is required")
        with self.sb.lock:
            token = self.sb.refresh_tokens.get(value)
            if token is None or token.client_id != app.client_id:
                return oauth_error("invalid_grant", "unknown refresh token")
            if token.revoked:
                return oauth_error("invalid_grant", "consent revoked; the user must sign in again")
            user = self._grant_user(token.ctx, token.associate_id)
            if user is None:
                return oauth_error("invalid_grant", "user no longer exists")
            body = issue_token_response(self.sb, app, user, nonce=None, with_refresh=False, refresh_token=value)
        return json_response(body, headers=_NO_STORE)

    def _grant_user(self, ctx: str, associate_id: int) -> User | None:
        """The user a code or refresh token was issued to, while they still exist. Caller holds the lock."""
        customer = self.sb.customers.get(ctx)
        return customer.users.get(associate_id) if customer else None

    def revoke(self, request: Request) -> Response:
        """RFC 7009: always 200 for a known client; revoking a refresh token also ends its access tokens."""
        params = dict(request.args.items())
        params.update(request.form.items())
        token_value = params.get("token", "")
        with self.sb.lock:
            refresh = self.sb.refresh_tokens.get(token_value)
            if refresh is not None:
                refresh.revoked = True
                for access in self.sb.access_tokens.values():
                    if access.refresh_token == token_value:
                        access.revoked = True
            access_token = self.sb.access_tokens.get(token_value)
            if access_token is not None:
                access_token.revoked = True
        return Response("", status=200)

    def end_session(self, request: Request) -> Response:
        target = request.args.get("post_logout_redirect_uri")
        if target:
            return Response("", status=302, headers={"Location": target})
        return Response("<!doctype html><p>Signed out of the SuperOffice sandbox.</p>", mimetype="text/html")


def _redirect(redirect_uri: str, params: dict[str, str | None], response_mode: str) -> Response:
    if response_mode == "form_post":
        fields = hidden_inputs({k: v for k, v in params.items() if v is not None})
        page = (f'<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" '
                f'action="{html.escape(redirect_uri)}">{fields}</form></body></html>')
        return Response(page, mimetype="text/html")
    return redirect_with(redirect_uri, params, fragment=response_mode == "fragment")
