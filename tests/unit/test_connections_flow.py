"""The connection flows (leadbridge.connect) over in-memory fakes of their ports.

The fake CRM keeps PKCE honest: a code can only be exchanged with the verifier of the authorization that produced it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from leadbridge import connect as flow
from leadbridge.crm.base import AuthorizationRequest, ConnectionContext, TokenSource
from leadbridge.crm.profile import CrmProfile
from leadbridge.errors import Conflict, CrmUnavailable, InvalidInput, NeedsReauth, NotFound
from leadbridge.models.connection import Connection, ConnectionStatus, OAuthState, WebhookStatus
from leadbridge.models.crm import Grant, WebhookRegistration
from leadbridge.models.synclog import Action, Outcome, SyncLogEntry
from leadbridge.store.events import AppEvent
from leadbridge.store.vault import TokenVault

RETURN = "https://app.example.com/settings/crm"


# --- fakes of the ports ----------------------------------------------------------------------------------------------


class FakeCrm:
    """OAuthFlow + connector of a CRM with accounts; logins produce codes bound to the PKCE challenge."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, str]] = {}  # state -> (challenge, redirect_uri)
        self.codes: dict[str, tuple[str, str, str]] = {}  # code -> (challenge, redirect_uri, account)
        self.refreshes = 0
        self.revoked: list[str] = []
        self.webhooks: dict[str, str] = {}
        self.webhook_failure: Exception | None = None
        self.fail_exchange: Exception | None = None
        self.manual_webhooks = False  # like Salesforce Outbound Messages: an admin sets them up (and removes them)
        self.account_names: dict[str, str | None] = {}  # the name the CRM tells at sign-in, by account
        self.user_emails: dict[str, str | None] = {}  # the signed-in user's e-mail, by account

    # OAuthFlow
    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        assert state is not None
        verifier = secrets.token_urlsafe(48)
        self.pending[state] = (_challenge(verifier), redirect_uri)
        return AuthorizationRequest(
            url=f"https://crm.example/authorize?state={state}", state=state, code_verifier=verifier, nonce="n1"
        )

    def login(self, authorization_url: str, account: str = "Cust1") -> str:
        state = parse_qs(urlsplit(authorization_url).query)["state"][0]
        challenge, redirect_uri = self.pending[state]
        code = secrets.token_urlsafe(16)
        self.codes[code] = (challenge, redirect_uri, account)
        return code

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        if self.fail_exchange:
            raise self.fail_exchange
        entry = self.codes.pop(code, None)
        if entry is None or entry[0] != _challenge(code_verifier) or entry[1] != redirect_uri:
            raise NeedsReauth("invalid_grant: PKCE verification failed")
        account = entry[2]
        return Grant(
            access_token=f"at-{secrets.token_hex(8)}",
            refresh_token=f"rt-{secrets.token_hex(8)}",
            expires_at=datetime.now(UTC).timestamp() + 3600,
            account_id=account,
            account_name=self.account_names.get(account, f"{account} AS"),
            api_base=f"https://crm.example/{account}/api",
            user_email=self.user_emails.get(account, "admin@example.com"),
        )

    def refresh(self, grant: Grant) -> Grant:
        self.refreshes += 1
        return grant.model_copy(update={"access_token": f"at-{secrets.token_hex(8)}"})

    def revoke(self, grant: Grant) -> None:
        self.revoked.append(grant.account_id)

    # CrmProvider
    name = "fakecrm"
    label = "Fake CRM"
    profile = CrmProfile(
        label="Fake CRM", objects={}, owner_field=None, stage_field=None, status_field=None,
        manual_webhook_removal=("Remove the notification to {target_url} for {objects}.", "Or keep it."),
    )  # fmt: skip

    def oauth(self) -> FakeCrm:
        return self

    def connector(self, context: ConnectionContext, tokens: TokenSource) -> FakeConnector:
        return FakeConnector(self, tokens)


class FakeConnector:
    crm = "fakecrm"

    def __init__(self, crm: FakeCrm, tokens: TokenSource) -> None:
        self._crm = crm
        self._tokens = tokens

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        self._tokens.access_token()  # a real connector needs a token for this
        if self._crm.webhook_failure:
            raise self._crm.webhook_failure
        if self._crm.manual_webhooks:
            steps = [f"Enter {url} in the CRM."]
            return WebhookRegistration(id="manual", url=url, events=["Account", "Contact"], active=False,
                                       state="ManualSetupRequired", setup_steps=steps)  # fmt: skip
        webhook_id = f"wh{len(self._crm.webhooks) + 1}"
        self._crm.webhooks[webhook_id] = url
        return WebhookRegistration(id=webhook_id, url=url)

    def unregister_webhook(self, webhook_id: str) -> None:
        assert not self._crm.manual_webhooks, "a manual webhook cannot be removed through the API"
        self._tokens.access_token()
        del self._crm.webhooks[webhook_id]


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class MemoryConnections:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Connection] = {}
        self.states: dict[str, OAuthState] = {}
        self.browser_keys: dict[str, str] = {}  # state -> the cookie value the admin's browser holds

    def get(self, tenant_id: str, crm: str) -> Connection | None:
        return self.items.get((tenant_id, crm))

    def list(self, tenant_id: str) -> list[Connection]:
        return [c for (t, _), c in self.items.items() if t == tenant_id]

    def save(self, connection: Connection, *, only_if_account: str | None = None) -> None:
        current = self.items.get((connection.tenant_id, connection.crm))
        if (
            only_if_account is not None
            and current is not None
            and current.account_id != only_if_account
            and current.status is not ConnectionStatus.DISCONNECTED
        ):
            raise Conflict("other account")
        self.items[(connection.tenant_id, connection.crm)] = connection

    def transition(
        self,
        tenant_id: str,
        crm: str,
        *,
        expected: ConnectionStatus,
        status: ConnectionStatus,
        set_values: dict[str, Any] | None = None,
    ) -> Connection | None:
        current = self.items.get((tenant_id, crm))
        if current is None or current.status is not expected:
            return None
        self.items[(tenant_id, crm)] = current.model_copy(update={"status": status, **(set_values or {})})
        return self.items[(tenant_id, crm)]

    def save_state(self, state: OAuthState) -> None:
        assert state.state not in self.states
        self.states[state.state] = state

    def get_state(self, state: str) -> OAuthState | None:
        return self.states.get(state)

    def take_state(self, state: str) -> OAuthState | None:
        return self.states.pop(state, None)


class MemorySecrets:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, int] = {}

    def get_json(self, name: str) -> dict[str, Any]:
        from leadbridge.errors import ConnectionMissing

        if name not in self.values:
            raise ConnectionMissing("missing")
        return dict(self.values[name])

    def put_json(self, name: str, value: dict[str, Any], *, restore: bool = False) -> None:
        self.values[name] = dict(value)
        self.deleted.pop(name, None)

    def delete(self, name: str, *, recovery_days: int) -> None:
        self.values.pop(name, None)
        self.deleted[name] = recovery_days


class MemoryLeases:
    def __init__(self) -> None:
        self.holder: str | None = None

    def acquire(self, key: str, owner: str, seconds: float) -> bool:
        if self.holder is None:
            self.holder = owner
            return True
        return False

    def release(self, key: str, owner: str) -> None:
        if self.holder == owner:
            self.holder = None


class Published:
    def __init__(self) -> None:
        self.events: list[AppEvent] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)


class Log:
    def __init__(self) -> None:
        self.entries: list[SyncLogEntry] = []

    def write(self, entry: SyncLogEntry) -> None:
        self.entries.append(entry)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(crm: FakeCrm, clock: Clock) -> flow.ConnectionServices:
    secrets_store = MemorySecrets()
    vault = TokenVault(secrets_store, MemoryLeases(), lambda name: crm)
    return flow.ConnectionServices(
        store=MemoryConnections(),
        vault=vault,
        publisher=Published(),
        sync_log=Log(),
        providers=lambda name: crm,  # type: ignore[arg-type,return-value]
        supported_crms=lambda: ["fakecrm"],
        public_api_url="https://api.example.com/",
        secret_prefix="leadbridge/test/",
        allowed_return_urls=["https://app.example.com/settings", "http://127.0.0.1:3000/"],
        clock=clock,
    )


def _secrets(svc: flow.ConnectionServices) -> MemorySecrets:
    return svc.vault._secrets  # type: ignore[return-value]


def _start(svc: flow.ConnectionServices, **kwargs: Any) -> flow.AuthorizationStarted:
    """The admin's authorize call; the admin's browser keeps the cookie it sets."""
    started = flow.start_authorization(svc, **kwargs)
    state = _query(started.authorization_url)["state"]
    svc.store.browser_keys[state] = started.cookie.value  # type: ignore[attr-defined]
    return started


def _connect(svc: flow.ConnectionServices, crm: FakeCrm, tenant: str = "t1", account: str = "Cust1") -> str:
    started = _start(svc, tenant_id=tenant, user_id="u1", crm="fakecrm", return_url=RETURN)
    code = crm.login(started.authorization_url, account)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code=code))
    assert result.redirect_url is not None
    return result.redirect_url


def _from_browser(svc: flow.ConnectionServices, state: str | None, **params: Any) -> flow.CallbackParams:
    """The callback as the admin's browser makes it: with the cookie the authorize call set in it."""
    keys: dict[str, str] = svc.store.browser_keys  # type: ignore[attr-defined]
    return flow.CallbackParams(state=state, browser_key=keys.get(state or ""), **params)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- return URL allow-list -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.example.com/settings", True),
        ("https://app.example.com/settings/crm?tab=1#x", True),
        ("https://app.example.com/settings-evil", False),
        ("https://app.example.com/", False),
        ("http://app.example.com/settings", False),
        ("https://app.example.com.evil.net/settings", False),
        ("https://evil.net/settings", False),
        ("https://app.example.com:444/settings", False),
        ("https://user@app.example.com/settings", False),
        ("https://app.example.com\\@evil.net/settings", False),
        ("//evil.net/settings", False),
        ("javascript:alert(1)", False),
        ("http://127.0.0.1:3000/anything", True),
        ("http://127.0.0.1:3001/", False),
    ],
)
def test_return_url_allow_list(url: str, allowed: bool) -> None:
    allow = ["https://app.example.com/settings/", "http://127.0.0.1:3000/"]
    assert flow.return_url_allowed(url, allow) is allowed


# --- authorize -------------------------------------------------------------------------------------------------------


def test_authorize_stores_a_bound_single_use_state(svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock) -> None:
    started = flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)

    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    assert len(base64.urlsafe_b64decode(state + "==")) * 8 >= 128
    stored = svc.store.states[state]  # type: ignore[attr-defined]
    assert (stored.tenant_id, stored.user_id, stored.crm, stored.return_url) == ("t1", "u1", "fakecrm", RETURN)
    assert stored.code_verifier and stored.nonce == "n1"
    assert started.expires_at == clock.now + timedelta(minutes=10)
    assert crm.pending[state][1] == "https://api.example.com/oauth/fakecrm/callback"


def test_authorize_rejects_a_return_url_off_the_allow_list(svc: flow.ConnectionServices) -> None:
    with pytest.raises(InvalidInput) as caught:
        flow.start_authorization(
            svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url="https://evil.net/settings"
        )
    assert caught.value.errors[0]["loc"] == ["body", "return_url"]


def test_authorize_unknown_crm_is_not_found(svc: flow.ConnectionServices) -> None:
    with pytest.raises(NotFound):
        flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="nocrm", return_url=RETURN)


# --- browser binding (login CSRF) -----------------------------------------------------------------------------------


def test_authorize_binds_the_attempt_to_the_calling_browser(
    svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock
) -> None:
    started = flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)

    # The CRM's own sign-in URL goes only to the authenticated caller, with the cookie for its browser.
    state = _query(started.authorization_url)["state"]
    assert started.authorization_url == f"https://crm.example/authorize?state={state}"
    assert (started.cookie.name, started.cookie.path, started.cookie.max_age, started.cookie.secure) == (
        flow.browser_cookie_name(state),
        "/oauth/fakecrm/callback",
        10 * 60,
        True,
    )
    assert len(started.cookie.value) >= 43
    stored = svc.store.states[state]  # type: ignore[attr-defined]
    # Only a hash of the cookie is stored: reading the table does not give the cookie.
    assert stored.browser_binding == hashlib.sha256(started.cookie.value.encode()).hexdigest()
    assert started.response().model_dump() == {
        "authorization_url": started.authorization_url,
        "expires_at": clock.now + timedelta(minutes=10),
    }


def test_two_attempts_get_their_own_cookie(svc: flow.ConnectionServices) -> None:
    a = flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    b = flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    assert a.cookie.name != b.cookie.name and a.cookie.value != b.cookie.value


def test_the_connect_page_talks_only_to_the_return_urls_origin(svc: flow.ConnectionServices) -> None:
    target = flow.connect_page_target(svc, crm="fakecrm", return_url=RETURN)
    assert target is not None and target.app_origin == "https://app.example.com"
    page = flow.render_connect_page(target)

    assert '"app_origin": "https://app.example.com"' in page.body
    assert "frame-ancestors 'none'" in page.content_security_policy
    assert "connect-src 'self'" in page.content_security_policy
    # Nothing in the page is a credential: no state, no cookie, no CRM URL.
    assert "state" not in page.body.replace("replace", "") and "crm.example" not in page.body
    assert svc.store.states == {}  # type: ignore[attr-defined]
    for return_url in (None, "", "https://evil.net/settings", "https://app.example.com.evil.net/settings"):
        assert flow.connect_page_target(svc, crm="fakecrm", return_url=return_url) is None
    assert flow.connect_page_target(svc, crm="nocrm", return_url=RETURN) is None


def test_the_connect_page_config_cannot_close_its_script(svc: flow.ConnectionServices) -> None:
    target = flow.connect_page_target(svc, crm="fakecrm", return_url=RETURN + "?x=</script><script>alert(1)")
    assert target is not None
    body = flow.render_connect_page(target).body
    assert "</script><script>alert" not in body and "\\u003c/script>" in body


@pytest.mark.parametrize("cookie", ["none", "other-value"])
def test_a_callback_in_another_browser_is_refused_before_the_code_is_exchanged(
    svc: flow.ConnectionServices, crm: FakeCrm, cookie: str
) -> None:
    # The admin's authorize call bound the attempt to the admin's browser; the sign-in URL leaked to another one.
    started = flow.start_authorization(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = _query(started.authorization_url)["state"]
    code = crm.login(started.authorization_url)
    key = {"none": None, "other-value": secrets.token_urlsafe(32)}[cookie]

    result = flow.complete_authorization(
        svc, crm="fakecrm", params=flow.CallbackParams(state=state, code=code, browser_key=key)
    )

    assert result.redirect_url is not None
    assert _query(result.redirect_url) == {"status": "error", "error": "state_mismatch", "crm": "fakecrm"}
    assert code in crm.codes  # never redeemed
    assert svc.store.get("t1", "fakecrm") is None
    assert state not in svc.store.states  # type: ignore[attr-defined]  # used up: no second try with this state
    log = svc.sync_log.entries  # type: ignore[attr-defined]
    assert [(e.action, e.outcome, e.error.code if e.error else None) for e in log] == [
        (Action.CONNECT, Outcome.FAILED, "state_mismatch")
    ]


# --- callback --------------------------------------------------------------------------------------------------------


def test_full_connect_stores_grant_record_and_webhook(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    redirect = _connect(svc, crm)

    assert redirect.startswith(RETURN + "?")
    assert _query(redirect) == {"status": "connected", "crm": "fakecrm"}
    connection = svc.store.get("t1", "fakecrm")
    assert connection is not None
    assert connection.status is ConnectionStatus.CONNECTED
    assert (connection.account_id, connection.connected_by) == ("Cust1", "u1")
    assert connection.secret_name == "leadbridge/test/tenants/t1/fakecrm"
    assert _secrets(svc).values[connection.secret_name]["account_id"] == "Cust1"
    assert connection.webhook_status is WebhookStatus.REGISTERED
    assert crm.webhooks[connection.webhook_id or ""] == (
        f"https://api.example.com/webhooks/fakecrm/{connection.connection_key}"
    )
    assert "webhook_secret" in _secrets(svc).values[connection.webhook_secret_name or ""]
    assert "token" not in redirect
    log = svc.sync_log.entries  # type: ignore[attr-defined]
    assert [(e.action, e.outcome) for e in log] == [(Action.CONNECT, Outcome.SUCCESS)]


def test_replayed_state_is_rejected_without_redirect(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    started = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    code = crm.login(started.authorization_url)
    first = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code=code))
    assert first.redirect_url and _query(first.redirect_url)["status"] == "connected"

    again = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code=code))

    assert (again.redirect_url, again.status, again.error) == (None, 400, "invalid_state")


@pytest.mark.parametrize("state", [None, "", "forged-state-value"])
def test_missing_or_forged_state_gets_an_error_page(svc: flow.ConnectionServices, state: str | None) -> None:
    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code="c"))
    assert (result.redirect_url, result.status, result.error) == (None, 400, "invalid_state")
    assert svc.store.get("t1", "fakecrm") is None


def test_expired_state_redirects_with_expired_state(svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock) -> None:
    started = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    code = crm.login(started.authorization_url)
    clock.now += timedelta(minutes=10, seconds=1)

    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code=code))

    assert result.redirect_url and _query(result.redirect_url)["error"] == "expired_state"
    assert svc.store.get("t1", "fakecrm") is None


def test_state_of_another_tenant_cannot_complete_a_login(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    # Tenant t2's login code presented with tenant t1's state: the verifier of t1 does not match t2's challenge.
    a = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    b = _start(svc, tenant_id="t2", user_id="u2", crm="fakecrm", return_url=RETURN)
    code_b = crm.login(b.authorization_url, "Cust2")
    state_a = parse_qs(urlsplit(a.authorization_url).query)["state"][0]

    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state_a, code=code_b))

    assert result.redirect_url and _query(result.redirect_url)["error"] == "crm_error"
    assert svc.store.get("t1", "fakecrm") is None and svc.store.get("t2", "fakecrm") is None


def test_user_denied_consent(svc: flow.ConnectionServices) -> None:
    started = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]

    result = flow.complete_authorization(
        svc, crm="fakecrm", params=_from_browser(svc, state, error="access_denied")
    )

    assert result.redirect_url and _query(result.redirect_url)["error"] == "denied"


def test_crm_failure_during_exchange_is_crm_error(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.fail_exchange = CrmUnavailable("token endpoint down")
    started = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]

    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code="x"))

    assert result.redirect_url and _query(result.redirect_url)["error"] == "crm_error"


def test_other_account_while_connected_is_refused_and_revoked(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm, account="Cust1")
    before = dict(_secrets(svc).values["leadbridge/test/tenants/t1/fakecrm"])

    redirect = _connect(svc, crm, account="Cust2")

    assert _query(redirect)["error"] == "already_connected_other_account"
    assert _query(redirect)["connected_account"] == "Cust1"
    connection = svc.store.get("t1", "fakecrm")
    assert connection is not None and connection.account_id == "Cust1"
    assert _secrets(svc).values["leadbridge/test/tenants/t1/fakecrm"] == before
    assert crm.revoked == ["Cust2"]


def test_reconnecting_the_same_account_refreshes_credentials(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm)
    first = svc.store.get("t1", "fakecrm")
    assert first is not None
    old_token = _secrets(svc).values[first.secret_name]["access_token"]
    svc.store.transition("t1", "fakecrm", expected=ConnectionStatus.CONNECTED, status=ConnectionStatus.NEEDS_REAUTH)

    redirect = _connect(svc, crm)

    again = svc.store.get("t1", "fakecrm")
    assert _query(redirect)["status"] == "connected"
    assert again is not None and again.status is ConnectionStatus.CONNECTED
    assert _secrets(svc).values[first.secret_name]["access_token"] != old_token
    # Same webhook and URL key: the CRM keeps delivering to the same place.
    assert (again.connection_key, again.webhook_id) == (first.connection_key, first.webhook_id)
    assert len(crm.webhooks) == 1


def test_other_account_while_needs_reauth_is_wrong_account(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm, account="Cust1")
    svc.store.transition("t1", "fakecrm", expected=ConnectionStatus.CONNECTED, status=ConnectionStatus.NEEDS_REAUTH)

    redirect = _connect(svc, crm, account="Cust2")

    assert _query(redirect)["error"] == "wrong_account"


def test_webhook_failure_does_not_fail_the_connection(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.webhook_failure = CrmUnavailable("webhook target answered 404")

    redirect = _connect(svc, crm)

    connection = svc.store.get("t1", "fakecrm")
    assert _query(redirect)["status"] == "connected"
    assert connection is not None and connection.status is ConnectionStatus.CONNECTED
    assert connection.webhook_status is WebhookStatus.FAILED
    assert connection.webhook_error == "webhook target answered 404"


# --- status and disconnect -------------------------------------------------------------------------------------------


def test_status_lists_every_supported_crm_without_secrets(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    assert flow.list_connections(svc, tenant_id="t1").connections[0].status is ConnectionStatus.DISCONNECTED
    _connect(svc, crm)

    view = flow.connection_status(svc, tenant_id="t1", crm="fakecrm")

    assert view.status is ConnectionStatus.CONNECTED and view.account_id == "Cust1" and view.connected_by == "u1"
    dumped = view.model_dump_json()
    assert "secret" not in dumped and "connection_key" not in dumped and "at-" not in dumped


def test_disconnect_revokes_unregisters_and_deletes_secrets(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm)
    connection = svc.store.get("t1", "fakecrm")
    assert connection is not None

    result = flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u9")

    assert result.revoked_at_crm and result.webhook_removed and result.secret_recovery_days == 7
    assert crm.revoked == ["Cust1"] and crm.webhooks == {}
    assert _secrets(svc).deleted == {connection.secret_name: 7, connection.webhook_secret_name: 7}
    after = svc.store.get("t1", "fakecrm")
    assert after is not None and after.status is ConnectionStatus.DISCONNECTED and after.disconnected_by == "u9"
    assert [e.action for e in svc.sync_log.entries] == [Action.CONNECT, Action.DISCONNECT]  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u9")


def test_connect_after_disconnect_may_use_another_account(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm, account="Cust1")
    flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u1")

    redirect = _connect(svc, crm, account="Cust2")

    assert _query(redirect)["status"] == "connected"
    after = svc.store.get("t1", "fakecrm")
    assert after is not None and after.account_id == "Cust2" and after.status is ConnectionStatus.CONNECTED


# --- reconnecting the same account (issue 18) ------------------------------------------------------------------------


def _admin_view(svc: flow.ConnectionServices) -> Any:
    return flow.connection_status(svc, tenant_id="t1", crm="fakecrm", admin=True)


def test_a_reauthorization_keeps_the_key_the_first_connection_and_the_manual_setup(
    svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock
) -> None:
    crm.manual_webhooks = True
    _connect(svc, crm)
    first = svc.store.get("t1", "fakecrm")
    assert first is not None and _admin_view(svc).webhook_setup is not None
    clock.now += timedelta(days=3)
    crm.account_names["Cust1"] = None  # the CRM could not tell the name this time

    _connect(svc, crm)

    again = svc.store.get("t1", "fakecrm")
    assert again is not None and again.connection_key == first.connection_key
    assert (again.connected_at, again.first_connected_at) == (clock.now, first.connected_at)
    assert again.account_name == "Cust1 AS"  # not blanked by a failed read
    setup = _admin_view(svc).webhook_setup
    assert setup is not None and setup.required and setup.objects == ["Account", "Contact"]
    assert setup.target_url == f"https://api.example.com/webhooks/fakecrm/{first.connection_key}"
    assert setup.steps == [f"Enter {setup.target_url} in the CRM."]
    assert _admin_view(svc).first_connected_at == first.connected_at
    crm.account_names["Cust1"] = "Cust1 Renamed AS"

    _connect(svc, crm)  # every re-authorization reads the name again

    renamed = svc.store.get("t1", "fakecrm")
    assert renamed is not None and renamed.account_name == "Cust1 Renamed AS"


def test_disconnect_of_a_manual_webhook_says_what_to_remove_and_a_reconnect_keeps_the_url(
    svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock
) -> None:
    crm.manual_webhooks = True
    _connect(svc, crm)
    first = svc.store.get("t1", "fakecrm")
    assert first is not None
    url = f"https://api.example.com/webhooks/fakecrm/{first.connection_key}"

    result = flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u1")

    assert result.webhook_removed is False and result.revoked_at_crm
    assert result.webhook_manual_removal == [f"Remove the notification to {url} for Account, Contact.", "Or keep it."]
    assert _admin_view(svc).webhook_setup is None
    clock.now += timedelta(days=1)

    _connect(svc, crm)

    back = svc.store.get("t1", "fakecrm")
    assert back is not None and back.status is ConnectionStatus.CONNECTED
    assert back.connection_key == first.connection_key and back.first_connected_at == first.connected_at
    setup = _admin_view(svc).webhook_setup
    assert setup is not None and setup.target_url == url
    assert "webhook_secret" in _secrets(svc).values[back.webhook_secret_name or ""]  # restored for the intake


def test_a_manual_setup_registered_later_by_ensure_webhook_is_shown(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.manual_webhooks = True
    crm.webhook_failure = CrmUnavailable("CRM down at connect time")
    _connect(svc, crm)
    failed = svc.store.get("t1", "fakecrm")
    assert failed is not None and _admin_view(svc).webhook_setup is None
    crm.webhook_failure = None

    flow.ensure_webhook(svc, failed)  # the scheduled sync's retry

    setup = _admin_view(svc).webhook_setup
    assert setup is not None and setup.target_url.endswith(failed.connection_key)


def test_a_webhook_removed_through_the_api_reports_no_manual_steps(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm)
    result = flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u1")
    assert result.webhook_removed is True and result.webhook_manual_removal == [] and crm.webhooks == {}


def test_reconnecting_the_same_account_keeps_the_key_another_account_gets_a_new_one_and_a_new_cut_off(
    svc: flow.ConnectionServices, crm: FakeCrm, clock: Clock
) -> None:
    _connect(svc, crm, account="Cust1")
    first = svc.store.get("t1", "fakecrm")
    assert first is not None
    flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u1")
    clock.now += timedelta(days=1)
    _connect(svc, crm, account="Cust1")
    same = svc.store.get("t1", "fakecrm")
    assert same is not None and same.connection_key == first.connection_key
    assert list(crm.webhooks.values()) == [f"https://api.example.com/webhooks/fakecrm/{first.connection_key}"]
    flow.disconnect(svc, tenant_id="t1", crm="fakecrm", user_id="u1")
    clock.now += timedelta(days=1)

    _connect(svc, crm, account="Cust2")

    other = svc.store.get("t1", "fakecrm")
    assert other is not None and other.account_id == "Cust2" and other.connection_key != first.connection_key
    assert other.first_connected_at == clock.now and other.connected_since == clock.now


# --- needs re-authorization ------------------------------------------------------------------------------------------


def test_needs_reauth_flips_once_logs_and_publishes(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    _connect(svc, crm)
    connection = svc.store.get("t1", "fakecrm")
    assert connection is not None
    error = NeedsReauth("invalid_grant: consent revoked")

    assert flow.mark_needs_reauth(svc, connection, error, correlation_id="corr-1") is True
    assert flow.mark_needs_reauth(svc, connection, error, correlation_id="corr-2") is False

    after = svc.store.get("t1", "fakecrm")
    assert after is not None and after.status is ConnectionStatus.NEEDS_REAUTH
    assert after.last_error == "invalid_grant: consent revoked"
    events = svc.publisher.events  # type: ignore[attr-defined]
    assert [e.detail_type for e in events] == ["ConnectionNeedsReauth"]
    assert events[0].detail["tenant_id"] == "t1" and events[0].detail["account_id"] == "Cust1"
    assert events[0].detail["correlation_id"] == "corr-1"
    last = svc.sync_log.entries[-1]  # type: ignore[attr-defined]
    assert (last.action, last.outcome, last.error.code) == (Action.REFRESH_TOKEN, Outcome.FAILED, "needs_reauth")


def test_a_failed_webhook_registration_is_retried_later(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.webhook_failure = CrmUnavailable("target unreachable")
    _connect(svc, crm)
    failed = svc.store.get("t1", "fakecrm")
    assert failed is not None and failed.webhook_status is WebhookStatus.FAILED
    crm.webhook_failure = None

    flow.ensure_webhook(svc, failed)

    after = svc.store.get("t1", "fakecrm")
    assert after is not None and after.webhook_status is WebhookStatus.REGISTERED and after.webhook_error is None
    assert list(crm.webhooks.values()) == [f"https://api.example.com/webhooks/fakecrm/{after.connection_key}"]
    assert flow.ensure_webhook(svc, after) == after and len(crm.webhooks) == 1


def test_an_unexpected_failure_still_sends_the_browser_back(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.fail_exchange = RuntimeError("client secret not configured")  # type: ignore[assignment]
    started = _start(svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]

    result = flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code="x"))

    assert result.redirect_url and _query(result.redirect_url)["error"] == "server_error"
    assert "client secret" not in result.redirect_url


# --- require_same_email ----------------------------------------------------------------------------------------------


def _connect_as(
    svc: flow.ConnectionServices, crm: FakeCrm, *, app_email: str | None, crm_email: str | None
) -> flow.CallbackResult:
    crm.user_emails["Cust1"] = crm_email
    started = _start(
        svc,
        tenant_id="t1",
        user_id="u1",
        crm="fakecrm",
        return_url=RETURN,
        user_email=app_email,
        require_same_email=True,
    )
    code = crm.login(started.authorization_url, "Cust1")
    state = _query(started.authorization_url)["state"]
    return flow.complete_authorization(svc, crm="fakecrm", params=_from_browser(svc, state, code=code))


@pytest.mark.parametrize("crm_email", ["someone.else@example.com", None])
def test_same_email_required_refuses_another_crm_user_and_stores_nothing(
    svc: flow.ConnectionServices, crm: FakeCrm, crm_email: str | None
) -> None:
    result = _connect_as(svc, crm, app_email="admin@example.com", crm_email=crm_email)

    assert result.redirect_url is not None
    assert _query(result.redirect_url) == {"status": "error", "error": "email_mismatch", "crm": "fakecrm"}
    assert svc.store.get("t1", "fakecrm") is None
    assert _secrets(svc).values == {}
    assert crm.revoked == ["Cust1"]  # the tokens we will not use are given back
    log = svc.sync_log.entries  # type: ignore[attr-defined]
    assert [(e.action, e.outcome, e.error.code if e.error else None) for e in log] == [
        (Action.CONNECT, Outcome.FAILED, "email_mismatch")
    ]


def test_same_email_required_accepts_the_same_address_in_any_case(
    svc: flow.ConnectionServices, crm: FakeCrm
) -> None:
    result = _connect_as(svc, crm, app_email="Admin@Example.com", crm_email="admin@example.com")

    assert result.redirect_url is not None and _query(result.redirect_url)["status"] == "connected"
    connection = svc.store.get("t1", "fakecrm")
    assert connection is not None and connection.crm_user_email == "admin@example.com"


def test_same_email_needs_an_email_claim(svc: flow.ConnectionServices) -> None:
    with pytest.raises(InvalidInput) as caught:
        flow.start_authorization(
            svc, tenant_id="t1", user_id="u1", crm="fakecrm", return_url=RETURN, require_same_email=True
        )
    assert caught.value.errors[0]["loc"] == ["body", "require_same_email"]
    assert svc.store.states == {}  # type: ignore[attr-defined]


def test_without_the_rule_any_crm_user_may_connect(svc: flow.ConnectionServices, crm: FakeCrm) -> None:
    crm.user_emails["Cust1"] = "someone.else@example.com"
    assert _query(_connect(svc, crm))["status"] == "connected"
