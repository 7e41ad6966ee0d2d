"""Connecting SuperOffice as an admin would: through the local gateway (template routes, JWT authorizer, handlers) and
the SuperOffice sandbox (SuperID login with PKCE, REST API, revocation), with moto for DynamoDB, Secrets Manager and
EventBridge. The browser is played by httpx (with its cookie jar) without following redirects, so every step is checked:
the admin's authorize call (sets the state cookie in the browser that makes it), SuperOffice's sign-in, the callback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest

from leadbridge import runtime
from leadbridge.connect import browser_cookie_name
from leadbridge.crm.base import provider
from leadbridge.store.table import Table
from leadbridge.store.vault import DynamoDBLeaseStore, SecretsManagerStore, TokenVault
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.superoffice_connect import ADMIN_EMAIL, CTX, OTHER_EMAIL, Env, landing


def _state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


# --- connect ---------------------------------------------------------------------------------------------------------


def test_full_connect_round_trip(env: Env, capfd: pytest.CaptureFixture[str]) -> None:
    authorization_url = env.authorize("acme")
    crm_url = authorization_url
    assert crm_url.startswith(f"{env.sandbox.login_base}/login/common/oauth/authorize?")
    query = parse_qs(urlsplit(crm_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [
        f"{env.stack.gateway_url}/oauth/superoffice/callback"
    ]
    assert query["state"] == [_state_of(authorization_url)]

    landed = landing(env.back_to_leadbridge(env.sign_in(crm_url)), env.return_url)

    assert landed == {"status": "connected", "crm": "superoffice"}
    status = env.status("acme")
    assert status["status"] == "connected"
    assert status["account_id"] == CTX and status["account_name"] == "Connect Test AS"
    assert status["connected_by"] == "admin-of-acme" and status["connected_at"]
    assert status["api_base"].startswith(env.sandbox.api_hosts[0])
    # Tokens live in a KMS-encrypted secret under leadbridge/<stage>/, never in the table or a response.
    connection = env.connection("acme")
    described = boto3.client("secretsmanager").describe_secret(SecretId=connection.secret_name)
    assert connection.secret_name.endswith("/tenants/acme/superoffice") and described["KmsKeyId"]
    grant = env.stored_grant("acme")
    assert grant["account_id"] == CTX and grant["refresh_token"]
    # The webhook was registered at SuperOffice, pointing at this connection's unguessable URL.
    assert status["webhook_status"] == "registered", status
    targets = [w.get("TargetUrl") for w in env.sandbox.customer(CTX).webhooks.values()]
    assert targets == [f"{env.stack.gateway_url}/webhooks/superoffice/{connection.connection_key}"]
    # Tokens appear in no response and no log line.
    listed = env.call("GET", "/connections", headers=env.auth("acme"))
    assert listed.status_code == 200
    assert {c["crm"]: c["status"] for c in listed.json()["connections"]}["superoffice"] == "connected"
    table_dump = json.dumps(boto3.client("dynamodb").scan(TableName=env.stack.resources.table_name)["Items"])
    logs = capfd.readouterr()
    for secret in (grant["access_token"], grant["refresh_token"]):
        assert all(secret not in r.text and secret not in str(r.headers) for r in env.seen)
        assert secret not in logs.out and secret not in logs.err
        assert secret not in table_dump


def test_denied_consent_lands_with_denied(env: Env) -> None:
    response = env.back_to_leadbridge(env.login(env.authorize("acme"), consent="deny"))

    assert landing(response, env.return_url) == {"status": "error", "error": "denied", "crm": "superoffice"}
    assert env.status("acme")["status"] == "disconnected"


def test_replayed_callback_is_rejected(env: Env) -> None:
    callback = env.login(env.authorize("acme"))
    assert landing(env.back_to_leadbridge(callback), env.return_url)["status"] == "connected"

    replay = env.back_to_leadbridge(callback)

    assert replay.status_code == 400 and "location" not in replay.headers
    assert "invalid_state" in replay.text


def test_forged_state_is_rejected(env: Env) -> None:
    callback = env.login(env.authorize("acme"))
    code = parse_qs(urlsplit(callback).query)["code"][0]

    forged = env.call("GET", "/oauth/superoffice/callback", params={"state": "forged-" + "a" * 40, "code": code})

    assert forged.status_code == 400 and "location" not in forged.headers
    assert env.status("acme")["status"] == "disconnected"


def test_expired_state_is_rejected(env: Env) -> None:
    authorization_url = env.authorize("acme")
    callback = env.login(authorization_url)
    # Eleven minutes pass between "Connect" and the return from SuperOffice.
    table = Table(env.stack.resources.table_name)
    table.update(
        {"PK": f"STATE#{_state_of(authorization_url)}", "SK": "STATE"},
        set_values={"state_expires_at": "2020-01-01T00:00:00+00:00"},
    )
    calls_before = env.token_calls()

    landed = landing(env.back_to_leadbridge(callback), env.return_url)

    assert landed["error"] == "expired_state"
    assert env.token_calls() == calls_before  # the code was not even exchanged
    assert env.status("acme")["status"] == "disconnected"


def test_state_of_another_tenant_is_rejected_by_pkce(env: Env) -> None:
    authorization_a = env.authorize("tenant-a")  # this browser holds A's cookie, so it is PKCE that must catch the swap
    state_a = _state_of(authorization_a)
    callback_b = env.login(env.authorize("tenant-b"))
    code_b = parse_qs(urlsplit(callback_b).query)["code"][0]

    # An attacker pairs tenant A's state with the code of a login started for tenant B.
    crossed = env.call("GET", "/oauth/superoffice/callback", params={"state": state_a, "code": code_b})

    assert landing(crossed, env.return_url)["error"] == "crm_error"
    assert env.status("tenant-a")["status"] == "disconnected"
    assert env.status("tenant-b")["status"] == "disconnected"


def test_pkce_verifier_mismatch_is_refused_by_superoffice(env: Env) -> None:
    authorization_url = env.authorize("acme")
    callback = env.login(authorization_url)
    Table(env.stack.resources.table_name).update(
        {"PK": f"STATE#{_state_of(authorization_url)}", "SK": "STATE"}, set_values={"code_verifier": "x" * 64}
    )
    calls_before = env.token_calls()

    landed = landing(env.back_to_leadbridge(callback), env.return_url)

    assert landed["error"] == "crm_error"
    assert env.token_calls() == calls_before + 1  # SuperOffice saw the exchange and refused it
    assert env.status("acme")["status"] == "disconnected"


# --- the state is bound to the browser that started the sign-in (login CSRF) ----------------------------------------


def _set_cookie(response: httpx.Response) -> dict[str, str]:
    """The one Set-Cookie of a response, as {attribute (lower case): value}, the name under `name`."""
    (header,) = response.headers.get_list("set-cookie")
    first, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    parsed = {"name": name, "value": value}
    for attribute in attributes:
        key, _, attr_value = attribute.partition("=")
        parsed[key.lower()] = attr_value
    return parsed


def test_the_authorize_call_sets_a_callback_scoped_http_only_cookie_and_the_callback_spends_it(env: Env) -> None:
    started = env.call(
        "POST", "/connections/superoffice/authorize", json={"return_url": env.return_url}, headers=env.auth("acme")
    )

    assert started.status_code == 200 and started.json()["authorization_url"].startswith(env.sandbox.login_base)
    cookie = _set_cookie(started)
    assert cookie["name"].startswith("lb_oauth_") and len(cookie["value"]) >= 43
    assert cookie["path"] == "/oauth/superoffice/callback"
    assert cookie["samesite"] == "Lax" and "httponly" in cookie
    assert int(cookie["max-age"]) == 600
    assert "secure" not in cookie  # the local gateway is plain http; behind https (API Gateway) it is Secure
    assert started.headers["cache-control"] == "no-store"

    back = env.back_to_leadbridge(env.sign_in(started.json()["authorization_url"]))

    assert landing(back, env.return_url)["status"] == "connected"
    spent = _set_cookie(back)
    assert (spent["name"], spent["value"], spent["max-age"]) == (cookie["name"], "", "0")


def test_a_sign_in_completed_in_another_browser_is_refused(env: Env) -> None:
    # An admin of tenant "acme" starts, then hands the CRM sign-in page to someone else (a victim who is signed in
    # to SuperOffice), or the sign-in URL leaks: the callback comes back in a browser without the binding cookie.
    crm_url = env.authorize("acme")
    calls_before = env.token_calls()
    with httpx.Client(timeout=15, follow_redirects=False) as victim:
        extra = urlencode({"sandbox_login": ADMIN_EMAIL, "sandbox_consent": "allow"})
        callback = victim.get(f"{crm_url}&{extra}").headers["location"]
        back = victim.get(callback)

    assert landing(back, env.return_url) == {"status": "error", "error": "state_mismatch", "crm": "superoffice"}
    assert env.token_calls() == calls_before  # the victim's code was never exchanged
    assert env.status("acme")["status"] == "disconnected"
    log = env.call("GET", "/sync-log", headers=env.auth("acme", "member")).json()["items"]
    assert [(e["action"], e["outcome"], e["error"]["code"]) for e in log] == [("connect", "failed", "state_mismatch")]


def test_a_callback_with_another_attempts_cookie_is_refused(env: Env) -> None:
    first = env.authorize("acme")
    second = env.authorize("acme")
    second_callback = env.sign_in(second)
    first_value = env.http.cookies.get(browser_cookie_name(_state_of(first)))
    assert first_value
    # A cookie this browser really holds, but of the other attempt, under the second attempt's name.
    swapped = f"{browser_cookie_name(_state_of(second))}={first_value}"
    with httpx.Client(timeout=15, follow_redirects=False) as forged:
        back = forged.get(second_callback, headers={"Cookie": swapped})

    assert landing(back, env.return_url)["error"] == "state_mismatch"
    assert env.status("acme")["status"] == "disconnected"


# --- the connect link: useless to anyone but the admin (issue 16 finding 7) -----------------------------------------


def _connect_page(http: httpx.Client, env: Env, return_url: str | None = None) -> httpx.Response:
    return http.get(
        f"{env.stack.gateway_url}/connections/superoffice/authorize",
        params={"return_url": return_url or env.return_url},
    )


def test_the_connect_page_opened_without_the_admins_token_gives_nothing(env: Env) -> None:
    # The link the app opens, in an attacker's browser: a page that waits for a token from the app window.
    with httpx.Client(timeout=15, follow_redirects=False) as attacker:
        page = _connect_page(attacker, env)
        # Its authorize call without the admin's token is refused by the gateway's JWT authorizer.
        without_token = attacker.post(
            f"{env.stack.gateway_url}/connections/superoffice/authorize", json={"return_url": env.return_url}
        )
        jar = dict(attacker.cookies)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in page.headers and "location" not in page.headers
    assert env.sandbox.login_base not in page.text and "state=" not in page.text  # no sign-in URL, no state
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp and "script-src 'nonce-" in csp
    # The page talks only to the app's origin (that of the allowed return URL).
    assert f'"app_origin": "{env.stack.gateway_url}"' in page.text
    assert (without_token.status_code, without_token.json()) == (401, {"message": "Unauthorized"})
    assert "set-cookie" not in without_token.headers and jar == {}
    assert env.call("GET", "/sync-log", headers=env.auth("acme", "member")).json()["items"] == []
    assert env.status("acme")["status"] == "disconnected"


def test_the_connect_page_refuses_a_return_url_off_the_allow_list(env: Env) -> None:
    # Otherwise a page of another site could open it and receive the "ready" message meant for the app.
    page = _connect_page(env.http, env, "https://evil.example/settings")
    assert page.status_code == 400 and "set-cookie" not in page.headers and "app_origin" not in page.text


def test_another_tenants_admin_gets_nothing_of_the_victims_attempt(env: Env) -> None:
    # The victim's attempt exists (its sign-in URL and state leaked); another tenant's admin, in their own browser,
    # gets an attempt of their own tenant only, and the victim's state does not connect anything in that browser.
    victim_crm_url = env.authorize("acme")
    with httpx.Client(base_url=env.stack.gateway_url, timeout=15, follow_redirects=False) as attacker:
        own = attacker.post(
            "/connections/superoffice/authorize", json={"return_url": env.return_url}, headers=env.auth("evil")
        )
        assert own.status_code == 200
        assert _state_of(own.json()["authorization_url"]) != _state_of(victim_crm_url)
        # The attacker's own cookie is not the victim's attempt's cookie.
        assert attacker.cookies.get(browser_cookie_name(_state_of(victim_crm_url))) is None
        extra = urlencode({"sandbox_login": OTHER_EMAIL, "sandbox_consent": "allow"})
        callback = attacker.get(f"{victim_crm_url}&{extra}").headers["location"]
        back = attacker.get(callback)

    assert landing(back, env.return_url)["error"] == "state_mismatch"
    assert env.status("acme")["status"] == "disconnected" and env.status("evil")["status"] == "disconnected"


def test_the_admin_who_started_completes_the_flow(env: Env) -> None:
    # The leaked attempts above leave the admin's own flow intact.
    crm_url = env.authorize("acme")
    with httpx.Client(timeout=15, follow_redirects=False) as attacker:
        assert _connect_page(attacker, env).status_code == 200

    assert landing(env.back_to_leadbridge(env.sign_in(crm_url)), env.return_url)["status"] == "connected"
    assert env.status("acme")["account_id"] == CTX


# --- optional: the same e-mail in the app and in the CRM ------------------------------------------------------------


def test_same_email_rule_refuses_a_crm_user_with_another_email(env: Env) -> None:
    env.sandbox.add_user(CTX, "someone.else@cust40001.test", is_admin=True)
    crm_url = env.authorize("acme", email=ADMIN_EMAIL, require_same_email=True)

    back = env.back_to_leadbridge(env.sign_in(crm_url, "someone.else@cust40001.test"))

    assert landing(back, env.return_url) == {"status": "error", "error": "email_mismatch", "crm": "superoffice"}
    assert runtime.connection_store().get("acme", "superoffice") is None  # nothing stored
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets if "/tenants/acme/" in s["Name"]] == []
    log = env.call("GET", "/sync-log", headers=env.auth("acme", "member")).json()["items"]
    assert [(e["action"], e["outcome"], e["error"]["code"]) for e in log] == [("connect", "failed", "email_mismatch")]


def test_same_email_rule_accepts_the_same_email(env: Env) -> None:
    crm_url = env.authorize("acme", email=ADMIN_EMAIL.upper(), require_same_email=True)

    back = env.back_to_leadbridge(env.sign_in(crm_url, ADMIN_EMAIL))

    assert landing(back, env.return_url) == {"status": "connected", "crm": "superoffice"}
    assert env.connection("acme").crm_user_email == ADMIN_EMAIL


def test_same_email_rule_needs_an_email_claim(env: Env) -> None:
    response = env.call(
        "POST",
        "/connections/superoffice/authorize",
        json={"return_url": env.return_url, "require_same_email": True},
        headers=env.auth("acme"),
    )
    assert response.status_code == 422 and "set-cookie" not in response.headers
    assert response.json()["error"]["details"]["errors"][0]["loc"] == ["body", "require_same_email"]


def test_member_cannot_connect(env: Env) -> None:
    response = env.call(
        "POST",
        "/connections/superoffice/authorize",
        json={"return_url": env.return_url},
        headers=env.auth("acme", "member"),
    )

    assert response.status_code == 403


def test_another_account_while_connected_is_refused(env: Env) -> None:
    env.connect("acme")
    before = env.stored_grant("acme")

    landed = env.connect("acme", OTHER_EMAIL)

    assert landed["error"] == "already_connected_other_account" and landed["connected_account"] == CTX
    assert env.status("acme")["account_id"] == CTX
    assert env.stored_grant("acme") == before


def test_reconnecting_the_same_account_refreshes_credentials(env: Env) -> None:
    env.connect("acme")
    first = env.stored_grant("acme")

    assert env.connect("acme")["status"] == "connected"

    second = env.stored_grant("acme")
    assert second["access_token"] != first["access_token"] and env.status("acme")["status"] == "connected"


# --- token refresh ---------------------------------------------------------------------------------------------------


def _expire_stored_token(env: Env, tenant: str) -> None:
    """The hour has passed: SuperOffice no longer accepts the access token, and the stored expiry says so too."""
    env.sandbox.expire_access_tokens(CTX)
    secrets = SecretsManagerStore()
    name = env.connection(tenant).secret_name
    secrets.put_json(name, {**secrets.get_json(name), "expires_at": time.time() - 5})


def _burst(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_twenty_lambdas_at_expiry_refresh_once_at_superoffice(env: Env) -> None:
    env.connect("acme")
    _expire_stored_token(env, "acme")
    connection = env.connection("acme")
    calls_before = env.token_calls()
    oauth = provider("superoffice").oauth()

    def separate_lambda(i: int) -> str:
        # Each vault has its own locks and cache, like a separate Lambda; they share DynamoDB and Secrets Manager.
        vault = TokenVault(
            SecretsManagerStore(), DynamoDBLeaseStore(Table(env.stack.resources.table_name)), lambda crm: oauth
        )
        return vault.get_access_token(connection)

    tokens = _burst(20, separate_lambda)

    assert env.token_calls() - calls_before == 1
    assert len(set(tokens)) == 1 and isinstance(tokens[0], str)
    assert tokens[0] == env.stored_grant("acme")["access_token"]
    users = provider("superoffice").connector(connection.context(), runtime.token_vault().tokens(connection)).users()
    assert users  # SuperOffice accepts the refreshed token


def test_twenty_requests_after_a_401_refresh_once(env: Env) -> None:
    env.connect("acme")
    env.sandbox.expire_access_tokens(CTX)  # SuperOffice ends the token early; our stored expiry still looks fine
    calls_before = env.token_calls()
    headers = env.auth("acme", "member")

    responses = _burst(20, lambda i: env.http.get("/crm/superoffice/users", headers=headers))

    assert [r.status_code for r in responses] == [200] * 20
    assert env.token_calls() - calls_before == 1


# --- revoked consent -------------------------------------------------------------------------------------------------


@pytest.fixture
def app_events(env: Env) -> str:
    """An SQS queue subscribed to every leadbridge event on the bus: what the lead app receives."""
    return subscribe_app_queue(env.stack.resources.event_bus_name, "app-events-connect-test")


def _received(url: str) -> list[dict[str, Any]]:
    return drain(url, wait_seconds=1)


def test_revoked_consent_needs_reauth_and_tells_the_app(env: Env, app_events: str) -> None:
    env.connect("acme")
    env.sandbox.revoke_consent(CTX)
    headers = env.auth("acme", "member")

    first = env.http.get("/crm/superoffice/users", headers=headers)
    second = env.http.get("/crm/superoffice/users", headers=headers)

    assert first.status_code == 409 and first.json()["error"]["code"] == "needs_reauth"
    assert second.status_code == 409
    status = env.status("acme")
    assert status["status"] == "needs_reauth" and status["last_error"]
    events = _received(app_events)
    assert [e["detail-type"] for e in events] == ["ConnectionNeedsReauth"]
    detail = events[0]["detail"]
    assert (detail["tenant_id"], detail["crm"], detail["account_id"]) == ("acme", "superoffice", CTX)
    assert detail["correlation_id"]
    log = env.call("GET", "/sync-log", headers=headers).json()["items"]
    assert [(e["action"], e["outcome"], e["error"]["code"]) for e in log if e["action"] == "refresh_token"] == [
        ("refresh_token", "failed", "needs_reauth")
    ]
    # The admin connects again: back to connected, same account.
    assert env.connect("acme")["status"] == "connected"
    assert env.http.get("/crm/superoffice/users", headers=headers).status_code == 200


# --- disconnect ------------------------------------------------------------------------------------------------------


def test_disconnect_revokes_deletes_the_secret_and_keeps_the_log(env: Env) -> None:
    env.connect("acme")
    connection = env.connection("acme")
    grant = env.stored_grant("acme")
    assert len(env.sandbox.customer(CTX).webhooks) == 1

    member = env.call("DELETE", "/connections/superoffice", headers=env.auth("acme", "member"))
    response = env.call("DELETE", "/connections/superoffice", headers=env.auth("acme"))

    assert member.status_code == 403
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revoked_at_crm"] is True and body["secret_recovery_days"] == 7
    assert body["connection"]["status"] == "disconnected"
    # The grant no longer works at SuperOffice.
    refused = httpx.post(
        f"{env.sandbox.login_base}/login/common/oauth/tokens",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": next(iter(env.sandbox.apps)),
            "client_secret": "app-secret",
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The secret is scheduled for deletion (recoverable for 7 days), not readable any more.
    described = boto3.client("secretsmanager").describe_secret(SecretId=connection.secret_name)
    assert "DeletedDate" in described
    assert body["webhook_removed"] is True and env.sandbox.customer(CTX).webhooks == {}
    # The sync log keeps the history.
    log = env.call("GET", "/sync-log", headers=env.auth("acme", "member")).json()["items"]
    assert [e["action"] for e in log] == ["disconnect", "connect"]
    assert env.status("acme")["status"] == "disconnected"
    assert env.call("DELETE", "/connections/superoffice", headers=env.auth("acme")).status_code == 404
    # Connecting again restores the secret.
    assert env.connect("acme")["status"] == "connected"
    assert env.stored_grant("acme")["account_id"] == CTX
