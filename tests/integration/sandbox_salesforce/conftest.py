"""Fixtures for testing the Salesforce sandbox itself over real HTTP.

- `sandbox` (module): a started `SalesforceSandbox` (query pages of 3 rows, Outbound Messages only on `tick`).
- `org` (function): the sandbox reset, an app (`cid`/`sec`), an org with admin `admin@acme.test`, and an
  `httpx.Client` on `{instance_url}/services/data/v62.0` with a bearer token for that admin.
- `receiver` (function): an Outbound Message listener on 127.0.0.1 that records bodies and answers what
  `receiver.replies` holds ((status, body) pairs; the SOAP Ack once empty).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.sandbox.common import LoopbackServer
from local.sandbox.salesforce import SalesforceSandbox

REDIRECT_URI = "http://127.0.0.1:9/callback"
ADMIN = "admin@acme.test"
ACK = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(query_batch_size=3, outbound_background=False) as sb:
        yield sb


@dataclass
class OrgEnv:
    sb: SalesforceSandbox
    org_id: str
    admin_id: str
    token: dict[str, Any]
    api: httpx.Client

    def authorize(self, **extra: str) -> str:
        params = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT_URI,
                  "scope": "api refresh_token", "state": "st", "sandbox_login": ADMIN, **extra}
        response = httpx.get(f"{self.sb.login_base}/services/oauth2/authorize", params=params)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["st"]
        return query["code"][0]

    def token_call(self, **form: str) -> httpx.Response:
        return httpx.post(f"{self.sb.login_base}/services/oauth2/token", data=form)


@pytest.fixture
def org(sandbox: SalesforceSandbox) -> Iterator[OrgEnv]:
    sandbox.reset()
    sandbox.register_app([REDIRECT_URI], client_id="cid", client_secret="sec", name="leadbridge")
    created = sandbox.add_org("Acme Inc")
    admin = sandbox.add_user(created.org_id, ADMIN, name="Ada Admin", is_admin=True)
    token = sandbox.issue_tokens(created.org_id, ADMIN, "cid")
    with httpx.Client(
        base_url=f"{token['instance_url']}/services/data/v62.0",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    ) as api:
        yield OrgEnv(sandbox, created.org_id, admin, token, api)
    sandbox.clear_faults()


@dataclass
class Receiver:
    url: str
    bodies: list[bytes] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        rec = box["r"]
        with rec.lock:
            rec.bodies.append(body)
            status, reply = rec.replies.pop(0) if rec.replies else (200, ACK)
        start_response(f"{status} X", [("Content-Type", "text/xml")])
        return [reply.encode()]

    server = LoopbackServer(app)
    server.start()
    box["r"] = Receiver(url=f"{server.url}/webhooks/salesforce/key")
    try:
        yield box["r"]
    finally:
        server.stop()
