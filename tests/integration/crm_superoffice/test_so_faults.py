"""Error translation and fault handling of the SuperOffice connector, with faults injected in the sandbox.

Sleeps are recorded by the provider's injected sleep function (`so.sleeps`), never slept.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.http import RetryPolicy, Timeouts
from leadbridge.errors import CrmConflict, CrmNotFound, CrmRejected, CrmUnavailable, NeedsReauth, RateLimited
from leadbridge.models.crm import CrmObject
from tests.support.superoffice_connector import CTX, SoEnv

CONTACT = "/api/v1/Contact"


def test_429_with_retry_after_is_waited_out(so: SoEnv) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Throttled AS"})
    so.sandbox.inject_fault("429", path_prefix=CONTACT, method="GET", retry_after=7, count=2)
    assert connector.get(CrmObject.COMPANY, company.id).fields["Name"] == "Throttled AS"
    assert so.sleeps == [7.0, 7.0]
    assert connector.calls["contact.get"] == 3


def test_persistent_429_becomes_rate_limited_with_retry_after(so: SoEnv) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Throttled AS"})
    so.sandbox.inject_fault("429", path_prefix=CONTACT, method="GET", retry_after=3, count=None)
    with pytest.raises(RateLimited) as exc:
        connector.get(CrmObject.COMPANY, company.id)
    assert exc.value.retry_after == 3.0
    assert connector.calls["contact.get"] == 3  # bounded attempts


def test_retry_after_longer_than_the_wait_budget_is_handed_to_the_caller(so: SoEnv) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Slow down AS"})
    so.sandbox.inject_fault("429", path_prefix=CONTACT, method="GET", retry_after=120, count=1)
    with pytest.raises(RateLimited) as exc:
        connector.get(CrmObject.COMPANY, company.id)
    assert exc.value.retry_after == 120.0
    assert so.sleeps == []  # no two-minute sleep inside a Lambda


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_transient_server_errors_are_retried_with_jittered_backoff(so: SoEnv, status: str) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Flaky AS"})
    so.sandbox.inject_fault(status, path_prefix=CONTACT, method="GET", count=2)
    assert connector.get(CrmObject.COMPANY, company.id).id == company.id
    assert so.sleeps == [0.25, 0.5]  # rand=0.5 * min(4, 0.5 * 2**n)


def test_persistent_503_becomes_unavailable(so: SoEnv) -> None:
    connector, _ = so.connector()
    so.sandbox.inject_fault("503", path_prefix=CONTACT, method="POST", count=None)
    with pytest.raises(CrmUnavailable) as exc:
        connector.create(CrmObject.COMPANY, {"Name": "Down AS"})
    assert "503" in exc.value.message
    assert connector.calls["contact.create"] == 3


def test_timeouts_are_retried_then_unavailable(so: SoEnv) -> None:
    # A read timeout that only a hanging request reaches (2 s), and requests that hang far longer (10 s).
    connector, _ = so.connector(timeouts=Timeouts(connect=2.0, read=2.0))
    company = connector.create(CrmObject.COMPANY, {"Name": "Hanging AS"})
    so.sandbox.inject_fault("timeout", path_prefix=CONTACT, method="GET", seconds=10.0, count=1)
    assert connector.get(CrmObject.COMPANY, company.id).id == company.id
    assert connector.calls["contact.get"] == 2
    so.sandbox.inject_fault("timeout", path_prefix=CONTACT, method="GET", seconds=10.0, count=None)
    with pytest.raises(CrmUnavailable) as exc:
        connector.get(CrmObject.COMPANY, company.id)
    assert "in time" in exc.value.message


def test_expired_access_token_is_refreshed_once_and_the_call_replayed(so: SoEnv) -> None:
    connector, tokens = so.connector()
    connector.custom_fields(CrmObject.COMPANY)  # metadata cached, so the create below is the first call
    old_token = tokens.grant.access_token
    so.sandbox.expire_access_tokens(CTX)
    company = connector.create(CrmObject.COMPANY, {"Name": "Fresh token AS"})
    assert company.id
    assert tokens.refreshes == 1 and tokens.grant.access_token != old_token
    assert connector.calls["contact.create"] == 2  # 401, then the replay


def test_revoked_consent_needs_reauth(so: SoEnv) -> None:
    connector, tokens = so.connector()
    so.sandbox.revoke_consent(CTX)
    with pytest.raises(NeedsReauth):
        connector.get(CrmObject.COMPANY, "1")
    assert tokens.refreshes == 0  # the refresh itself was refused


def test_401_after_a_successful_refresh_needs_reauth(so: SoEnv) -> None:
    connector, tokens = so.connector()
    so.sandbox.inject_fault("401", path_prefix=CONTACT, method="POST", count=None)
    with pytest.raises(NeedsReauth):
        connector.create(CrmObject.COMPANY, {"Name": "x"})
    assert tokens.refreshes == 1 and connector.calls["contact.create"] == 2


def test_moved_tenant_is_re_resolved_via_the_tenant_status_api(so: SoEnv) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Mover AS"})
    old_base = connector.api_base
    so.sandbox.move_customer(CTX, 1)
    assert connector.get(CrmObject.COMPANY, company.id).fields["Name"] == "Mover AS"
    assert connector.api_base != old_base
    assert connector.api_base == so.sandbox.webapi_url(CTX).rstrip("/")
    assert connector.calls["tenant.state"] == 1 and connector.calls["contact.get"] == 2
    assert connector.get(CrmObject.COMPANY, company.id).url.startswith(so.sandbox.api_hosts[1])


def test_injected_421_without_a_move_replays_once(so: SoEnv) -> None:
    connector, _ = so.connector()
    so.sandbox.inject_fault("421", path_prefix=CONTACT, count=1)
    assert connector.create(CrmObject.COMPANY, {"Name": "Misdirected AS"}).id
    assert connector.calls["tenant.state"] == 1


def test_tenant_not_running_is_unavailable_with_its_state(so: SoEnv) -> None:
    connector, _ = so.connector()
    so.sandbox.move_customer(CTX, 1)
    so.sandbox.set_customer_state(CTX, "Suspended")
    with pytest.raises(CrmUnavailable) as exc:
        connector.get(CrmObject.COMPANY, "1")
    assert "Suspended" in exc.value.message


@pytest.mark.parametrize(
    ("status", "error"),
    [("409", CrmConflict), ("412", CrmConflict), ("404", CrmNotFound), ("400", CrmRejected), ("403", CrmRejected)],
)
def test_status_translation(so: SoEnv, status: str, error: type[Exception]) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Status AS"})
    so.sandbox.inject_fault(status, path_prefix=f"{CONTACT}/{company.id}", method="PATCH", count=1)
    with pytest.raises(error):
        connector.update(CrmObject.COMPANY, company.id, {"Name": "New"})
    assert connector.calls["contact.patch"] == 1  # not retried


def test_superoffice_error_message_reaches_the_caller(so: SoEnv) -> None:
    connector, _ = so.connector()
    with pytest.raises(CrmRejected) as exc:
        connector.create(CrmObject.PERSON, {"Lastname": "Orphan"}, parent_id="424242")
    assert exc.value.status == 400
    assert "424242" in exc.value.reason  # SuperOffice's ErrorMessage, not just a status code


def test_call_counts_match_what_superoffice_received(so: SoEnv) -> None:
    connector, _ = so.connector(retry=RetryPolicy(max_attempts=3, base_delay=0.1))
    so.sandbox.reset_call_counts(CTX)
    company = connector.create(CrmObject.COMPANY, {"Name": "Counted AS"})
    connector.get(CrmObject.COMPANY, company.id)
    connector.update(CrmObject.COMPANY, company.id, {"Name": "Counted 2 AS"})
    connector.search_companies(name="Counted")
    ours = sum(connector.calls.values())
    theirs = sum(so.sandbox.call_counts(CTX).values())
    assert ours == theirs
    assert connector.calls["contact.create"] == 1 and connector.calls["contact.get"] == 1
    assert connector.calls["contact.patch"] == 1 and connector.calls["contact.search"] == 1


class _HtmlEverywhere(BaseHTTPRequestHandler):
    """A misbehaving proxy in front of SuperOffice: 200 with an HTML page for every request."""

    def do_GET(self) -> None:
        body = b"<html><body>Maintenance</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _StaticTokens:
    def access_token(self) -> str:
        return "8A:Cust12345.static"

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        raise NeedsReauth("static token")


def test_non_json_body_is_unavailable_with_a_clear_message(so: SoEnv) -> None:
    server = HTTPServer(("127.0.0.1", 0), _HtmlEverywhere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/{CTX}/api"
        context = ConnectionContext(tenant_id="t", crm="superoffice", account_id=CTX, api_base=base)
        connector = so.provider().connector(context, _StaticTokens())
        with pytest.raises(CrmUnavailable) as exc:
            connector.get(CrmObject.COMPANY, "1")
        assert "not JSON" in exc.value.message and "text/html" in exc.value.message
    finally:
        server.shutdown()
        server.server_close()
