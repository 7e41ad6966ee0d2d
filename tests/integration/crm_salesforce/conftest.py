"""Fixtures for the Salesforce connector against the Salesforce sandbox over real HTTP on loopback.

- `sf_sandbox` (module): a started `SalesforceSandbox` (query pages of 3 rows, Outbound Messages on `tick` only).
- `sf` (function): a fresh org with admin `ada@acme.test`, a custom field `Score__c` on Account, and a connected
  app (see `tests.support.salesforce_connector.SfEnv`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.sandbox.salesforce import SalesforceSandbox
from tests.support.salesforce_connector import ADMIN_EMAIL, REDIRECT_URI, SfEnv


@pytest.fixture(scope="module")
def sf_sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(query_batch_size=3, outbound_background=False) as sandbox:
        yield sandbox


@pytest.fixture
def sf(sf_sandbox: SalesforceSandbox) -> Iterator[SfEnv]:
    sf_sandbox.reset()
    app = sf_sandbox.register_app([REDIRECT_URI], name="leadbridge")
    org = sf_sandbox.add_org("Acme Inc")
    admin = sf_sandbox.add_user(org.org_id, ADMIN_EMAIL, name="Ada Admin", is_admin=True)
    sf_sandbox.add_custom_field(org.org_id, "Account", "Score__c", "double", label="Lead score")
    yield SfEnv(sf_sandbox, org.org_id, admin, app.client_id, app.client_secret)
    sf_sandbox.clear_faults()
