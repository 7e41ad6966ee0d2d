"""Connecting a tenant to a CRM account with OAuth: start the authorization (return URL checked against the allow
list), bound to the admin's browser, and the callback that exchanges the code, stores the grant and the connection,
and registers the webhook.

The callback is public: its proof is the `state`, a single-use server-side item bound to tenant, user, CRM,
return URL, PKCE verifier and nonce, and bound to one browser: the authenticated authorize call itself sets a cookie
scoped to the callback path and stores its hash on the state. The app makes that call from leadbridge's connect page
(a page on the API's own origin that receives the admin's token from the app window by `postMessage`), so the cookie
is first-party and only the authenticated admin's browser ever gets a sign-in URL with a bound state. A callback
arriving in a browser without that cookie is refused with `state_mismatch` before the code is exchanged (login CSRF,
a sign-in URL that leaked or was handed to someone else). Optionally the CRM user's e-mail must equal the app user's
(`require_same_email`). See docs/connections.md.

Because the CRM login decides which CRM account is used, a conflict with an already connected *other* account can only
be detected in the callback (the authorize call answers normally).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from leadbridge.connect.log_entries import log_connection_event
from leadbridge.connect.ports import ConnectionServices, require_supported
from leadbridge.connect.webhook_registration import register_webhook
from leadbridge.errors import Conflict, CrmError, InvalidInput, StoreUnavailable
from leadbridge.models.connection import (
    STATE_LIFETIME,
    AuthorizeResponse,
    Connection,
    ConnectionStatus,
    OAuthState,
    WebhookStatus,
)
from leadbridge.models.crm import Grant
from leadbridge.models.synclog import Action, Outcome
from leadbridge.observability import logger
from leadbridge.store.secret_names import grant_secret_name

# --- return URL allow-list -------------------------------------------------------------------------------------------


def return_url_allowed(url: str, allow_list: list[str]) -> bool:
    """True when `url` starts with an allowed entry: same scheme and host (and port), and a path equal to or below the
    allowed path at a `/` boundary. `https://app.example.com/settings` admits `/settings` and `/settings/crm`, not
    `/settings-evil` or `https://app.example.com.evil.net/`."""
    if any(c in url for c in "\\\r\n\t ") or not url.isprintable():
        return False
    try:
        candidate = urlsplit(url)
        host, port = candidate.hostname, candidate.port
    except ValueError:
        return False
    if candidate.scheme not in ("http", "https") or not host or candidate.username or candidate.password:
        return False
    for entry in allow_list:
        try:
            allowed = urlsplit(entry)
            allowed_port = allowed.port
        except ValueError:
            continue
        if (allowed.scheme, allowed.hostname, allowed_port) != (candidate.scheme, host, port):
            continue
        base = allowed.path.rstrip("/")
        path = candidate.path or "/"
        if not base or path == base or path.startswith(base + "/"):
            return True
    return False


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` added to its query (kept before any fragment)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- authorize: the admin's call, which also binds the attempt to the admin's browser --------------------------------


def browser_cookie_name(state: str) -> str:
    """One cookie per authorization attempt, so two tabs connecting at once do not overwrite each other's."""
    return "lb_oauth_" + hashlib.sha256(state.encode()).hexdigest()[:16]


def _binding_of(browser_key: str) -> str:
    return hashlib.sha256(browser_key.encode()).hexdigest()


@dataclass(frozen=True)
class BrowserCookie:
    name: str
    value: str
    path: str  # the callback path only: the cookie goes nowhere else
    max_age: int
    secure: bool  # False only for a plain-http local gateway


@dataclass(frozen=True)
class AuthorizationStarted:
    """The CRM sign-in URL for the admin's browser, and the cookie that binds the attempt to that browser."""

    authorization_url: str
    expires_at: datetime
    cookie: BrowserCookie

    def response(self) -> AuthorizeResponse:
        return AuthorizeResponse(authorization_url=self.authorization_url, expires_at=self.expires_at)


def start_authorization(
    svc: ConnectionServices,
    *,
    tenant_id: str,
    user_id: str,
    crm: str,
    return_url: str,
    user_email: str | None = None,
    require_same_email: bool = False,
) -> AuthorizationStarted:
    """Start an authorization for an authenticated admin: the state (PKCE verifier, nonce, return URL) stays
    server-side, bound to the browser that receives the returned cookie. That is the browser making this call: the
    connect page (`connect_page`) makes it from leadbridge's own origin with the admin's token, so the cookie is a
    first-party one and no unauthenticated link ever leads to the CRM sign-in."""
    require_supported(svc, crm)
    if not return_url_allowed(return_url, svc.allowed_return_urls):
        raise InvalidInput(
            "return_url is not on the allow-list of return URLs (ALLOWED_RETURN_URLS)",
            errors=[
                {
                    "loc": ["body", "return_url"],
                    "type": "return_url_not_allowed",
                    "message": "must start with one of the configured allowed return URLs",
                }
            ],
        )
    if require_same_email and not user_email:
        raise InvalidInput(
            "require_same_email needs the user's e-mail, and the token carries no email claim",
            errors=[
                {
                    "loc": ["body", "require_same_email"],
                    "type": "email_claim_missing",
                    "message": "the token has no email claim to compare the CRM user's e-mail with",
                }
            ],
        )
    now = svc.clock()
    state = secrets.token_urlsafe(32)  # 256 bits
    browser_key = secrets.token_urlsafe(32)
    request = svc.providers(crm).oauth().authorization_request(redirect_uri=svc.redirect_uri(crm), state=state)
    if request.state != state:
        raise CrmError("The CRM connector did not use the state it was given")
    svc.store.save_state(
        OAuthState(
            state=state,
            tenant_id=tenant_id,
            user_id=user_id,
            crm=crm,
            return_url=return_url,
            code_verifier=request.code_verifier,
            nonce=request.nonce,
            created_at=now,
            expires_at=now + STATE_LIFETIME,
            browser_binding=_binding_of(browser_key),
            required_email=user_email if require_same_email else None,
        )
    )
    logger.info("authorization started", extra={"tenant_id": tenant_id, "crm": crm})
    cookie = BrowserCookie(
        name=browser_cookie_name(state),
        value=browser_key,
        path=urlsplit(svc.redirect_uri(crm)).path,
        max_age=int(STATE_LIFETIME.total_seconds()),
        secure=svc.public_api_url.startswith("https://"),
    )
    return AuthorizationStarted(authorization_url=request.url, expires_at=now + STATE_LIFETIME, cookie=cookie)


@dataclass(frozen=True)
class ConnectPageTarget:
    """Whom the connect page talks to: the app window on the return URL's origin."""

    crm: str
    return_url: str
    app_origin: str


def connect_page_target(svc: ConnectionServices, *, crm: str, return_url: str | None) -> ConnectPageTarget | None:
    """The connect page's partners, or None (an error page) for an unsupported CRM or a return URL off the list:
    the page accepts a token only from the origin of an allowed return URL."""
    if crm not in svc.supported_crms() or not return_url:
        return None
    if not return_url_allowed(return_url, svc.allowed_return_urls):
        return None
    parts = urlsplit(return_url)
    return ConnectPageTarget(
        crm=crm,
        return_url=return_url,
        app_origin=f"{parts.scheme}://{parts.netloc}",
    )


def _same_browser(state: OAuthState, browser_key: str | None) -> bool:
    if state.browser_binding is None or not browser_key:
        return False
    return hmac.compare_digest(_binding_of(browser_key), state.browser_binding)


def _same_email(required: str, crm_email: str | None) -> bool:
    # Addresses compare without case: mail systems (and both CRMs' user records) treat them so.
    return crm_email is not None and crm_email.strip().casefold() == required.strip().casefold()


# --- callback --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackParams:
    state: str | None = None
    code: str | None = None
    error: str | None = None
    error_description: str | None = None
    browser_key: str | None = None  # the value of the state's browser cookie, when the browser sent it


@dataclass(frozen=True)
class CallbackResult:
    """Either a redirect to the tenant's return URL, or (no trustworthy return URL) an error page."""

    redirect_url: str | None = None
    status: int = 302
    error: str | None = None
    message: str = ""


class CallbackError:
    """Error codes the browser gets on the return URL (`?status=error&error=<code>`)."""

    DENIED = "denied"  # the user declined consent at the CRM
    EXPIRED_STATE = "expired_state"  # took longer than 10 minutes
    INVALID_STATE = "invalid_state"  # unknown, used, forged, or for another CRM
    STATE_MISMATCH = "state_mismatch"  # the sign-in came back in a browser that did not start it
    WRONG_ACCOUNT = "wrong_account"  # re-authorizing a needs_reauth connection with another CRM account
    ALREADY_CONNECTED_OTHER_ACCOUNT = "already_connected_other_account"
    EMAIL_MISMATCH = "email_mismatch"  # require_same_email: the CRM user's e-mail is not the app user's (or unknown)
    CRM_ERROR = "crm_error"  # the CRM refused the code (PKCE mismatch, expired code) or failed
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"  # our own storage failed; try again
    SERVER_ERROR = "server_error"  # unexpected failure (e.g. the CRM app's client secret is not configured)


def complete_authorization(svc: ConnectionServices, *, crm: str, params: CallbackParams) -> CallbackResult:
    """Handle the CRM's redirect back. Never raises for bad input: the browser always gets a redirect or a page."""
    if not params.state:
        return _page(400, CallbackError.INVALID_STATE, "The sign-in response carries no state.")
    try:
        state = svc.store.take_state(params.state)
    except (StoreUnavailable, InvalidInput):
        state = None
    if state is None:
        return _page(
            400,
            CallbackError.INVALID_STATE,
            "This sign-in link is unknown or was already used. Start the connection again from the app.",
        )
    if state.expired(svc.clock()):
        return _back(state, CallbackError.EXPIRED_STATE)
    if state.crm != crm:
        return _back(state, CallbackError.INVALID_STATE)
    if not _same_browser(state, params.browser_key):
        # Checked before the code is exchanged: a code that came back in another browser is never redeemed.
        logger.warning("callback in a browser that did not start the sign-in", extra={"tenant_id": state.tenant_id})
        log_connection_event(
            svc,
            state.tenant_id,
            crm,
            Action.CONNECT,
            Outcome.FAILED,
            CallbackError.STATE_MISMATCH,
            "the sign-in came back in a browser that did not start it",
        )
        return _back(state, CallbackError.STATE_MISMATCH)
    if params.error:
        code = CallbackError.DENIED if params.error == "access_denied" else CallbackError.CRM_ERROR
        log_connection_event(
            svc, state.tenant_id, crm, Action.CONNECT, Outcome.FAILED, code, f"CRM answered {params.error}"
        )
        return _back(state, code)
    if not params.code:
        return _back(state, CallbackError.CRM_ERROR)
    try:
        return _connect(svc, state, params.code)
    except StoreUnavailable as exc:
        logger.warning("connect failed: store unavailable", extra={"tenant_id": state.tenant_id, "crm": crm})
        log_connection_event(svc, state.tenant_id, crm, Action.CONNECT, Outcome.FAILED, exc.code, exc.message)
        return _back(state, CallbackError.TEMPORARILY_UNAVAILABLE)
    except Exception as exc:
        # A misconfiguration or a bug: the browser still goes back to the app (not a JSON 500 page); the trace is in
        # the log under the correlation id.
        logger.exception("connect failed unexpectedly", extra={"tenant_id": state.tenant_id, "crm": crm})
        log_connection_event(
            svc, state.tenant_id, crm, Action.CONNECT, Outcome.FAILED, "internal_error", type(exc).__name__
        )
        return _back(state, CallbackError.SERVER_ERROR)


def _connect(svc: ConnectionServices, state: OAuthState, code: str) -> CallbackResult:
    crm, tenant = state.crm, state.tenant_id
    oauth = svc.providers(crm).oauth()
    try:
        grant = oauth.exchange_code(
            code=code, code_verifier=state.code_verifier, redirect_uri=svc.redirect_uri(crm), nonce=state.nonce
        )
    except CrmError as exc:
        logger.info("code exchange refused", extra={"tenant_id": tenant, "crm": crm, "error_code": exc.code})
        log_connection_event(svc, tenant, crm, Action.CONNECT, Outcome.FAILED, exc.code, exc.message)
        return _back(state, CallbackError.CRM_ERROR)

    if state.required_email is not None and not _same_email(state.required_email, grant.user_email):
        return _refuse_other_email(svc, state, grant)

    existing = svc.store.get(tenant, crm)
    if existing is not None and existing.is_active and existing.account_id != grant.account_id:
        return _refuse_other_account(svc, state, existing, grant)

    now = svc.clock()
    same = existing if existing is not None and existing.account_id == grant.account_id else None
    secret_name = grant_secret_name(svc.secret_prefix, tenant, crm)
    connection = Connection(
        tenant_id=tenant,
        crm=crm,
        status=ConnectionStatus.CONNECTED,
        account_id=grant.account_id,
        # Best effort at the CRM: a name it could not tell this time does not blank the one it told before.
        account_name=grant.account_name or (same.account_name if same else None),
        api_base=grant.api_base,
        secret_name=secret_name,
        connected_by=state.user_id,
        connected_at=now,
        first_connected_at=same.connected_since if same else now,
        crm_user_id=grant.user_id,
        crm_user_email=grant.user_email,
        last_success_at=same.last_success_at if same else None,
        # The same account keeps its key, so a webhook URL an admin entered in the CRM by hand (Salesforce Outbound
        # Messages) keeps working after a disconnect and reconnect; another account gets a new one.
        connection_key=same.connection_key if same else secrets.token_urlsafe(24),
        next_run_at=same.next_run_at if same else None,
        updated_at=now,
    )
    if same is not None and same.is_active:
        # A re-authorization keeps the webhook registration as it is, manual set-up steps included (shown to admins
        # while the CRM's webhook is set up by hand); after a disconnect it is registered again below.
        connection = connection.model_copy(update=_registration(same))
    try:
        # The record first, conditionally: of two concurrent connects with different accounts only one gets here,
        # so the secret below can never end up holding the loser's tokens.
        svc.store.save(connection, only_if_account=grant.account_id)
    except Conflict:
        current = svc.store.get(tenant, crm) or connection
        return _refuse_other_account(svc, state, current, grant)
    svc.vault.store_grant(secret_name, grant, new_connection=True)

    if connection.webhook_status is not WebhookStatus.REGISTERED:
        connection = register_webhook(svc, connection)
        svc.store.save(connection, only_if_account=grant.account_id)

    logger.info(
        "connected",
        extra={"tenant_id": tenant, "crm": crm, "account_id": grant.account_id, "reconnect": same is not None},
    )
    log_connection_event(svc, tenant, crm, Action.CONNECT, Outcome.SUCCESS, crm_id=grant.account_id)
    return CallbackResult(redirect_url=with_query(state.return_url, {"status": "connected", "crm": crm}))


def _registration(connection: Connection) -> dict[str, Any]:
    """The webhook registration fields of `connection`, to carry over to its re-authorized record."""
    return connection.model_dump(
        include={"webhook_id", "webhook_status", "webhook_error", "webhook_secret_name", "webhook_state",
                 "webhook_setup_steps", "webhook_events"}
    )  # fmt: skip


def _refuse_other_account(
    svc: ConnectionServices, state: OAuthState, existing: Connection, grant: Grant
) -> CallbackResult:
    """Keep the connected account; give back the tokens we will not use."""
    with contextlib.suppress(CrmError):  # nothing stored either way; the CRM expires an unrevoked grant
        svc.providers(state.crm).oauth().revoke(grant)
    code = (
        CallbackError.ALREADY_CONNECTED_OTHER_ACCOUNT
        if existing.status is ConnectionStatus.CONNECTED
        else CallbackError.WRONG_ACCOUNT
    )
    message = (
        f"{state.crm} account {existing.account_id} is connected; the login used {grant.account_id}. "
        "Disconnect first to switch accounts, or sign in to the connected account."
    )
    log_connection_event(
        svc, state.tenant_id, state.crm, Action.CONNECT, Outcome.FAILED, code, message, crm_id=grant.account_id
    )
    return _back(state, code, connected_account=existing.account_id)


def _refuse_other_email(svc: ConnectionServices, state: OAuthState, grant: Grant) -> CallbackResult:
    """The tenant asked for the same e-mail in both systems: nothing is stored, the tokens are given back."""
    with contextlib.suppress(CrmError):
        svc.providers(state.crm).oauth().revoke(grant)
    message = (
        f"the {state.crm} user's e-mail ({grant.user_email or 'not told by the CRM'}) is not the app user's; "
        "sign in to the CRM with the same e-mail as in the app"
    )
    logger.info("connect refused: CRM user e-mail differs", extra={"tenant_id": state.tenant_id, "crm": state.crm})
    log_connection_event(
        svc,
        state.tenant_id,
        state.crm,
        Action.CONNECT,
        Outcome.FAILED,
        CallbackError.EMAIL_MISMATCH,
        message,
        crm_id=grant.account_id,
    )
    return _back(state, CallbackError.EMAIL_MISMATCH)


def _back(state: OAuthState, error: str, **extra: str) -> CallbackResult:
    params = {"status": "error", "error": error, "crm": state.crm, **extra}
    return CallbackResult(redirect_url=with_query(state.return_url, params), error=error)


def _page(status: int, error: str, message: str) -> CallbackResult:
    return CallbackResult(status=status, error=error, message=message)
