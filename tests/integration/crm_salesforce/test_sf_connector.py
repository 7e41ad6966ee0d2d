"""The Salesforce connector against the sandbox over real HTTP: metadata, checks before writes, CRUD, search,
incremental reads, deletions, batches, Lead mode, error translation, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadbridge.errors import (
    CrmNotFound,
    CrmRejected,
    CrmUnavailable,
    InvalidCursor,
    RateLimited,
    RefusedBeforeWrite,
)
from leadbridge.models.crm import CrmObject, FieldType, StageKind
from tests.support.salesforce_connector import SfEnv


def test_fields_come_from_describe(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    company = {f.name: f for f in connector.fields(CrmObject.COMPANY)}
    assert company["Name"].required and company["Name"].length == 255 and company["Name"].type is FieldType.STRING
    assert company["Score__c"].custom and company["Score__c"].type is FieldType.DECIMAL
    assert company["Website"].type is FieldType.URL and not company["SystemModstamp"].updateable
    assert "Id" not in company
    deal = {f.name: f for f in connector.fields(CrmObject.DEAL)}
    assert deal["StageName"].restricted_picklist and deal["StageName"].required
    assert "Closed Won" in [v.value for v in deal["StageName"].picklist]
    connector.fields(CrmObject.COMPANY)
    assert connector.calls["account.describe"] == 1  # describe is read once per connector


def test_stages_and_users(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    stages = {s.id: s for s in connector.stages()}
    assert stages["Closed Won"].kind is StageKind.WON and stages["Closed Lost"].kind is StageKind.LOST
    assert stages["Prospecting"].kind is StageKind.OPEN and stages["Prospecting"].probability == 10
    assert [u.email for u in connector.users()] == ["ada@acme.test"]
    lead_mode, _ = sf.connector({"company": "Lead"})
    statuses = [s for s in lead_mode.stages() if s.group == "status"]
    assert {s.id: s.kind for s in statuses}["Closed - Converted"] is StageKind.WON


def test_invalid_writes_are_refused_before_any_http_write(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Account", "Region__c", "picklist", picklist=["North", "South"],
                                restricted=True, required=True)
    connector, _ = sf.connector()
    with pytest.raises(CrmRejected) as missing:
        connector.create(CrmObject.COMPANY, {"Website": "acme.dk"})
    assert missing.value.fields == ["Name", "Region__c"]
    assert "Account.Name is required" in missing.value.reason
    with pytest.raises(CrmRejected) as picklist:
        connector.create(CrmObject.COMPANY, {"Name": "Acme", "Region__c": "East"})
    assert picklist.value.fields == ["Region__c"] and "North, South" in picklist.value.reason
    with pytest.raises(CrmRejected) as long:
        connector.create(CrmObject.COMPANY, {"Name": "x" * 256, "Region__c": "North"})
    assert long.value.fields == ["Name"] and "at most 255" in long.value.reason
    with pytest.raises(CrmRejected) as read_only:
        connector.create(CrmObject.COMPANY, {"Name": "Acme", "Region__c": "North", "SystemModstamp": "x"})
    assert read_only.value.fields == ["SystemModstamp"]
    assert sf.writes() == 0


def test_crud_search_and_persons(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Acme A/S", "Website": "https://www.acme.dk",
                                                   "AccountNumber": "12345678", "Score__c": 81})
    assert company.id.startswith("001") and company.url == (
        f"{sf.sandbox.instance_url}/lightning/r/Account/{company.id}/view")
    person = connector.create(CrmObject.PERSON, {"FirstName": "Anne", "LastName": "Hansen",
                                                 "Email": "anne@acme.dk"}, parent_id=company.id)
    assert sf.sandbox.get(sf.org_id, "Contact", person.id)["AccountId"] == company.id
    got = connector.get(CrmObject.COMPANY, company.id)
    assert got.fields["Score__c"] == 81 and got.fields["Name"] == "Acme A/S"
    assert got.updated_at is not None and got.updated_at.tzinfo is not None
    by_nr = connector.search_companies(org_nr="12345678")
    by_name = connector.search_companies(name="acme")
    by_domain = connector.search_companies(domain="acme.dk")
    assert [r.id for r in by_nr] == [r.id for r in by_name] == [r.id for r in by_domain] == [company.id]
    assert by_domain[0].fields["Website"] == "https://www.acme.dk"
    assert connector.search_companies(name="Nobody") == []
    assert sf.sandbox.call_counts(sf.org_id)["GET /query"] == 4  # one query per search
    persons = connector.list_persons(company.id)
    assert [p.fields["Email"] for p in persons] == ["anne@acme.dk"] and persons[0].parent_id == company.id
    connector.update(CrmObject.COMPANY, company.id, {"Score__c": 90, "Website": ""})
    stored = sf.sandbox.get(sf.org_id, "Account", company.id)
    assert stored["Score__c"] == 90 and stored["Website"] is None
    connector.delete(CrmObject.PERSON, person.id)
    with pytest.raises(CrmNotFound):
        connector.get(CrmObject.PERSON, person.id)
    with pytest.raises(CrmRejected):
        connector.get(CrmObject.PERSON, "not-an-id")


def test_deal_outcome_and_server_side_rejection(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    account = connector.create(CrmObject.COMPANY, {"Name": "Acme"})
    deal = connector.create(CrmObject.DEAL, {"Name": "Big deal", "StageName": "Closed Won",
                                             "CloseDate": datetime(2030, 1, 1).date()}, parent_id=account.id)
    got = connector.get(CrmObject.DEAL, deal.id)
    assert got.stage_kind is StageKind.WON and got.parent_id == account.id
    connector.update(CrmObject.DEAL, deal.id, {"StageName": "Closed Lost"})
    assert connector.get(CrmObject.DEAL, deal.id).stage_kind is StageKind.LOST
    # A reference the describe checks cannot judge: Salesforce's own error, translated with its field.
    with pytest.raises(CrmRejected) as refused:
        connector.create(CrmObject.PERSON, {"LastName": "X"}, parent_id="001000000000999AAA")
    assert refused.value.fields == ["AccountId"] and "MALFORMED_ID" in refused.value.reason


def test_changes_since_pages_with_next_records_url_and_is_inclusive(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = [connector.create(CrmObject.COMPANY, {"Name": f"Co {i}"}).id for i in range(5)]
    first = connector.changes_since(CrmObject.COMPANY, before)
    assert [r.id for r in first.records] == ids[:3] and first.next_page_token
    second = connector.changes_since(CrmObject.COMPANY, before, first.next_page_token)
    assert [r.id for r in second.records] == ids[3:] and second.next_page_token is None
    last_stamp = second.records[-1].updated_at
    assert last_stamp is not None
    again = connector.changes_since(CrmObject.COMPANY, last_stamp)
    assert [r.id for r in again.records] == [ids[-1]]  # `since` is inclusive
    with pytest.raises(InvalidCursor):
        connector.changes_since(CrmObject.COMPANY, before, "id:42")


def test_deleted_since_and_all_ids(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    start = datetime.now(UTC) - timedelta(minutes=1)
    ids = [connector.create(CrmObject.COMPANY, {"Name": f"Co {i}"}).id for i in range(4)]
    connector.delete(CrmObject.COMPANY, ids[2])
    assert connector.deleted_since(CrmObject.COMPANY, start) == [ids[2]]
    assert connector.deleted_since(CrmObject.COMPANY, start - timedelta(days=40)) == [ids[2]]  # clamped window
    assert sorted(connector.all_ids(CrmObject.COMPANY)) == sorted([ids[0], ids[1], ids[3]])


def test_create_many_is_one_round_trip_with_per_record_results(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    account = connector.create(CrmObject.COMPANY, {"Name": "Acme"})
    before = sf.writes()
    results = connector.create_many(CrmObject.PERSON, [
        {"LastName": "Hansen", "Email": "a@acme.dk"},
        {"FirstName": "No last name"},
        {"LastName": "Berg", "Email": "broken"},
    ], parent_id=account.id)
    assert sf.writes() - before == 1
    assert not isinstance(results[0], Exception) and results[0].id.startswith("003")
    assert isinstance(results[1], CrmRejected) and results[1].fields == ["LastName"]
    assert isinstance(results[2], CrmRejected) and "INVALID_EMAIL_ADDRESS" in results[2].reason
    assert [p.fields["LastName"] for p in connector.list_persons(account.id)] == ["Hansen"]


def test_lead_mode_company_and_persons(sf: SfEnv) -> None:
    connector, _ = sf.connector({"company": "Lead"})
    lead = connector.create(CrmObject.COMPANY, {"Company": "Acme A/S", "Website": "acme.dk"})
    assert sf.sandbox.get(sf.org_id, "Lead", lead.id)["LastName"] == "[not provided]"
    assert connector.list_persons(lead.id) == []
    first = connector.create(CrmObject.PERSON, {"FirstName": "Anne", "LastName": "Hansen"}, parent_id=lead.id)
    assert first.id == lead.id and sf.sandbox.get(sf.org_id, "Lead", lead.id)["Name"] == "Anne Hansen"
    # A Lead holds one person: writing a person under it writes onto the Lead, never a second (unlinked) Lead.
    again = connector.create(CrmObject.PERSON, {"LastName": "Berg", "Email": "b@acme.dk"}, parent_id=lead.id)
    assert again.id == lead.id and [r["Id"] for r in sf.sandbox.all_records(sf.org_id, "Lead")] == [lead.id]
    assert [p.fields["LastName"] for p in connector.list_persons(lead.id)] == ["Berg"]
    assert [r.id for r in connector.search_companies(name="Acme")] == [lead.id]


def test_search_uses_the_fields_the_caller_names(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Account", "CVR__c", "string", length=20)
    sf.sandbox.add_custom_field(sf.org_id, "Account", "Domain__c", "string")
    connector, _ = sf.connector()
    fjord = connector.create(CrmObject.COMPANY, {"Name": "Fjord Byg ApS", "CVR__c": "12345678",
                                                 "AccountNumber": "999", "Domain__c": "fjordbyg.dk"})
    by_cvr = connector.search_companies(org_nr="12345678", org_nr_field="CVR__c")
    assert [r.id for r in by_cvr] == [fjord.id] and by_cvr[0].fields["CVR__c"] == "12345678"
    assert connector.search_companies(org_nr="12345678") == []  # the default field is AccountNumber
    assert [r.id for r in connector.search_companies(org_nr="999")] == [fjord.id]
    by_domain = connector.search_companies(domain="www.fjordbyg.dk", domain_field="Domain__c")
    assert [r.id for r in by_domain] == [fjord.id] and by_domain[0].fields["Domain__c"] == "fjordbyg.dk"
    assert connector.search_companies(domain="fjordbyg.dk") == []  # Website is empty
    quoted = connector.search_companies(org_nr="1' OR Name != '", org_nr_field="CVR__c")
    assert quoted == []  # the value stays a SOQL string


def test_search_refuses_a_field_it_cannot_search_before_querying(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Account", "Notes__c", "textarea")  # long text area: not filterable
    connector, _ = sf.connector()
    queries = sf.sandbox.call_counts(sf.org_id).get("GET /query", 0)
    with pytest.raises(RefusedBeforeWrite) as unknown:
        connector.search_companies(org_nr="12345678", org_nr_field="CVR__c")
    assert unknown.value.errors[0]["loc"] == ["settings", "matching", "org_nr_field"]
    assert "Account has no field 'CVR__c'" in unknown.value.message
    with pytest.raises(RefusedBeforeWrite) as long_text:
        connector.search_companies(domain="acme.dk", domain_field="Notes__c")
    assert long_text.value.errors[0]["loc"] == ["settings", "matching", "domain_field"]
    assert "Account.Notes__c (textarea) cannot be searched" in long_text.value.message
    with pytest.raises(RefusedBeforeWrite):
        connector.search_companies(org_nr="1", org_nr_field="NumberOfEmployees")  # a number, not text
    assert connector.search_companies(org_nr_field="AccountNumber", domain_field="Website") == []  # only checked
    assert sf.sandbox.call_counts(sf.org_id).get("GET /query", 0) == queries


def test_lead_mode_searches_no_org_number_unless_named(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Lead", "CVR__c", "string", length=20)
    connector, _ = sf.connector({"company": "Lead"})
    lead = connector.create(CrmObject.COMPANY, {"Company": "Fjord Byg", "CVR__c": "12345678"})
    assert connector.search_companies(org_nr="12345678") == []  # a Lead has no standard org-number field
    assert [r.id for r in connector.search_companies(org_nr="12345678", org_nr_field="CVR__c")] == [lead.id]


def test_unavailable_is_retried_and_limits_back_off(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    sf.sandbox.inject_fault("503", count=2, path_prefix="/query")
    assert connector.users()
    assert sf.sleeps == [0.25, 0.5]  # full jitter at rand=0.5 over 0.5 s, 1 s
    sf.sleeps.clear()
    sf.sandbox.inject_fault("403", count=1, path_prefix="/sobjects/Account", method="POST")
    connector.create(CrmObject.COMPANY, {"Name": "After one refusal"})
    assert sf.sleeps == [0.25]
    sf.sandbox.inject_fault("403", count=None, path_prefix="/sobjects/Account", method="POST")
    with pytest.raises(RateLimited):
        connector.create(CrmObject.COMPANY, {"Name": "Never"})
    sf.sandbox.clear_faults()
    sf.sandbox.inject_fault("503", count=None, path_prefix="/query")
    with pytest.raises(CrmUnavailable):
        connector.users()


def test_quota_is_read_from_every_answer(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    assert connector.quota_remaining is None
    sf.sandbox.set_api_usage(sf.org_id, 9_000, limit=10_000)
    connector.users()
    assert connector.api_usage == (9_001, 10_000) and connector.quota_remaining == 999


def test_webhook_registration_describes_the_manual_setup(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    registration = connector.register_webhook("https://lb.example/webhooks/salesforce/key123", "secret")
    assert registration.state == "ManualSetupRequired" and not registration.active
    assert registration.url.endswith("/key123") and registration.events == ["Account", "Contact", "Opportunity"]
    assert registration.setup_steps and "Outbound Message" in registration.setup_steps[1]
    with pytest.raises(NotImplementedError):  # the webhook health check then leaves it alone
        connector.list_webhooks()
    connector.unregister_webhook(registration.id)
    assert sf.writes() == 0


def test_default_settings_fit_a_standard_org(sf: SfEnv) -> None:
    from leadbridge.crm.defaults import default_settings
    from leadbridge.mapping import Metadata, validate_settings

    connector, _ = sf.connector()
    doc = default_settings("salesforce")
    report = validate_settings(doc, Metadata.for_document(connector, doc), crm_label="Salesforce")
    assert report.errors == []
    # The lead score field is optional until the admin creates it; Score__c exists, Lead_Score__c does not.
    assert [m.crm_field for m in report.missing] == ["Lead_Score__c"]
