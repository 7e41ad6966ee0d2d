"""`SuperOfficeConnector.search_companies`: one OR-ed contact archive query for every match criterion, against the
SuperOffice sandbox over loopback HTTP (requests counted by the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadbridge.crm.metadata_cache import MetadataCache
from leadbridge.errors import RefusedBeforeWrite
from leadbridge.models.crm import CrmObject
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.superoffice_connector import ADMIN_EMAIL, CTX, REDIRECT_URI, SoEnv

SEARCH = "GET /api/v1/Contact"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as sb:
        yield sb


@pytest.fixture
def so(sandbox: SuperOfficeSandbox) -> Iterator[SoEnv]:
    sandbox.reset()
    app = sandbox.register_app([REDIRECT_URI])
    sandbox.add_customer(CTX, "Search AS", api_host=0)
    sandbox.add_user(CTX, ADMIN_EMAIL, is_admin=True)
    yield SoEnv(sandbox=sandbox, client_id=app.client_id, client_secret=app.client_secret)
    sandbox.clear_faults()
    assert [v for v in sandbox.spec_violations if not v.startswith("response ")] == []


def searches(so: SoEnv) -> int:
    return so.sandbox.call_counts(CTX).get(SEARCH, 0)


def test_every_criterion_in_one_query_org_number_first_then_name_then_domain(so: SoEnv) -> None:
    connector, _ = so.connector()
    by_domain = connector.create(CrmObject.COMPANY, {"Name": "Webshop ApS", "Url": "https://www.fjord.dk/shop"})
    by_mail = connector.create(CrmObject.COMPANY, {"Name": "Mail ApS", "Email": "info@fjord.dk"})
    by_name = connector.create(CrmObject.COMPANY, {"Name": "Fjord Fisk A/S"})
    longer_org = connector.create(CrmObject.COMPANY, {"Name": "Unrelated AS", "OrgNr": "123456789"})
    by_org = connector.create(CrmObject.COMPANY, {"Name": "Something Else", "OrgNr": "12345678"})
    connector.create(CrmObject.COMPANY, {"Name": "Nothing In Common", "Email": "x@fjordby.no"})
    before = searches(so)

    found = connector.search_companies(org_nr="12345678", name="Fjord", domain="www.fjord.dk")

    assert searches(so) - before == 1
    ids = [r.id for r in found]
    assert ids[0] == by_org.id  # the exact org number first
    assert ids[1] == by_name.id
    assert set(ids[2:]) == {by_domain.id, by_mail.id}
    assert longer_org.id not in ids  # only its org number's prefix matched: another company
    assert found[0].fields["OrgNr"] == "12345678" and found[1].fields["Name"] == "Fjord Fisk A/S"


def test_quotes_in_values_cannot_change_the_combined_query(so: SoEnv) -> None:
    connector, _ = so.connector()
    obrien = connector.create(CrmObject.COMPANY, {"Name": "O'Brien's Bar", "Url": "https://obrien.ie"})
    connector.create(CrmObject.COMPANY, {"Name": "Other Bar"})
    found = connector.search_companies(org_nr="1' or name begins '", name="O'Brien", domain="obrien.ie")
    assert [r.id for r in found] == [obrien.id]


def test_a_combined_answer_that_fills_top_is_searched_again_one_criterion_at_a_time(so: SoEnv) -> None:
    connector, _ = so.connector()
    for n in range(12):  # more name matches than the combined query's $top (limit 2 x 5)
        connector.create(CrmObject.COMPANY, {"Name": f"Acme {n:02d}"})
    exact = connector.create(CrmObject.COMPANY, {"Name": "Zulu Holding", "OrgNr": "99887766"})
    before = searches(so)

    found = connector.search_companies(org_nr="99887766", name="Acme", limit=2)

    assert found[0].id == exact.id and len(found) == 2  # the org number match was not crowded out
    assert searches(so) - before == 3  # the combined query, then org number and name on their own


def test_an_api_refusing_the_or_filter_gets_one_query_per_criterion_and_that_is_remembered(so: SoEnv) -> None:
    cache = MetadataCache()
    connector, _ = so.connector()
    connector.metadata_cache = cache
    company = connector.create(CrmObject.COMPANY, {"Name": "Refusal AS", "OrgNr": "55443322"})
    so.sandbox.inject_fault(400, count=1, path_prefix="/api/v1/Contact", method="GET", ctx=CTX)
    before = searches(so)

    assert [r.id for r in connector.search_companies(org_nr="55443322", name="Refusal")] == [company.id]
    assert searches(so) - before == 3  # refused combined query, then org number, then name

    again, _ = so.connector()
    again.metadata_cache = cache  # the next export in this container
    assert [r.id for r in again.search_companies(org_nr="55443322", name="Refusal")] == [company.id]
    assert searches(so) - before == 5  # no combined query tried again


def test_one_criterion_is_one_plain_query(so: SoEnv) -> None:
    connector, _ = so.connector()
    acme = connector.create(CrmObject.COMPANY, {"Name": "Acme AS", "OrgNr": "913456789"})
    before = searches(so)
    assert [r.id for r in connector.search_companies(name="Acme")] == [acme.id]
    assert connector.search_companies() == []
    assert searches(so) - before == 1


def test_a_text_user_defined_field_can_hold_the_org_number(so: SoEnv) -> None:
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:40", "CVR", "ShortText")
    connector, _ = so.connector()
    fjord = connector.create(CrmObject.COMPANY, {"Name": "Fjord Byg ApS", "RabitIQ:40": "12345678", "OrgNr": "1"})
    connector.create(CrmObject.COMPANY, {"Name": "Longer AS", "RabitIQ:40": "123456789"})
    before = searches(so)

    found = connector.search_companies(org_nr="12345678", name="Nobody", org_nr_field="RabitIQ:40")

    assert [r.id for r in found] == [fjord.id]  # the longer number only shares a prefix
    assert found[0].fields["RabitIQ:40"] == "12345678"  # the ranking compares it
    assert searches(so) - before == 1
    assert connector.search_companies(org_nr="12345678", name="Nobody") == []  # the default field is OrgNr


def test_a_field_the_archive_cannot_search_is_refused_before_any_query(so: SoEnv) -> None:
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:41", "Employees", "Number")
    connector, _ = so.connector()
    before = searches(so)
    for field, why in (("RabitIQ:41", "holds integer values"), ("x_cvr", "no company field 'x_cvr'"),
                       ("Department", "no company field 'Department'")):  # fmt: skip
        with pytest.raises(RefusedBeforeWrite) as refused:
            connector.search_companies(org_nr="12345678", org_nr_field=field)
        assert why in refused.value.message
        assert refused.value.errors[0]["loc"] == ["settings", "matching", "org_nr_field"]
    assert connector.search_companies(org_nr_field="OrgNr", domain_field="Email") == []  # only checked
    assert searches(so) == before


def test_the_domain_field_replaces_the_web_address_column(so: SoEnv) -> None:
    connector, _ = so.connector()
    by_mail = connector.create(CrmObject.COMPANY, {"Name": "Mail ApS", "Email": "info@fjord.dk"})
    connector.create(CrmObject.COMPANY, {"Name": "Webshop ApS", "Url": "https://fjord.dk"})
    assert [r.id for r in connector.search_companies(domain="fjord.dk", domain_field="Email")] == [by_mail.id]
