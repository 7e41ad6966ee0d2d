"""Fixtures for testing the Salesforce sandbox itself over real HTTP.

- `sandbox` (module): a started `SalesforceSandbox` (query pages of 3 rows, Outbound Messages only on `tick`).
- `org` (function): the sandbox reset, an app (`cid`/`sec`), an org with admin `admin@acme.test`, and an
  `httpx.Client` on `{instance_url}/services/data/v62.0` with a bearer token for that admin.
- `receiver` (function): an Outbound Message listener on 127.0.0.1 that records bodies and answers what
  `receiver.replies` holds ((status, body) pairs; the SOAP Ack once empty).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.sandbox.common import LoopbackServer
from local.sandbox.salesforce import SalesforceSandbox
from tests.support.salesforce_sandbox import ACK, ADMIN, REDIRECT_URI, OrgEnv, Receiver


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(query_batch_size=3, outbound_background=False) as sb:
        yield sb


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
