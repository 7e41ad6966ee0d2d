"""Fixtures for testing the HubSpot sandbox itself over real HTTP.

- `sandbox` (module): a started `HubSpotSandbox` on a settable clock.
- `hub` (function): the sandbox reset, an app (`cid`/`sec`, the connector's scopes), a portal "Acme Inc" with admin
  `admin@acme.test`, and an `httpx.Client` on the API host with a bearer token for that admin.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.sandbox.hubspot import HubSpotSandbox
from tests.integration.sandbox_hubspot.hub_env import ADMIN, REDIRECT_URI, SCOPES, START, Clock, HubEnv


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def sandbox(clock: Clock) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(clock=clock) as sb:
        yield sb


@pytest.fixture
def hub(sandbox: HubSpotSandbox, clock: Clock) -> Iterator[HubEnv]:
    clock.now = START
    sandbox.reset()
    sandbox.register_app([REDIRECT_URI], "cid", "sec", SCOPES)
    portal = sandbox.add_portal("Acme Inc", time_zone="Europe/Copenhagen")
    owner = sandbox.add_user(portal.hub_id, ADMIN, "Ada", "Admin")
    token = sandbox.tokens_for(ADMIN, "cid")
    with httpx.Client(base_url=sandbox.api_base, headers={"Authorization": f"Bearer {token['access_token']}"},
                      timeout=10) as api:
        yield HubEnv(sandbox, clock, portal.hub_id, owner.id, owner.user_id, token, api)
    sandbox.clear_faults()
