"""The HubSpot connector against the HubSpot sandbox over real HTTP on loopback: OAuth, metadata, writes (single,
batch with per-item results), matching searches, change reads past the result cap, deletions, and the statuses the
client handles itself (429, 423, 477, 403). Time is the sandbox's settable clock: the connector's pacing and backoff
sleep by moving it, so no test waits for real."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from leadbridge.crm.http import RetryPolicy
from leadbridge.crm.hubspot import HubSpotConnector, HubSpotProvider, pacing
from leadbridge.crm.search_many import CompanySearch
from leadbridge.crm.together import NewRecord, PartlyWritten, RecordUpdate
from leadbridge.errors import (
    CrmConflict,
    CrmNotFound,
    CrmRejected,
    InvalidCursor,
    NeedsReauth,
    RateLimited,
    RefusedBeforeWrite,
)
from leadbridge.models.connection import ConnectionContext
from leadbridge.models.crm import CrmObject, FieldType, Grant, StageKind
from local.sandbox.hubspot import HubSpotSandbox
from tests.integration.sandbox_hubspot.hub_env import ADMIN, REDIRECT_URI, SCOPES, START, Clock
from tests.support.grant_tokens import GrantTokens


@dataclass
class Hub:
    sb: HubSpotSandbox
    clock: Clock
    hub_id: int
    owner_id: str
    user_id: int
    provider: HubSpotProvider
    grant: Grant

    def connector(self, **provider_options: Any) -> HubSpotConnector:
        provider = self.provider if not provider_options else make_provider(self.sb, self.clock, **provider_options)
        context = ConnectionContext(tenant_id="t1", crm="hubspot", account_id=self.grant.account_id,
                                    api_base=self.grant.api_base, extra=self.grant.extra)
        return provider.connector(context, GrantTokens(provider.oauth(), self.grant))

    def calls(self) -> dict[str, int]:
        return self.sb.call_counts(self.hub_id)


def make_provider(sb: HubSpotSandbox, clock: Clock, **options: Any) -> HubSpotProvider:
    return HubSpotProvider(client_id="cid", client_secret="sec", app_id="1", api_base=sb.api_base,
                           app_base=sb.app_base, webhook_url="https://lb.example/webhooks/hubspot", clock=clock,
                           sleep=clock.advance, rand=lambda: 0.5, retry=RetryPolicy(max_total_wait=60.0),
                           **options)  # fmt: skip


def browser_code(url: str) -> str:
    """What the user's browser does on the authorize page: sign in as the admin and come back with a code."""
    answer = httpx.get(f"{url}&{urlencode({'sandbox_login': ADMIN})}")
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def sandbox(clock: Clock) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(clock=clock) as sb:
        yield sb


@pytest.fixture
def hub(sandbox: HubSpotSandbox, clock: Clock) -> Iterator[Hub]:
    clock.now = START
    sandbox.reset()
    pacing.reset()
    sandbox.register_app([REDIRECT_URI], "cid", "sec", SCOPES)
    portal = sandbox.add_portal("Acme Inc", time_zone="Europe/Copenhagen")
    owner = sandbox.add_user(portal.hub_id, ADMIN, "Ada", "Admin")
    sandbox.add_property(portal.hub_id, "companies", "cvr", "CVR number")
    provider = make_provider(sandbox, clock)
    oauth = provider.oauth()
    request = oauth.authorization_request(redirect_uri=REDIRECT_URI)
    grant = oauth.exchange_code(code=browser_code(request.url), code_verifier=request.code_verifier,
                                redirect_uri=REDIRECT_URI)
    yield Hub(sandbox, clock, portal.hub_id, owner.id, owner.user_id, provider, grant)
    sandbox.clear_faults()
    pacing.reset()  # hub ids repeat after a sandbox reset: later tests start with empty windows


# --- OAuth ---------------------------------------------------------------------------------------------------------


def test_authorize_exchange_refresh_revoke(hub: Hub) -> None:
    oauth = hub.provider.oauth()
    request = oauth.authorization_request(redirect_uri=REDIRECT_URI, state="s1")
    parts = urlsplit(request.url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{hub.sb.app_base}/oauth/authorize"
    assert query["scope"] == [" ".join(SCOPES)]  # exactly the connector's scopes, space-separated
    assert query["code_challenge_method"] == ["S256"] and query["state"] == ["s1"]

    grant = oauth.exchange_code(code=browser_code(request.url), code_verifier=request.code_verifier,
                                redirect_uri=REDIRECT_URI)
    assert grant.account_id == str(hub.hub_id) and grant.api_base == hub.sb.api_base
    assert grant.user_id == str(hub.user_id)
    assert grant.expires_at is not None and 1790 < grant.expires_at - datetime.now(UTC).timestamp() <= 1800
    assert grant.account_name == "Acme Inc"  # the account information API's portalName (its beta version)
    assert grant.extra["ui_domain"] == "app-eu1.hubspot.com"

    refreshed = oauth.refresh(grant)
    assert refreshed.access_token != grant.access_token and refreshed.account_id == grant.account_id
    assert refreshed.refresh_token == grant.refresh_token  # no rotation: the stored one is kept

    oauth.revoke(refreshed)
    with pytest.raises(NeedsReauth):
        oauth.refresh(refreshed)
    # Every token call went to the 2026-03 endpoints (the sandbox refuses anything but a form body there).
    oauth_calls = hub.sb.call_counts("oauth")
    assert oauth_calls.get("POST /oauth/2026-03/token", 0) >= 3
    assert oauth_calls.get("POST /oauth/2026-03/token/revoke") == 1
    assert not any("/oauth/v1/" in op for op in oauth_calls)


# --- metadata ------------------------------------------------------------------------------------------------------


def test_fields_stages_and_owners(hub: Hub) -> None:
    connector = hub.connector()
    companies = {f.name: f for f in connector.fields(CrmObject.COMPANY)}
    assert companies["cvr"].custom and companies["cvr"].type is FieldType.STRING
    assert not companies["name"].custom and companies["name"].updateable
    assert not companies["num_associated_contacts"].updateable  # calculated
    assert companies["industry"].restricted_picklist
    assert {p.value for p in companies["industry"].picklist} == {"COMPUTER_SOFTWARE", "ACCOUNTING"}
    assert companies["numberofemployees"].type is FieldType.DECIMAL
    assert companies["hubspot_owner_id"].type is FieldType.REFERENCE
    assert not any(f.required for f in companies.values())

    stages = {s.id: s for s in connector.stages()}
    assert stages["closedwon"].kind is StageKind.WON and stages["closedlost"].kind is StageKind.LOST
    assert stages["appointmentscheduled"].kind is StageKind.OPEN and stages["appointmentscheduled"].probability == 20

    [user] = connector.users()
    assert user.id == hub.owner_id and user.id != str(hub.user_id) and user.email == ADMIN
    assert user.name == "Ada Admin"


# --- writes --------------------------------------------------------------------------------------------------------


def test_company_and_contacts_in_two_round_trips(hub: Hub) -> None:
    connector = hub.connector()
    connector.fields(CrmObject.COMPANY), connector.fields(CrmObject.PERSON)  # metadata read ahead, as an export does
    connector.association_type("contacts", "companies")
    before = hub.calls()

    company = connector.create(CrmObject.COMPANY, {"name": "Acme", "domain": "acme.dk", "cvr": "12345678",
                                                   "numberofemployees": 12, "hubspot_owner_id": hub.owner_id})
    people = connector.create_many(CrmObject.PERSON, [
        {"firstname": "Ann", "lastname": "A", "email": "ann@acme.dk"},
        {"firstname": "Bo", "lastname": "B", "email": "bo@acme.dk"},
    ], parent_id=company.id)  # fmt: skip

    after = hub.calls()
    spent = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert spent == {"POST /crm/v3/objects/companies": 1, "POST /crm/v3/objects/contacts/batch/create": 1}
    assert company.fields["numberofemployees"] == 12 and company.fields["cvr"] == "12345678"
    assert company.url == f"{hub.sb.app_base}/contacts/{hub.hub_id}/record/0-2/{company.id}"
    assert [p.fields["email"] for p in people if not isinstance(p, Exception)] == ["ann@acme.dk", "bo@acme.dk"]

    listed = connector.list_persons(company.id)
    assert [p.fields["email"] for p in listed] == ["ann@acme.dk", "bo@acme.dk"]
    assert {p.parent_id for p in listed} == {company.id}


def test_batch_partial_failure_matched_by_trace_id(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    results = connector.create_many(CrmObject.PERSON, [
        {"lastname": "A", "email": "ann@acme.dk"},
        {"lastname": "B", "email": "not an address"},  # HubSpot refuses it (INVALID_EMAIL): a 207 item
        {"lastname": "C", "email": "cy@acme.dk"},
        {"lastname": "D", "lifecyclestage": "nope"},  # refused before sending: not an option
    ], parent_id=company.id)  # fmt: skip
    first, second, third, fourth = results
    assert not isinstance(first, Exception) and first.fields["email"] == "ann@acme.dk"
    assert isinstance(second, CrmRejected) and second.fields == ["email"]
    # The answer lists 2 results for 3 inputs: by position the third would get nothing or the wrong record.
    assert not isinstance(third, Exception) and third.fields["email"] == "cy@acme.dk"
    assert third.parent_id == company.id
    assert isinstance(fourth, CrmRejected) and fourth.fields == ["lifecyclestage"]
    assert hub.calls()["POST /crm/v3/objects/contacts/batch/create"] == 1


def test_refusals_name_the_properties(hub: Hub) -> None:
    connector = hub.connector()
    connector.fields(CrmObject.PERSON)
    sent = hub.calls().get("POST /crm/v3/objects/contacts", 0)
    with pytest.raises(CrmRejected) as before_write:
        connector.create(CrmObject.PERSON, {"lastname": "X", "lifecyclestage": "nope", "associatedcompanyid": 1})
    assert before_write.value.fields == ["lifecyclestage", "associatedcompanyid"]
    assert hub.calls().get("POST /crm/v3/objects/contacts", 0) == sent  # nothing was sent

    with pytest.raises(CrmRejected) as by_hubspot:  # VALIDATION_ERROR naming the property
        connector.create(CrmObject.PERSON, {"lastname": "X", "email": "no-at-sign"})
    assert by_hubspot.value.fields == ["email"] and by_hubspot.value.status == 400

    connector.create(CrmObject.PERSON, {"lastname": "X", "email": "x@acme.dk"})
    with pytest.raises(CrmConflict):  # contacts are unique by e-mail
        connector.create(CrmObject.PERSON, {"lastname": "Y", "email": "X@acme.dk"})


def test_update_get_delete(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    deal = connector.create(CrmObject.DEAL, {"dealname": "Big", "amount": "1200.50", "dealstage": "qualifiedtobuy",
                                             "closedate": datetime(2026, 7, 1, tzinfo=UTC)}, parent_id=company.id)
    connector.update(CrmObject.DEAL, deal.id, {"dealstage": "closedwon"})
    read = connector.get(CrmObject.DEAL, deal.id)
    assert read.stage_kind is StageKind.WON and read.parent_id == company.id
    assert read.fields["amount"] == Decimal("1200.5") and read.fields["closedate"] == datetime(2026, 7, 1, tzinfo=UTC)
    assert read.updated_at is not None

    task = connector.create(CrmObject.ACTIVITY, {"hs_task_subject": "Call", "hs_task_status": "NOT_STARTED"},
                            parent_id=company.id)
    assert connector.get(CrmObject.ACTIVITY, task.id).parent_id == company.id

    connector.delete(CrmObject.DEAL, deal.id)
    with pytest.raises(CrmNotFound):
        connector.get(CrmObject.DEAL, deal.id)


# --- matching ------------------------------------------------------------------------------------------------------


def test_search_by_domain_name_and_cvr(hub: Hub) -> None:
    acme = hub.sb.add_record(hub.hub_id, "companies", {"name": "Acme ApS", "domain": "acme.dk", "cvr": "12345678"})
    beta = hub.sb.add_record(hub.hub_id, "companies", {"name": "Beta", "domain": "beta.dk"})
    connector = hub.connector()
    connector.fields(CrmObject.COMPANY)

    assert [r.id for r in connector.search_companies(domain="https://www.ACME.dk/about")] == [acme.id]
    assert [r.id for r in connector.search_companies(name="beta")] == [beta.id]
    assert [r.id for r in connector.search_companies(org_nr="12345678", org_nr_field="cvr")] == [acme.id]
    assert connector.search_companies(org_nr="12345678") == []  # no org-number property named: not searched
    # Several criteria matching one company: one candidate.
    both = connector.search_companies(name="Acme ApS", domain="acme.dk", org_nr="12345678", org_nr_field="cvr")
    assert [r.id for r in both] == [acme.id] and both[0].fields["cvr"] == "12345678"

    before = hub.calls().get("POST /crm/v3/objects/companies/search", 0)
    many = connector.search_companies_many([CompanySearch(domain="beta.dk"), CompanySearch(name="nobody"),
                                            CompanySearch(name="acme aps")])
    assert [[r.id for r in found] for found in many] == [[beta.id], [], [acme.id]]
    # Every criterion's groups fit one request and its rows one page: one search for all three.
    assert hub.calls()["POST /crm/v3/objects/companies/search"] == before + 1

    with pytest.raises(RefusedBeforeWrite) as refused:
        connector.search_companies(org_nr_field="numberofemployees")
    assert refused.value.errors[0]["loc"] == ["settings", "matching", "org_nr_field"]


# --- incremental reads ---------------------------------------------------------------------------------------------


def test_changes_since_pages_past_the_result_cap_without_a_gap(hub: Hub) -> None:
    since = datetime.fromtimestamp(hub.clock.now, UTC)
    old = hub.sb.add_record(hub.hub_id, "contacts", {"lastname": "before", "email": "old@acme.dk"})
    hub.clock.advance(600)
    since = datetime.fromtimestamp(hub.clock.now, UTC)
    expected: list[str] = []
    for burst in range(5):  # 5 instants with 5 changes each: ties at the instants where a restart lands
        expected += [r.id for r in hub.sb.add_records(hub.hub_id, "contacts", [
            {"lastname": f"n{burst}-{i}", "email": f"p{burst}-{i}@acme.dk"} for i in range(5)])]  # fmt: skip
        hub.clock.advance(1)
    # A cap of 7 with pages of 3: the search starts again from the last instant seen, twice or more.
    connector = hub.connector(search_page=3, search_cap=7)
    seen: list[str] = []
    token: str | None = None
    pages_read = 0
    while True:
        page = connector.changes_since(CrmObject.PERSON, since, token)
        seen += [r.id for r in page.records]
        pages_read += 1
        token = page.next_page_token
        if token is None:
            break
        assert pages_read < 30
    assert sorted(seen) == sorted(expected)  # none lost, none twice
    assert old.id not in seen  # 10 minutes before `since`: outside the 2-minute lookback

    with pytest.raises(InvalidCursor):
        connector.changes_since(CrmObject.PERSON, since, "hs1.eyJvIjoiY29tcGFuaWVzIn0")
    with pytest.raises(InvalidCursor):
        connector.changes_since(CrmObject.PERSON, since, "/services/data/v62.0/query/01g")


def test_changes_since_reads_back_inside_the_lookback(hub: Hub) -> None:
    company = hub.sb.add_record(hub.hub_id, "companies", {"name": "Acme"})
    hub.clock.advance(60)
    page = hub.connector().changes_since(CrmObject.COMPANY, datetime.fromtimestamp(hub.clock.now, UTC))
    assert [r.id for r in page.records] == [company.id] and page.next_page_token is None


def test_deleted_since_reads_the_archived_listing(hub: Hub) -> None:
    gone_early = hub.sb.add_record(hub.hub_id, "companies", {"name": "Early"})
    gone_late = hub.sb.add_record(hub.hub_id, "companies", {"name": "Late"})
    kept = hub.sb.add_record(hub.hub_id, "companies", {"name": "Kept"})
    hub.sb.archive_record(hub.hub_id, "companies", gone_early.id)
    hub.clock.advance(3600)
    since = datetime.fromtimestamp(hub.clock.now, UTC) - timedelta(seconds=1)
    hub.sb.archive_record(hub.hub_id, "companies", gone_late.id)
    connector = hub.connector()
    assert connector.deleted_since(CrmObject.COMPANY, since) == [gone_late.id]
    assert sorted(connector.all_ids(CrmObject.COMPANY)) == [kept.id]


# --- limits and errors ---------------------------------------------------------------------------------------------


def test_a_burst_is_paced_under_the_account_limit(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    started = hub.clock.now
    for _ in range(120):
        connector.update(CrmObject.COMPANY, company.id, {"city": "Aarhus"})
    # 121 requests at most 110 per rolling 10 s: the connector waited (on the clock) instead of meeting a 429.
    assert hub.clock.now - started >= 9.0
    assert connector.calls["companies.update"] == 120  # none refused and sent again


def test_429_backs_off_and_sends_again(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    hub.sb.faults.add(429, count=1, scope=str(hub.hub_id), retry_after=3)
    started = hub.clock.now
    connector.update(CrmObject.COMPANY, company.id, {"city": "Aarhus"})
    assert hub.clock.now - started >= 3.0  # Retry-After honoured, on the injected clock
    assert connector.calls["companies.update"] == 2


def test_423_waits_at_least_two_seconds(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    hub.sb.faults.add(423, count=1, scope=str(hub.hub_id))
    started = hub.clock.now
    connector.update(CrmObject.COMPANY, company.id, {"city": "Aarhus"})
    assert hub.clock.now - started >= 2.0
    assert connector.calls["companies.update"] == 2


def test_477_is_rescheduled_not_retried(hub: Hub) -> None:
    connector = hub.connector()
    company = connector.create(CrmObject.COMPANY, {"name": "Acme"})
    hub.sb.faults.add(477, count=1, scope=str(hub.hub_id), retry_after=3600)
    with pytest.raises(RateLimited) as limited:
        connector.update(CrmObject.COMPANY, company.id, {"city": "Aarhus"})
    assert limited.value.retry_after == 3600
    assert connector.calls["companies.update"] == 1


def test_missing_scope_asks_to_connect_again(hub: Hub) -> None:
    token = hub.sb.tokens_for(ADMIN, "cid", scopes=["oauth", "crm.objects.companies.read"])
    grant = hub.grant.model_copy(update={"access_token": token["access_token"]})
    narrow = Hub(hub.sb, hub.clock, hub.hub_id, hub.owner_id, hub.user_id, hub.provider, grant)
    with pytest.raises(NeedsReauth) as refused:
        narrow.connector().users()
    assert "crm.objects.owners.read" in refused.value.message and "connect HubSpot again" in refused.value.message


def test_webhooks_are_the_apps_subscription(hub: Hub) -> None:
    connector = hub.connector()
    before = hub.calls()
    registration = connector.register_webhook("https://ignored.example/x", "secret")
    assert registration.id == "app" and registration.active and registration.state == "app_subscription"
    assert registration.url == "https://lb.example/webhooks/hubspot"
    assert "contact.creation" in registration.events and "deal.propertyChange" in registration.events
    assert connector.list_webhooks() == [registration]
    connector.unregister_webhook("app")
    assert hub.calls() == before  # nothing of it talks to HubSpot


def test_changes_since_crosses_hubspots_10000_result_cap(hub: Hub) -> None:
    """The sandbox's real cap (a search `after` ≥ 10,000 is a 400) with HubSpot's page of 200: 10,050 changes, 50
    per instant, all read; only the 50 of the instant where the search starts again may come twice."""
    since = datetime.fromtimestamp(hub.clock.now, UTC)
    ids: list[str] = []
    for burst in range(201):
        ids += [r.id for r in hub.sb.add_records(hub.hub_id, "companies", [{"name": f"c{burst}-{i}"}
                                                                           for i in range(50)])]  # fmt: skip
        hub.clock.advance(0.01)
    connector = hub.connector()
    seen: list[str] = []
    token: str | None = None
    while True:
        page = connector.changes_since(CrmObject.COMPANY, since, token)
        seen += [r.id for r in page.records]
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == sorted(ids)  # none lost, none twice


def test_a_property_deleted_meanwhile_is_left_out_and_reported(hub: Hub) -> None:
    connector = hub.connector()
    assert "cvr" in {f.name for f in connector.fields(CrmObject.COMPANY)}
    with hub.sb.lock:  # an admin deletes the property after the connector read the metadata
        del hub.sb.portal(hub.hub_id).custom_properties["companies"]["cvr"]
    company = connector.create(CrmObject.COMPANY, {"name": "Acme", "cvr": "12345678"})
    assert connector.take_skipped_fields() == ["cvr"]
    assert hub.sb.records(hub.hub_id, "companies")[0].properties["name"] == "Acme"
    assert "cvr" not in company.fields
    assert hub.calls()["POST /crm/v3/objects/companies"] == 2  # refused (PROPERTY_DOESNT_EXIST), then without it


def test_get_many_reads_a_batch_of_records_in_one_request_and_leaves_out_the_gone(hub: Hub) -> None:
    records = hub.sb.add_records(hub.hub_id, "contacts", [{"email": f"p{i}@acme.example", "firstname": f"P{i}"}
                                                          for i in range(3)])  # fmt: skip
    hub.sb.archive_record(hub.hub_id, "contacts", records[2].id)
    connector = connector_with_metadata(hub)
    before = hub.calls().get("POST /crm/v3/objects/contacts/batch/read", 0)

    found = connector.get_many(CrmObject.PERSON, [records[0].id, records[1].id, records[2].id, "999999", records[0].id])

    assert set(found) == {records[0].id, records[1].id}
    assert found[records[1].id].fields["firstname"] == "P1" and found[records[1].id].updated_at is not None
    assert hub.calls().get("POST /crm/v3/objects/contacts/batch/read", 0) - before == 1


def connector_with_metadata(hub: Hub) -> HubSpotConnector:
    """A connector whose property metadata is read already, so a test counts only the reads it is about."""
    connector = hub.connector()
    connector.fields(CrmObject.PERSON)
    return connector


def test_a_record_edited_while_a_read_pages_moves_behind_and_nothing_is_skipped(hub: Hub) -> None:
    since = datetime.fromtimestamp(hub.clock.now, UTC)
    ids: list[str] = []
    for i in range(12):
        ids.append(hub.sb.add_record(hub.hub_id, "contacts", {"email": f"e{i}@acme.dk", "lastname": f"L{i}"}).id)
        hub.clock.advance(1)
    connector = hub.connector(search_page=5)
    first = connector.changes_since(CrmObject.PERSON, since)
    # A user edits a record already read: it moves to the end of the order; an offset would now skip one.
    hub.sb.update_record(hub.hub_id, "contacts", first.records[0].id, {"lastname": "Edited"})
    seen = [r.id for r in first.records]
    token = first.next_page_token
    while token is not None:
        page = connector.changes_since(CrmObject.PERSON, since, token)
        seen += [r.id for r in page.records]
        token = page.next_page_token
    assert set(seen) == set(ids)
    assert seen.count(first.records[0].id) == 2 and len(seen) == len(ids) + 1  # the edit is read again, nothing else


def test_a_page_token_works_only_for_its_own_read(hub: Hub) -> None:
    since = datetime.fromtimestamp(hub.clock.now, UTC)
    hub.sb.add_records(hub.hub_id, "companies", [{"name": f"c{i}"} for i in range(4)])
    connector = hub.connector(search_page=2)
    token = connector.changes_since(CrmObject.COMPANY, since).next_page_token
    assert token is not None
    with pytest.raises(InvalidCursor):  # another object
        connector.changes_since(CrmObject.PERSON, since, token)
    with pytest.raises(InvalidCursor):  # another `since`
        connector.changes_since(CrmObject.COMPANY, since - timedelta(hours=1), token)
    state = json.loads(base64.urlsafe_b64decode(token.removeprefix("hs2.") + "=="))
    damaged = "hs2." + base64.urlsafe_b64encode(json.dumps({**state, "tie": "5"}).encode()).decode().rstrip("=")
    with pytest.raises(InvalidCursor):
        connector.changes_since(CrmObject.COMPANY, since, damaged)


def test_many_rows_of_one_search_never_hide_another_searchs_match(hub: Hub) -> None:
    hub.sb.add_records(hub.hub_id, "companies", [{"name": "Acme"} for _ in range(450)])
    zeta = hub.sb.add_record(hub.hub_id, "companies", {"name": "Zeta ApS", "domain": "zeta.dk"})
    connector = hub.connector()

    acme, zeta_found = connector.search_companies_many([CompanySearch(None, "Acme", None, 20, None, None),
                                                        CompanySearch(None, "Acme", "zeta.dk", 1, None, None)])

    assert len(acme) == 20
    assert [r.id for r in zeta_found] == [zeta.id]  # its domain match first, though 450 rows match its name
    alone = connector.search_companies(name="Acme", domain="https://www.zeta.dk", limit=3)
    assert alone[0].id == zeta.id and len(alone) == 3


def test_a_name_without_its_legal_form_finds_the_company_by_prefix(hub: Hub) -> None:
    fjord = hub.sb.add_record(hub.hub_id, "companies", {"name": "Fjord Analytics A/S"})
    hub.sb.add_record(hub.hub_id, "companies", {"name": "Analytics Fjord ApS"})  # the words, not the start
    hub.sb.add_record(hub.hub_id, "companies", {"name": "Fjordland ApS"})

    found = hub.connector().search_companies(name="Fjord Analytics", limit=5)

    assert [r.id for r in found] == [fjord.id]


def test_a_refresh_hubspot_refuses_with_any_4xx_needs_a_new_connect(hub: Hub) -> None:
    wrong = HubSpotProvider(client_id="cid", client_secret="not-the-secret", app_id="1", api_base=hub.sb.api_base,
                            app_base=hub.sb.app_base, webhook_url="https://lb.example/webhooks/hubspot",
                            clock=hub.clock, sleep=hub.clock.advance)  # fmt: skip
    with pytest.raises(NeedsReauth, match=r"invalid_client.*operator"):  # retrying a refused refresh cannot help
        wrong.oauth().refresh(hub.grant)


def test_a_failed_second_batch_leaves_the_first_batchs_records_reported(hub: Hub) -> None:
    company = hub.sb.add_record(hub.hub_id, "companies", {"name": "Big ApS"})
    hub.sb.faults.add(400, path_prefix="/crm/v3/objects/contacts/batch/create", after=1, scope=str(hub.hub_id))
    people = [{"email": f"p{i}@big.dk", "lastname": f"P{i}"} for i in range(150)]

    results = hub.connector().create_many(CrmObject.PERSON, people, parent_id=company.id)

    created = [r for r in results if not isinstance(r, Exception)]
    assert len(created) == 100 and all(isinstance(r, CrmRejected) for r in results[100:])
    assert {r.id for r in created} == {r.id for r in hub.sb.records(hub.hub_id, "contacts")}  # none unknown


# --- a bulk export's window of leads, written together (`SupportsWriteBatches`) ----------------------------------


def test_the_writes_of_many_leads_go_in_one_batch_call_per_object_and_kind(hub: Hub) -> None:
    connector = hub.connector()
    linked = connector.create(CrmObject.COMPANY, {"name": "Linked ApS"})
    known = connector.create(CrmObject.PERSON, {"lastname": "Known", "email": "known@linked.dk"}, parent_id=linked.id)
    before = hub.calls()
    new_leads = [[NewRecord("company", CrmObject.COMPANY, {"name": f"New {i} ApS", "domain": f"new{i}.dk"}),
                  *(NewRecord(f"person_{n}", CrmObject.PERSON, {"lastname": f"P{n}", "email": f"p{n}@new{i}.dk"},
                              parent_ref="company") for n in range(2))] for i in range(3)]  # fmt: skip
    changed_lead = [RecordUpdate("company", CrmObject.COMPANY, linked.id, {"phone": "+45 33 12 34 56"}),
                    RecordUpdate("person_0", CrmObject.PERSON, known.id, {"jobtitle": "CEO"}),
                    NewRecord("person_1", CrmObject.PERSON, {"lastname": "Newer", "email": "newer@linked.dk"},
                              parent_id=linked.id)]  # fmt: skip

    answers = connector.write_batches_together([*new_leads, changed_lead])

    spent = {op: n - before.get(op, 0) for op, n in hub.calls().items() if n != before.get(op, 0)}
    assert spent == {"POST /crm/v3/objects/companies/batch/create": 1, "POST /crm/v3/objects/companies/batch/update": 1,
                     "POST /crm/v3/objects/contacts/batch/create": 1, "POST /crm/v3/objects/contacts/batch/update": 1}
    for i, answer in enumerate(answers[:3]):
        assert isinstance(answer, dict) and set(answer) == {"company", "person_0", "person_1"}
        assert answer["company"].fields["name"] == f"New {i} ApS"
        contacts = {p.fields["email"] for p in connector.list_persons(answer["company"].id)}
        assert contacts == {f"p0@new{i}.dk", f"p1@new{i}.dk"}  # each associated with its own new company
        assert answer["person_1"].parent_id == answer["company"].id
    changed = answers[3]
    assert isinstance(changed, dict) and changed["company"].id == linked.id and changed["person_0"].id == known.id
    portal = {r.id: r.properties for r in hub.sb.records(hub.hub_id, "contacts")}
    assert portal[known.id]["jobtitle"] == "CEO"
    assert {p.fields["email"] for p in connector.list_persons(linked.id)} == {"known@linked.dk", "newer@linked.dk"}


def test_a_lead_hubspot_refuses_in_part_says_what_was_written_and_what_was_not_sent(hub: Hub) -> None:
    connector = hub.connector()
    connector.create(CrmObject.PERSON, {"lastname": "Taken", "email": "taken@elsewhere.dk"})
    clashing_person = [NewRecord("company", CrmObject.COMPANY, {"name": "Half ApS"}),
                       NewRecord("person_0", CrmObject.PERSON, {"lastname": "Ok", "email": "ok@half.dk"},
                                 parent_ref="company"),
                       NewRecord("person_1", CrmObject.PERSON, {"lastname": "Dup", "email": "taken@elsewhere.dk"},
                                 parent_ref="company")]  # fmt: skip
    gone_owner = [NewRecord("company", CrmObject.COMPANY, {"name": "Owned ApS", "hubspot_owner_id": "999999"}),
                  NewRecord("person_0", CrmObject.PERSON, {"lastname": "Never", "email": "never@owned.dk"},
                            parent_ref="company")]  # fmt: skip
    fine = [NewRecord("company", CrmObject.COMPANY, {"name": "Fine ApS"})]

    half, nothing, whole = connector.write_batches_together([clashing_person, gone_owner, fine])

    assert isinstance(half, PartlyWritten)
    assert set(half.written) == {"company", "person_0"} and set(half.refused) == {"person_1"}
    assert isinstance(half.refused["person_1"], CrmConflict)  # contacts are unique by e-mail
    assert isinstance(nothing, PartlyWritten) and not nothing.written and set(nothing.refused) == {"company"}
    assert isinstance(nothing.refused["company"], CrmRejected)  # an owner id HubSpot no longer has
    assert isinstance(whole, dict) and set(whole) == {"company"}
    emails = {r.properties.get("email") for r in hub.sb.records(hub.hub_id, "contacts")}
    assert "ok@half.dk" in emails and "never@owned.dk" not in emails  # a refused company's contacts are not sent


def test_a_property_deleted_meanwhile_is_left_out_of_the_batch_and_reported(hub: Hub) -> None:
    connector = hub.connector()
    linked = connector.create(CrmObject.COMPANY, {"name": "Linked ApS"})
    assert "cvr" in {f.name for f in connector.fields(CrmObject.COMPANY)}
    with hub.sb.lock:  # an admin deletes the property after the connector read the metadata
        del hub.sb.portal(hub.hub_id).custom_properties["companies"]["cvr"]
    before = hub.calls()

    created, updated = connector.write_batches_together([
        [NewRecord("company", CrmObject.COMPANY, {"name": "Acme", "cvr": "12345678"})],
        [RecordUpdate("company", CrmObject.COMPANY, linked.id, {"cvr": "87654321", "phone": "+45 70 10 10 10"})],
    ])  # fmt: skip

    assert isinstance(created, dict) and isinstance(updated, dict)
    assert connector.take_skipped_fields() == ["cvr"]
    names = {r.properties["name"]: r.properties for r in hub.sb.records(hub.hub_id, "companies")}
    assert "Acme" in names and "cvr" not in names["Acme"] and names["Linked ApS"]["phone"] == "+45 70 10 10 10"
    spent = {op: n - before.get(op, 0) for op, n in hub.calls().items() if n != before.get(op, 0)}
    # Each refused once (PROPERTY_DOESNT_EXIST), then sent again without it; the properties read again once.
    assert spent == {"POST /crm/v3/objects/companies/batch/create": 2, "POST /crm/v3/objects/companies/batch/update": 2,
                     "GET /crm/v3/properties/companies": 1}


def test_the_persons_of_many_companies_are_read_in_a_few_batch_calls(hub: Hub) -> None:
    connector = hub.connector()
    companies = [connector.create(CrmObject.COMPANY, {"name": f"C{i}"}) for i in range(3)]
    for i, company in enumerate(companies[:2]):
        connector.create_many(CrmObject.PERSON, [{"lastname": f"P{i}{n}", "email": f"p{n}@c{i}.dk"} for n in range(2)],
                              parent_id=company.id)  # fmt: skip
    before = hub.calls()

    persons = connector.list_persons_many([c.id for c in companies])

    assert [{p.fields["email"] for p in persons[c.id]} for c in companies] == [
        {"p0@c0.dk", "p1@c0.dk"}, {"p0@c1.dk", "p1@c1.dk"}, set()]
    spent = sum(n - before.get(op, 0) for op, n in hub.calls().items())
    assert spent == 3  # companies' associations, the contacts, the contacts' companies: not 3 per company
