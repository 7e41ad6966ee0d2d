"""Fixtures for testing the SuperOffice sandbox itself over real HTTP.

- `sandbox` (module): a started `SuperOfficeSandbox` (webhook retry delays scaled by 0.01).
- `tenant` (function): the sandbox reset, an app, customer `Cust12345` on API host 0 with admin `tony@example.com`
  (associate 5), and an `httpx.Client` with a bearer token for that user; asserts no spec violation was recorded.
- `receiver` (function): a webhook target on 127.0.0.1 that records requests and answers the statuses queued in
  `receiver.statuses` (200 once the queue is empty).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.sandbox.common import LoopbackServer
from local.sandbox.superoffice import SuperOfficeSandbox

CTX = "Cust12345"
REDIRECT_URI = "http://127.0.0.1:9/callback"
ADMIN_EMAIL = "tony@example.com"
ADMIN_ID = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as sb:
        yield sb


@dataclass
class Tenant:
    sb: SuperOfficeSandbox
    client_id: str
    client_secret: str
    token: dict[str, Any]
    api: httpx.Client  # base_url = {api_host}/Cust12345/api/v1, bearer set
    ctx: str = CTX

    @property
    def base(self) -> str:
        return f"{self.sb.api_base(self.ctx)}/api/v1"

    def authorize_code(self, **extra: str) -> str:
        """Run the non-interactive authorize request for tony@example.com; returns the code from the redirect."""
        params = {"client_id": self.client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
                  "response_type": "code", "state": "st", "sandbox_login": ADMIN_EMAIL, **extra}
        response = httpx.get(f"{self.sb.login_base}/login/common/oauth/authorize", params=params)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == [params["state"]]
        return query["code"][0]


@pytest.fixture
def tenant(sandbox: SuperOfficeSandbox) -> Iterator[Tenant]:
    sandbox.reset()
    app = sandbox.register_app([REDIRECT_URI], client_id="demo-client", client_secret="demo-secret")
    sandbox.add_customer(CTX, "Tonys Developer Network", api_host=0)
    sandbox.add_user(CTX, ADMIN_EMAIL, associate_id=ADMIN_ID, full_name="Tony Young", is_admin=True)
    token = sandbox.issue_tokens(CTX, ADMIN_EMAIL, app.client_id)
    with httpx.Client(
        base_url=f"{sandbox.api_base(CTX)}/api/v1",
        headers={"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"},
        timeout=10,
    ) as api:
        yield Tenant(sandbox, app.client_id, app.client_secret, token, api)
    sandbox.clear_faults()
    assert sandbox.spec_violations == []


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        rec = box["r"]
        with rec.lock:
            rec.requests.append((headers, body))
            status = rec.statuses.pop(0) if rec.statuses else 200
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = LoopbackServer(app)
    server.start()
    box["r"] = Receiver(url=f"{server.url}/hook")
    try:
        yield box["r"]
    finally:
        server.stop()
