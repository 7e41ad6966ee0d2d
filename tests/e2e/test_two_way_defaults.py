"""Two-way defaults, stages both ways and field ownership (issue 17, findings 2-4), end to end for SuperOffice and
Salesforce: a tenant connected through the real OAuth flow, settings saved and leads exported or sent as lead events
over HTTP, runs started with `POST /sync-runs` and executed by SyncWorkerFunction from the SyncQueue (the local pump,
stepped by the test), CRM-side edits made in the sandboxes as a CRM user would, and what the app sees read back over
HTTP (`GET /changes`, `GET /sync-log`) and from the bus (an EventBridge rule into a capture queue in moto).

- With the default settings (objects and writable fields `both`), a CRM edit of a company field and a deal's stage
  come back to the app, the stage as the app's stage (`LeadWon` on won), a stage no mapping covers as `stage: null`
  with the CRM value in `unmapped_crm_stage` and a note in the sync log.
- A SuperOffice Sale leadbridge moves to a new stage gets that stage's probability.
- Two CRM fields feeding one app field are refused (422 naming both) unless each has a `precedence`.
- Export `link` to an existing CRM company leaves `never` fields, filled `fill_empty` fields and the owner alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.app_driver import SO_STAGES, AppDriver, feed_shows_changes_at_once, stack  # noqa: F401
from tests.support.lead_documents import lead
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env

SO_TENANT = "acme-two-way"
SELLER, DEFAULT_OWNER = 305, 306  # SuperOffice associates: an existing company's owner, the default owner


class App(AppDriver):
    """What the app does and sees for one tenant: the HTTP API, the bus and the change feed."""

    queue_prefix = "two-way-capture"

    def last_change(self, change_type: str, crm_id: str) -> dict[str, Any]:
        """The newest change of `change_type` for `crm_id` in the feed."""
        found = [c for c in self.feed() if c["type"] == change_type and c["crm_id"] == crm_id]
        assert found, f"no {change_type} for {crm_id} in the feed"
        return found[-1]


def sync_edit(app: App, edit: Callable[[], None]) -> tuple[list[dict[str, Any]], list[str]]:
    """Make a CRM-side edit, run the sync; the feed changes it added and the bus event types it published."""
    before = {c["id"] for c in app.feed()}
    app.bus()
    edit()
    app.run()
    return [c for c in app.feed() if c["id"] not in before], [e["detail-type"] for e in app.bus()]


# --- SuperOffice ---------------------------------------------------------------------------------------------------


@pytest.fixture
def so(env: Env) -> Iterator[App]:
    env.sandbox.add_user(CTX, "seller@cust40001.test", associate_id=SELLER, full_name="Sam Seller")
    env.sandbox.add_user(CTX, "default@cust40001.test", associate_id=DEFAULT_OWNER, full_name="Dina Default")
    env.connect(SO_TENANT)
    with env.sandbox.lock:  # only the scheduled sync brings changes here (webhooks have their own tests)
        env.sandbox.customers[CTX].webhooks.clear()
    yield App(env.stack, env.http, SO_TENANT, "superoffice", lambda role: env.auth(SO_TENANT, role))


def test_superoffice_defaults_bring_a_company_edit_and_the_deal_stage_back_in_app_terms(so: App, env: Env) -> None:
    so.configure(status_mapping=SO_STAGES)  # only the pipeline: objects and fields as the defaults have them
    defaults = so.settings()
    assert {o: defaults["objects"][o]["direction"] for o in ("company", "person", "deal")} == {
        "company": "both", "person": "both", "deal": "both"}  # fmt: skip
    so.run()  # the first run: from now on
    created = so.event("stage_changed", lead("TW-1", stage="Lead"), stage="Lead")
    company, sale = created["company"]["crm_id"], created["deal"]["crm_id"]
    so.run()  # reads back leadbridge's own writes

    def edit() -> None:
        env.sandbox.update(CTX, "contact", int(company), {"Department": "Fiskeri"})
        env.sandbox.update(CTX, "sale", int(sale), {"Rating": {"Id": 3}})

    changes, published = sync_edit(so, edit)

    company_change = next(c for c in changes if c["type"] == "CompanyChanged" and c["crm_id"] == company)
    deal_change = next(c for c in changes if c["type"] == "DealChanged" and c["crm_id"] == sale)
    assert company_change["fields"]["industry"] == "Fiskeri" and "industry" in company_change["changed_fields"]
    assert deal_change["fields"]["stage"] == "Proposal" and "stage" in deal_change["changed_fields"]
    assert "unmapped_crm_stage" not in deal_change["fields"] and deal_change["lead_id"] == "TW-1"
    assert {"CompanyChanged", "DealChanged"} <= set(published) and "LeadWon" not in published

    won, published = sync_edit(so, lambda: env.sandbox.update(CTX, "sale", int(sale), {"Status": "Sold"}))

    assert [(c["type"], c["fields"].get("stage")) for c in won if c["crm_id"] == sale] == [
        ("DealChanged", "Won"), ("LeadWon", "Won")]  # fmt: skip
    assert "LeadWon" in published

    reopened, _ = sync_edit(so, lambda: env.sandbox.update(CTX, "sale", int(sale), {"Status": "Open",
                                                                                     "Rating": {"Id": 5}}))  # fmt: skip

    [unmapped] = [c for c in reopened if c["type"] == "DealChanged" and c["crm_id"] == sale]
    assert unmapped["fields"]["stage"] is None and unmapped["fields"]["unmapped_crm_stage"] == "5"
    entry = next(e for e in so.sync_log() if e["object"] == "deal" and e["crm_id"] == sale
                 and any(s["field"] == "stage" for s in e["fields_skipped"]))  # fmt: skip
    assert entry["direction"] == "from_crm"
    [note] = [s for s in entry["fields_skipped"] if s["field"] == "stage"]
    assert note["reason"].startswith("stage_not_mapped") and "'5'" in note["reason"]


def test_superoffice_a_sale_moved_to_a_new_stage_gets_the_stage_probability(so: App, env: Env) -> None:
    so.configure(status_mapping=SO_STAGES)
    created = so.event("stage_changed", lead("TW-2", stage="Lead"), stage="Lead")
    sale = int(created["deal"]["crm_id"])
    assert env.sandbox.get(CTX, "sale", sale)["Probability"] == 10

    qualified = so.event("stage_changed", lead("TW-2", stage="Qualified"), stage="Qualified")
    assert sorted(qualified["deal"]["fields_written"]) == ["Probability", "Stage"]
    assert (env.sandbox.get(CTX, "sale", sale)["Rating"]["Id"], env.sandbox.get(CTX, "sale", sale)["Probability"]) \
        == (2, 25)  # fmt: skip

    so.event("stage_changed", lead("TW-2", stage="Negotiation"), stage="Negotiation")
    assert env.sandbox.get(CTX, "sale", sale)["Probability"] == 75


def duplicate_name_sources(app: App, name_field: str, second: str, **extra: Any) -> httpx.Response:
    mappings = app.settings()["field_mappings"]
    mappings["company"] = [
        {"app_fields": ["company_name"], "crm_field": name_field, "direction": "both", **extra},
        {"app_fields": ["company_name"], "crm_field": second, "direction": "both",
         **({"precedence": 2} if extra else {})},
    ]  # fmt: skip
    return app.patch(field_mappings=mappings)


def assert_refused_naming_both(response: httpx.Response, first: str, second: str) -> None:
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["error"]["details"]["errors"] if e["type"] == "duplicate_inbound_source"]
    assert error["path"] == "field_mappings.company[1].precedence"
    assert f"field_mappings.company[0] ('{first}', both)" in error["message"]
    assert f"field_mappings.company[1] ('{second}', both)" in error["message"]


def test_superoffice_two_crm_fields_into_one_app_field_are_refused_unless_precedence_is_set(so: App) -> None:
    version = so.settings()["version"]

    refused = duplicate_name_sources(so, "Name", "Department")

    assert_refused_naming_both(refused, "Name", "Department")
    assert so.settings()["version"] == version  # nothing saved
    accepted = duplicate_name_sources(so, "Name", "Department", precedence=1)
    assert accepted.status_code == 200, accepted.text


def test_superoffice_link_with_fill_empty_and_never_keeps_existing_values_and_owner(so: App, env: Env) -> None:
    existing = env.sandbox.create(CTX, "contact", {
        "Name": "Havblik Gamle Navn A/S", "Department": "Eksisterende afdeling",
        "Address": {"Street": {"City": "Gammel By"}}, "Associate": {"AssociateId": SELLER}})  # fmt: skip
    ida = env.sandbox.create(CTX, "person", {
        "Contact": {"ContactId": existing["ContactId"]}, "Firstname": "Ida", "Lastname": "Holm", "Title": "Indkøber",
        "Emails": [{"Value": "ida@havblik-tw-3.dk"}], "Associate": {"AssociateId": SELLER}})  # fmt: skip
    mappings = so.settings()["field_mappings"]
    for mapping in mappings["company"]:
        mapping["on_existing"] = {"Name": "never", "Department": "fill_empty", "Url": "fill_empty"}.get(
            mapping["crm_field"], "overwrite"
        )
    for mapping in mappings["person"]:
        mapping["on_existing"] = "never" if mapping["crm_field"] == "Title" else "overwrite"
    so.configure(field_mappings=mappings, owners={"default_crm_user": str(DEFAULT_OWNER)})
    ceo = {"id": "c1", "name": "Ida Holm", "email": "ida@havblik-tw-3.dk", "title": "CEO"}
    document = lead("TW-3", industry="Fiskeri", city="Ny By", contacts=[ceo])

    exported = so.export(document, mode="link", crm_company_id=str(existing["ContactId"]))

    contact = env.sandbox.get(CTX, "contact", existing["ContactId"])
    assert (contact["Name"], contact["Department"]) == ("Havblik Gamle Navn A/S", "Eksisterende afdeling")
    assert [u["Value"] for u in contact["Urls"]] == [document["website"]]  # filled: it was empty
    assert contact["Address"]["Street"]["City"] == "Ny By"  # `overwrite` (the default, seed 002): updated
    assert contact["Associate"]["AssociateId"] == SELLER  # not the default owner
    skipped = {s["field"]: s["reason"] for s in exported["fields_skipped"]}
    assert {skipped.get("Name"), skipped.get("Department"), skipped.get("Owner")} == {"on_existing"}
    assert "Url" in exported["fields_written"] and "StreetCity" in exported["fields_written"]
    # The CRM's own person, matched by e-mail: its title (`never`) and its owner stay.
    [person] = exported["persons"]
    assert (person["crm_id"], person["matched_by"]) == (str(ida["PersonId"]), "email")
    ida_now = env.sandbox.get(CTX, "person", ida["PersonId"])
    assert (ida_now["Title"], ida_now["Associate"]["AssociateId"]) == ("Indkøber", SELLER)


# --- Salesforce ----------------------------------------------------------------------------------------------------


class SfOrg:
    def __init__(self, connected: SfConnect) -> None:
        self.sb = connected.sandbox
        self.org = connected.org_id
        self.rep = self.sb.add_user(self.org, f"rita-{uuid.uuid4().hex[:6]}@sf-two-way.test", name="Rita Rep")

    def edit(self, sobject: str, crm_id: str, values: dict[str, Any]) -> None:
        self.sb.update(self.org, sobject, crm_id, values, actor=self.rep)


@pytest.fixture
def sf(sfc: SfConnect) -> Iterator[App]:
    sfc.connect()
    yield App(sfc.stack, sfc.http, SF_TENANT, "salesforce", lambda role: sfc.auth(SF_TENANT, role))


@pytest.fixture
def org(sfc: SfConnect) -> SfOrg:
    return SfOrg(sfc)


def sf_lead(lead_id: str, **overrides: Any) -> dict[str, Any]:
    return lead(lead_id, companyName=f"Nordlys Solar {lead_id} ApS", website=f"https://nordlys-{lead_id.lower()}.dk",
                expectedClose="2026-09-30", **overrides)  # fmt: skip


def test_salesforce_defaults_bring_a_company_edit_and_the_opportunity_stage_back_in_app_terms(
    sf: App, org: SfOrg
) -> None:
    sf.run()  # the first run: from now on
    created = sf.event("stage_changed", sf_lead("SW-1", stage="Lead"), stage="Lead")  # the default settings
    account, opportunity = created["company"]["crm_id"], created["deal"]["crm_id"]
    assert org.sb.get(org.org, "Opportunity", opportunity)["StageName"] == "Prospecting"
    sf.run()  # reads back leadbridge's own writes

    def edit() -> None:
        org.edit("Account", account, {"Website": "https://nordlys-solar.dk"})
        org.edit("Opportunity", opportunity, {"StageName": "Negotiation/Review"})

    changes, published = sync_edit(sf, edit)

    company_change = next(c for c in changes if c["type"] == "CompanyChanged" and c["crm_id"] == account)
    deal_change = next(c for c in changes if c["type"] == "DealChanged" and c["crm_id"] == opportunity)
    assert company_change["fields"]["website"] == "https://nordlys-solar.dk"
    assert "website" in company_change["changed_fields"]
    assert deal_change["fields"]["stage"] == "Negotiation" and "stage" in deal_change["changed_fields"]
    assert {"CompanyChanged", "DealChanged"} <= set(published)

    won, published = sync_edit(sf, lambda: org.edit("Opportunity", opportunity, {"StageName": "Closed Won"}))

    assert [(c["type"], c["fields"].get("stage")) for c in won if c["crm_id"] == opportunity] == [
        ("DealChanged", "Won"), ("LeadWon", "Won")]  # fmt: skip
    assert "LeadWon" in published

    reopened, _ = sync_edit(sf, lambda: org.edit("Opportunity", opportunity, {"StageName": "Id. Decision Makers"}))

    [unmapped] = [c for c in reopened if c["type"] == "DealChanged" and c["crm_id"] == opportunity]
    assert unmapped["fields"]["stage"] is None and unmapped["fields"]["unmapped_crm_stage"] == "Id. Decision Makers"
    entry = next(e for e in sf.sync_log() if e["object"] == "deal" and e["crm_id"] == opportunity
                 and any(s["field"] == "stage" for s in e["fields_skipped"]))  # fmt: skip
    assert any(s["reason"].startswith("stage_not_mapped") for s in entry["fields_skipped"])


def test_salesforce_an_opportunity_moved_to_a_new_stage_gets_the_stage_probability(sf: App, org: SfOrg) -> None:
    created = sf.event("stage_changed", sf_lead("SW-2", stage="Lead"), stage="Lead")
    opportunity = created["deal"]["crm_id"]
    assert org.sb.get(org.org, "Opportunity", opportunity)["Probability"] == 10  # Prospecting

    moved = sf.event("stage_changed", sf_lead("SW-2", stage="Proposal"), stage="Proposal")

    assert sorted(moved["deal"]["fields_written"]) == ["Probability", "StageName"]
    record = org.sb.get(org.org, "Opportunity", opportunity)
    assert (record["StageName"], record["Probability"]) == ("Proposal/Price Quote", 75)


def test_salesforce_two_crm_fields_into_one_app_field_are_refused_unless_precedence_is_set(sf: App) -> None:
    refused = duplicate_name_sources(sf, "Name", "Description")

    assert_refused_naming_both(refused, "Name", "Description")
    accepted = duplicate_name_sources(sf, "Name", "Description", precedence=1)
    assert accepted.status_code == 200, accepted.text


def test_salesforce_link_with_fill_empty_and_never_keeps_existing_values_and_owner(
    sf: App, org: SfOrg, sfc: SfConnect
) -> None:
    existing = org.sb.create(org.org, "Account", {"Name": "Nordlys Gammel A/S", "Website": "https://gammel.dk",
                                                  "BillingCity": "Gammel By"}, actor=org.rep)  # fmt: skip
    buyer = {"AccountId": existing, "FirstName": "Ida", "LastName": "Holm", "Email": "ida@havblik-sw-3.dk",
             "Title": "Indkøber"}  # fmt: skip
    ida = org.sb.create(org.org, "Contact", buyer, actor=org.rep)
    default_owner = org.sb.add_user(org.org, f"dina-{uuid.uuid4().hex[:6]}@sf-two-way.test", name="Dina Default")
    mappings = sf.settings()["field_mappings"]
    for mapping in mappings["company"]:
        mapping["on_existing"] = {"Name": "never", "Website": "fill_empty", "Phone": "fill_empty"}.get(
            mapping["crm_field"], "overwrite"
        )
    for mapping in mappings["person"]:
        mapping["on_existing"] = "never" if mapping["crm_field"] == "Title" else "overwrite"
    sf.configure(field_mappings=mappings, owners={"default_crm_user": default_owner})
    ceo = {"id": "c1", "name": "Ida Holm", "email": "ida@havblik-sw-3.dk", "title": "CEO"}
    document = sf_lead("SW-3", phone="+45 70 20 30 40", city="Ny By", contacts=[ceo])

    exported = sf.export(document, mode="link", crm_company_id=existing)

    account = org.sb.get(org.org, "Account", existing)
    assert (account["Name"], account["Website"]) == ("Nordlys Gammel A/S", "https://gammel.dk")
    assert account["Phone"] and account["BillingCity"] == "Ny By"  # empty: filled; overwrite (seed 002): updated
    assert account["OwnerId"] == org.rep  # an existing record keeps its owner
    skipped = {s["field"]: s["reason"] for s in exported["fields_skipped"]}
    assert (skipped.get("Name"), skipped.get("Website"), skipped.get("OwnerId")) == ("on_existing",) * 3
    # The CRM's own Contact, matched by e-mail: its title (`never`) and its owner stay.
    [person] = exported["persons"]
    assert (person["crm_id"], person["matched_by"]) == (ida, "email")
    contact = org.sb.get(org.org, "Contact", ida)
    assert (contact["Title"], contact["OwnerId"]) == ("Indkøber", org.rep)


def test_salesforce_lead_status_is_written_from_the_stage_and_comes_back_as_the_app_stage(sf: App, org: SfOrg) -> None:
    """Lead mode (seed 004): the same status table writes the Lead's Status and reads it back as the app stage."""
    status = sf.settings()["status_mapping"]
    status["stages"] = [
        {"app_stage": "Lead", "crm_status": "Open - Not Contacted"},
        {"app_stage": "Qualified", "crm_status": "Working - Contacted"},
        {"app_stage": "Lost", "crm_status": "Closed - Not Converted"},
    ]
    company = [{"app_fields": ["company_name"], "crm_field": "Company", "direction": "both"},
               {"app_fields": ["website"], "crm_field": "Website", "direction": "both"}]  # fmt: skip
    person = [{"app_fields": ["first_name"], "crm_field": "FirstName"},
              {"app_fields": ["last_name"], "crm_field": "LastName"}]  # fmt: skip
    sf.configure(
        objects={"company": {"crm_object": "Lead", "direction": "both"},
                 "person": {"crm_object": "Lead", "direction": "to_crm"},
                 "deal": {"crm_object": "Opportunity", "direction": "off"},
                 "activity": {"crm_object": "Task", "direction": "off"}},
        field_mappings={"company": company, "person": person, "deal": [], "activity": []},
        status_mapping=status,
    )  # fmt: skip
    sf.run()  # the first run: from now on
    exported = sf.export(sf_lead("SL-1", stage="Qualified"))
    lead_id = exported["company"]["crm_id"]
    assert org.sb.get(org.org, "Lead", lead_id)["Status"] == "Working - Contacted"
    sf.run()  # reads back leadbridge's own write

    changes, _ = sync_edit(sf, lambda: org.edit("Lead", lead_id, {"Status": "Closed - Not Converted"}))

    [change] = [c for c in changes if c["type"] == "CompanyChanged" and c["crm_id"] == lead_id]
    assert change["fields"]["stage"] == "Lost" and "stage" in change["changed_fields"]
