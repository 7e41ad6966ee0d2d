"""The SuperOffice connector's two ways of reading a record agree: a change page built from archive rows
(`changes_since`, one `$mode=Full` archive query) gives, for every field an archive column carries, exactly the
`CrmRecord` that `GET /{Entity}/{id}` gives: names, decoded values, `updated_at`, `created_at`, `parent_id`,
`person_id`, `stage_kind`, `url`, `modified_by_us`. Records hold every kind of field: text (non-ASCII), numbers,
dates, booleans, list items, references, e-mail/phone/URL elements, addresses, and custom fields of each udef type,
filled and empty. Through the real sandbox over HTTP, with and without the cells' typed `RawValue` (the encoded
`DisplayValue` alone must decode to the same)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.superoffice.archive_records import GET_ONLY_FIELDS
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.models.crm import CrmObject, CrmRecord
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.grant_tokens import GrantTokens
from tests.support.superoffice_connector import ADMIN_EMAIL, ADMIN_ID, CTX, REDIRECT_URI, SoEnv

OTHER_ID = 9  # a second user: what they change is not leadbridge's

UDEF_TYPES = ("ShortText", "LongText", "Number", "Date", "UnlimitedDate", "Checkbox", "List", "Decimal")
FULL_UDEFS = {
    "ShortText": "Ærø Fiskeri — 北京 ✓",
    "LongText": "Første linje\nAnden linje med «citat» og emoji 🚀",
    "Number": "[I:42]",
    "Date": "[D:05/06/2024]",
    "UnlimitedDate": "[D:12/31/1899]",
    "Checkbox": "[I:1]",
    "List": "[I:2]",
    "Decimal": "[F:1234.5]",
}


@pytest.fixture(scope="module", params=[True, False], ids=["raw-values", "display-values-only"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01, archive_raw_values=request.param) as sb:
        yield sb


@pytest.fixture
def connector(sandbox: SuperOfficeSandbox) -> Iterator[SuperOfficeConnector]:
    sandbox.reset()
    app = sandbox.register_app([REDIRECT_URI])
    sandbox.add_customer(CTX, "Kontrakt ApS", api_host=0)
    sandbox.add_user(CTX, ADMIN_EMAIL, associate_id=ADMIN_ID, full_name="Tony Young", is_admin=True)
    sandbox.add_user(CTX, "other@example.com", associate_id=OTHER_ID, full_name="Åse Øvrebø")
    for entity, prefix in (("contact", "Company"), ("person", "Person"), ("sale", "Sale")):
        for n, kind in enumerate(UDEF_TYPES, start=1):
            items = {1: "Rød", 2: "Grøn ✓"} if kind == "List" else None
            sandbox.define_udef(CTX, entity, f"Test:{n}", f"{prefix} {kind}", kind, list_items=items)
    env = SoEnv(sandbox=sandbox, client_id=app.client_id, client_secret=app.client_secret)
    provider = env.provider()
    oauth, grant = env.connect(provider.oauth())
    context = ConnectionContext(
        tenant_id="tenant-1",
        crm="superoffice",
        account_id=grant.account_id,
        api_base=grant.api_base,
        crm_user_id=grant.user_id,  # the associate leadbridge writes as
    )
    yield provider.connector(context, GrantTokens(oauth, grant))
    violations = [v for v in sandbox.spec_violations if not v.startswith("response ")]
    assert violations == [], "requests violating the SuperOffice spec:\n" + "\n".join(violations)


def _udefs(filled: bool) -> dict[str, str]:
    return {f"Test:{n}": FULL_UDEFS[kind] for n, kind in enumerate(UDEF_TYPES, start=1)} if filled else {}


def _seed(sandbox: SuperOfficeSandbox) -> dict[CrmObject, list[int]]:
    """Full records (written by another user) and empty ones (written by leadbridge's associate)."""
    full = sandbox.create(
        CTX,
        "contact",
        {
            "Name": "Ærø Fiskeri A/S — 北京分公司",
            "Department": "Salg & Marketing",
            "OrgNr": "DK12345678",
            "Number1": "K-001",
            "Number2": "77",
            "Description": "Kunde siden 2019 ✓",
            "Urls": [{"Value": "https://www.ærø-fiskeri.dk"}],
            "Emails": [{"Value": "info@aeroe-fiskeri.dk"}, {"Value": "salg@aeroe-fiskeri.dk"}],
            "Phones": [{"Value": "+45 62 52 00 00"}],
            "Country": {"CountryId": 208},
            "Address": {
                "Street": {"Address1": "Havnegade 1", "Zipcode": "5970", "City": "Ærøskøbing"},
                "Postal": {"Address1": "Postboks 12", "Zipcode": "5960", "City": "Marstal"},
            },
            "Category": {"Id": 2},
            "Business": {"Id": 5},
            "Associate": {"AssociateId": ADMIN_ID},
            "NoMailing": True,
            "CustomFields": _udefs(True),
        },
        as_associate=OTHER_ID,
    )
    empty = sandbox.create(CTX, "contact", {"Name": "Tom ApS"}, as_associate=ADMIN_ID)
    person = sandbox.create(
        CTX,
        "person",
        {
            "Firstname": "Åse",
            "MiddleName": "Marie",
            "Lastname": "Øvrebø-Jensen",
            "Title": "Salgschef",
            "Mrmrs": "Fru",
            "Emails": [{"Value": "ase@aeroe-fiskeri.dk"}],
            "OfficePhones": [{"Value": "+45 62 52 00 01"}],
            "MobilePhones": [{"Value": "+45 20 30 40 50"}],
            "Description": "Foretrækker e-mail",
            "Position": {"Id": 4},
            "Retired": False,
            "NoMailing": True,
            "Country": {"CountryId": 578},
            "Associate": {"AssociateId": ADMIN_ID},
            "Contact": {"ContactId": full["ContactId"]},
            "CustomFields": _udefs(True),
        },
        as_associate=OTHER_ID,
    )
    bare_person = sandbox.create(
        CTX, "person", {"Lastname": "Ingen", "Contact": {"ContactId": empty["ContactId"]}, "Retired": True},
        as_associate=ADMIN_ID,
    )
    sale = sandbox.create(
        CTX,
        "sale",
        {
            "Heading": "Ny båd — fase 2",
            "Amount": 1234567.5,
            "Earning": 200.25,
            "Status": "Sold",
            "Rating": {"Id": 3},
            "Saledate": "2025-03-04T10:20:30",
            "Probability": 100,
            "Associate": {"AssociateId": ADMIN_ID},
            "SaleType": {"Id": 2},
            "SaleText": "Aftalt på messen ✓",
            "Number": "S-42",
            "Contact": {"ContactId": full["ContactId"]},
            "Person": {"PersonId": person["PersonId"]},
            "CustomFields": _udefs(True),
        },
        as_associate=OTHER_ID,
    )
    open_sale = sandbox.create(
        CTX, "sale", {"Heading": "Åben", "Contact": {"ContactId": empty["ContactId"]}, "Status": "Open"},
        as_associate=ADMIN_ID,
    )
    return {
        CrmObject.COMPANY: [full["ContactId"], empty["ContactId"]],
        CrmObject.PERSON: [person["PersonId"], bare_person["PersonId"]],
        CrmObject.DEAL: [sale["SaleId"], open_sale["SaleId"]],
    }


def _without_get_only(obj: CrmObject, record: CrmRecord) -> dict[str, Any]:
    out = record.model_dump()
    out["fields"] = {k: v for k, v in record.fields.items() if k not in GET_ONLY_FIELDS[obj]}
    return out


@pytest.mark.parametrize("obj", [CrmObject.COMPANY, CrmObject.PERSON, CrmObject.DEAL])
def test_archive_rows_build_the_records_get_builds(
    sandbox: SuperOfficeSandbox, connector: SuperOfficeConnector, obj: CrmObject
) -> None:
    ids = _seed(sandbox)[obj]
    connector.custom_fields(obj)  # the field metadata: read once per connection (two requests), not per page
    before = dict(connector.calls)
    page = connector.changes_since(obj, datetime.now(UTC) - timedelta(hours=1))
    calls = {k: v - before.get(k, 0) for k, v in connector.calls.items() if v != before.get(k, 0)}
    entity = {CrmObject.COMPANY: "contact", CrmObject.PERSON: "person", CrmObject.DEAL: "sale"}[obj]
    assert calls == {f"{entity}.changes": 1}  # one archive query for the page: no per-record read

    by_id = {r.id: r for r in page.records}
    assert sorted(by_id) == sorted(str(i) for i in ids)
    for record_id in by_id:
        got = connector.get(obj, record_id)
        assert _without_get_only(obj, by_id[record_id]) == _without_get_only(obj, got)
        # Only the documented fields are left to GET; every custom field comes with the row.
        assert set(got.fields) - set(by_id[record_id].fields) == set(GET_ONLY_FIELDS[obj]) & set(got.fields)

    full, empty = (by_id[str(i)] for i in ids)
    # The values are decoded, not merely equal: spot-check each kind on the full record and the empty one.
    assert full.fields["Test:1"] == FULL_UDEFS["ShortText"] and full.fields["Test:3"] == 42
    assert full.fields["Test:4"] == datetime(2024, 5, 6).date() and full.fields["Test:6"] is True
    assert full.fields["Test:7"] == "2" and full.fields["Test:8"] == 1234.5
    assert empty.fields["Test:1"] == "" and empty.fields["Test:3"] == 0 and empty.fields["Test:4"] is None
    assert empty.fields["Test:6"] is False and empty.fields["Test:7"] is None and empty.fields["Test:8"] == 0.0
    assert full.fields["Owner"] == str(ADMIN_ID)
    assert full.modified_by_us is False and empty.modified_by_us is True  # who changed it last (echo guard)
    assert full.updated_at is not None and full.updated_at.tzinfo is not None and full.url
    if obj == CrmObject.COMPANY:
        assert full.fields["Name"] == "Ærø Fiskeri A/S — 北京分公司" and full.fields["StreetCity"] == "Ærøskøbing"
        assert full.fields["Category"] == "2" and full.fields["CountryId"] == "208" and full.fields["NoMailing"]
        assert full.fields["Email"] == "info@aeroe-fiskeri.dk" and empty.fields["Email"] is None
    if obj == CrmObject.PERSON:
        assert full.parent_id == str(ids_of_company(sandbox)) and full.fields["Position"] == "4"
        assert empty.fields["Retired"] is True and empty.fields["Position"] is None
    if obj == CrmObject.DEAL:
        assert full.stage_kind is not None and full.stage_kind.value == "won" and empty.stage_kind.value == "open"
        assert full.fields["Saledate"] == datetime(2025, 3, 4, 10, 20, 30) and full.fields["Stage"] == "3"
        assert full.fields["Amount"] == 1234567.5 and full.person_id is not None


def ids_of_company(sandbox: SuperOfficeSandbox) -> int:
    return min(sandbox.customer(CTX).records["contact"])


def test_a_custom_field_deleted_since_its_metadata_was_read_is_dropped_not_fatal(
    sandbox: SuperOfficeSandbox, connector: SuperOfficeConnector
) -> None:
    ids = _seed(sandbox)[CrmObject.COMPANY]
    connector.custom_fields(CrmObject.COMPANY)  # cached with Test:1..8
    sandbox.remove_udef(CTX, "contact", "Test:8")  # the archive now refuses `contactUdef/Test:8`
    page = connector.changes_since(CrmObject.COMPANY, datetime.now(UTC) - timedelta(hours=1))
    assert sorted(r.id for r in page.records) == sorted(str(i) for i in ids)
    assert all("Test:8" not in r.fields and "Test:7" in r.fields for r in page.records)
