"""The SuperOffice connector reading its field metadata through a shared `MetadataCache`, against the SuperOffice
sandbox over loopback HTTP. Requests are counted by the sandbox, not by leadbridge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.metadata_cache import MetadataCache, current_fields
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.errors import CrmRejected
from leadbridge.models.crm import CrmObject
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.superoffice_connector import ADMIN_EMAIL, CTX, REDIRECT_URI, GrantTokens, SoEnv

METADATA_PATHS = ("UdefLayout/Published", "CustomField", "/default")


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as sb:
        yield sb


@pytest.fixture
def so(sandbox: SuperOfficeSandbox) -> Iterator[SoEnv]:
    sandbox.reset()
    app = sandbox.register_app([REDIRECT_URI])
    sandbox.add_customer(CTX, "Metadata AS", api_host=0)
    sandbox.add_user(CTX, ADMIN_EMAIL, is_admin=True)
    sandbox.define_udef(CTX, "contact", "RabitIQ:1", "Score", "Number")
    yield SoEnv(sandbox=sandbox, client_id=app.client_id, client_secret=app.client_secret)


def metadata_requests(sb: SuperOfficeSandbox, ctx: str = CTX) -> int:
    return sum(n for call, n in sb.call_counts(ctx).items() if call.startswith("GET") and call.endswith(METADATA_PATHS))


def cached_connector(so: SoEnv, cache: MetadataCache) -> SuperOfficeConnector:
    connector, _ = so.connector()
    connector.metadata_cache = cache
    return connector


def test_connectors_sharing_a_cache_read_each_objects_metadata_once(so: SoEnv) -> None:
    cache = MetadataCache(clock=Clock())
    first = cached_connector(so, cache)
    names = [f.name for f in first.fields(CrmObject.COMPANY)]
    assert "RabitIQ:1" in names
    assert metadata_requests(so.sandbox) == 3  # UdefLayout/Published, CustomField, default

    second = cached_connector(so, cache)  # the next export in the same container
    assert [f.name for f in second.fields(CrmObject.COMPANY)] == names
    created = second.create(CrmObject.COMPANY, {"Name": "Cached AS", "RabitIQ:1": 7})
    assert so.sandbox.get(CTX, "contact", int(created.id))["UserDefinedFields"]["RabitIQ:1"] == "[I:7]"
    assert metadata_requests(so.sandbox) == 3  # nothing read again, the create used the cached custom fields

    second.fields(CrmObject.PERSON)  # another object: its own entries
    assert metadata_requests(so.sandbox) == 6


def test_after_the_ttl_a_field_the_admin_added_is_seen(so: SoEnv) -> None:
    clock = Clock()
    cache = MetadataCache(ttl_seconds=300, clock=clock)
    cached_connector(so, cache).fields(CrmObject.COMPANY)
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")

    clock.now += 299
    assert "RabitIQ:3" not in {f.name for f in cached_connector(so, cache).fields(CrmObject.COMPANY)}
    clock.now += 1
    assert "RabitIQ:3" in {f.name for f in cached_connector(so, cache).fields(CrmObject.COMPANY)}
    assert metadata_requests(so.sandbox) == 6


def test_a_mapped_field_the_account_lacks_is_read_for_again_once_per_connector_not_per_lead(so: SoEnv) -> None:
    cache = MetadataCache(clock=Clock())
    wanted = ["Name", "RabitIQ:7"]  # a mapping to a custom field this account does not have
    slice_connector = cached_connector(so, cache)  # a bulk export's slice writes its leads with one connector
    current_fields(slice_connector, CrmObject.COMPANY, wanted)
    first = metadata_requests(so.sandbox)
    assert first > 3  # the cached read, and once more in case the field was created a moment ago

    for _ in range(5):  # the slice's next leads: the same answer, not read for again
        current_fields(slice_connector, CrmObject.COMPANY, wanted)
    assert metadata_requests(so.sandbox) == first

    so.sandbox.define_udef(CTX, "contact", "RabitIQ:7", "Segment", "ShortText")
    found = current_fields(cached_connector(so, cache), CrmObject.COMPANY, wanted)  # the next export
    assert "RabitIQ:7" in {f.name for f in found}  # created since: the next connector looks for it again
    assert metadata_requests(so.sandbox) == first + (first - 3)


def test_a_connector_without_a_cache_reads_live_every_time(so: SoEnv) -> None:
    """The settings screen's connectors: a field the admin just added shows at once."""
    so.connector()[0].fields(CrmObject.COMPANY)
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")
    assert "RabitIQ:3" in {f.name for f in so.connector()[0].fields(CrmObject.COMPANY)}
    assert metadata_requests(so.sandbox) == 6


def test_a_rejected_write_drops_the_cached_metadata_so_the_retry_sees_the_new_mandatory_field(so: SoEnv) -> None:
    cache = MetadataCache(clock=Clock())
    connector = cached_connector(so, cache)
    assert not any(f.required for f in connector.fields(CrmObject.COMPANY) if f.custom)
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:9", "Region", "ShortText", mandatory=True)

    with pytest.raises(CrmRejected):
        connector.create(CrmObject.COMPANY, {"Name": "Refused AS"})

    retry = cached_connector(so, cache)
    region = next(f for f in retry.fields(CrmObject.COMPANY) if f.name == "RabitIQ:9")
    assert region.required
    assert metadata_requests(so.sandbox) == 6


def test_another_crm_account_never_sees_the_first_accounts_fields(so: SoEnv) -> None:
    cache = MetadataCache(clock=Clock())
    cached_connector(so, cache).fields(CrmObject.COMPANY)

    other_ctx = "Cust99999"
    so.sandbox.add_customer(other_ctx, "Other AS", api_host=0)
    so.sandbox.add_user(other_ctx, "admin@other.test", is_admin=True)
    provider = so.provider()
    oauth = provider.oauth()
    code, _state, request = so.authorize(oauth, email="admin@other.test")
    grant = oauth.exchange_code(
        code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce=request.nonce
    )
    context = ConnectionContext(
        tenant_id="tenant-1", crm="superoffice", account_id=grant.account_id, api_base=grant.api_base
    )
    other = provider.connector(context, GrantTokens(oauth, grant))
    other.metadata_cache = cache
    assert "RabitIQ:1" not in {f.name for f in other.fields(CrmObject.COMPANY)}
    assert metadata_requests(so.sandbox, other_ctx) == 3
