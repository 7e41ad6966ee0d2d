"""Lead lifecycle events against Salesforce end to end: `POST /leads/{id}/events` through the local gateway
(ExportFunction), a tenant connected to the Salesforce sandbox through the real OAuth flow, moto for the table. The
Opportunity is created when the lead reaches the create stage, moves through the mapped stages, is closed won
(`IsWon`) or lost, and changes owner with the lead; checked in the org's own records and the sync log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.salesforce_connect import TENANT, SfConnect

WRITES = ("POST", "PATCH", "DELETE")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Lifecycle:
    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def configure(self, **sections: Any) -> None:
        admin = self.sf.auth(TENANT, "admin")
        patched = self.sf.http.patch("/settings/salesforce", json=sections, headers={**admin, "If-Match": "*"})
        assert patched.status_code == 200, patched.text

    def send(self, kind: str, lead: dict[str, Any], **extra: Any) -> httpx.Response:
        return self.sf.http.post(f"/leads/{lead['id']}/events", json={"type": kind, "lead": lead, **extra},
                                 headers=self.sf.auth(TENANT, "member"), timeout=30)  # fmt: skip

    def ok(self, kind: str, lead: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.send(kind, lead, **extra)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def opportunity(self, crm_id: str) -> dict[str, Any]:
        return dict(self.sb.get(self.org, "Opportunity", crm_id))

    def writes(self) -> int:
        return sum(n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES)


@pytest.fixture
def lc(sfc: SfConnect) -> Iterator[Lifecycle]:
    sfc.connect()
    yield Lifecycle(sfc)


def lead(lead_id: str = "SF-L1", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "New",
        "companyName": f"Nordlys Solar {lead_id} ApS",
        "website": f"https://nordlys-{lead_id.lower()}.dk",
        "cvr": str(41000000 + sum(map(ord, lead_id))),
        "dealTitle": f"Solar park {lead_id}",
        "dealAmount": "125000",
        "expectedClose": "2026-09-30",
        "contacts": [{"id": "c1", "name": "Ane Berg", "email": f"ane@nordlys-{lead_id.lower()}.dk"}],
    }
    return {**base, **overrides}


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_the_opportunity_is_created_at_the_create_stage_and_follows_the_mapped_stages(lc: Lifecycle) -> None:
    writes = lc.writes()
    new = lc.ok("created", lead(), occurred_at=at(0))
    assert new["outcome"] == "skipped" and new["reason"] == "stage 'New' is before create stage 'Lead'"
    assert lc.writes() == writes and lc.sb.all_records(lc.org, "Opportunity") == []

    promoted = lc.ok("stage_changed", lead(stage="Lead"), stage="Lead", occurred_at=at(1))

    assert promoted["outcome"] == "applied", promoted
    assert promoted["company"]["action"] == "created" and promoted["deal"]["action"] == "created"
    opportunity = lc.opportunity(promoted["deal"]["crm_id"])
    assert opportunity["AccountId"] == promoted["company"]["crm_id"]
    assert (opportunity["Name"], opportunity["Amount"], opportunity["StageName"]) == (
        "Solar park SF-L1", 125000, "Prospecting")
    assert str(opportunity["CloseDate"]) == "2026-09-30" and opportunity["IsClosed"] is False
    contacts = lc.sb.all_records(lc.org, "Contact")
    assert [(c["FirstName"], c["LastName"], c["AccountId"]) for c in contacts] == [
        ("Ane", "Berg", promoted["company"]["crm_id"])]

    qualified = lc.ok("stage_changed", lead(stage="Lead"), stage="Qualified", occurred_at=at(2))

    assert qualified["deal"]["action"] == "updated" and qualified["deal"]["fields_written"] == ["StageName"]
    assert lc.opportunity(promoted["deal"]["crm_id"])["StageName"] == "Qualification"
    assert len(lc.sb.all_records(lc.org, "Opportunity")) == 1


def test_won_closes_the_opportunity_won_and_a_replay_asks_salesforce_nothing(lc: Lifecycle) -> None:
    created = lc.ok("created", lead("SF-L2", stage="Proposal"), occurred_at=at(0))
    deal_id = created["deal"]["crm_id"]
    assert lc.opportunity(deal_id)["StageName"] == "Proposal/Price Quote"

    won = lc.ok("won", lead("SF-L2", stage="Won"), occurred_at=at(5), event_id="sf-won-1")

    assert won["outcome"] == "applied" and won["deal"]["fields_written"] == ["StageName"]
    opportunity = lc.opportunity(deal_id)
    assert (opportunity["StageName"], opportunity["IsClosed"], opportunity["IsWon"]) == ("Closed Won", True, True)
    calls = sum(lc.sb.call_counts(lc.org).values())
    replay = lc.ok("won", lead("SF-L2", stage="Won"), occurred_at=at(5), event_id="sf-won-1")
    assert replay["replayed"] is True and sum(lc.sb.call_counts(lc.org).values()) == calls
    late = lc.ok("stage_changed", lead("SF-L2", stage="Qualified"), stage="Qualified", occurred_at=at(3))
    assert late["outcome"] == "skipped" and lc.opportunity(deal_id)["StageName"] == "Closed Won"


def test_lost_closes_it_lost_or_deletes_it_as_configured(lc: Lifecycle) -> None:
    kept = lc.ok("created", lead("SF-L3", stage="Lead"), occurred_at=at(0))["deal"]["crm_id"]
    lost = lc.ok("lost", lead("SF-L3", stage="Lost"), occurred_at=at(1))
    assert lost["deal"]["fields_written"] == ["StageName"]
    assert (lc.opportunity(kept)["StageName"], lc.opportunity(kept)["IsWon"]) == ("Closed Lost", False)

    current = lc.sf.http.get("/settings/salesforce", headers=lc.sf.auth(TENANT, "admin")).json()
    lc.configure(status_mapping={**current["status_mapping"], "on_lost": "delete"})
    doomed = lc.ok("created", lead("SF-L4", stage="Lead"), occurred_at=at(0))["deal"]["crm_id"]
    deleted = lc.ok("lost", lead("SF-L4", stage="Lost"), occurred_at=at(1))

    assert deleted["deal"]["action"] == "deleted"
    assert [o["Id"] for o in lc.sb.all_records(lc.org, "Opportunity")] == [kept] and doomed != kept


def test_transferred_sets_the_mapped_user_as_owner_of_opportunity_and_account(lc: Lifecycle) -> None:
    seller = lc.sb.add_user(lc.org, "seller@sf-connect.test", name="Sam Seller")
    lc.configure(owners={"user_map": {"u-seller": seller}})
    created = lc.ok("created", lead("SF-L5", stage="Lead"), occurred_at=at(0))

    moved = lc.ok("transferred", lead("SF-L5", stage="Lead"), owner="u-seller", occurred_at=at(1))

    assert moved["outcome"] == "applied" and moved["company"]["action"] == "updated"
    assert lc.opportunity(created["deal"]["crm_id"])["OwnerId"] == seller
    assert lc.sb.get(lc.org, "Account", created["company"]["crm_id"])["OwnerId"] == seller
    unknown = lc.ok("transferred", lead("SF-L5"), owner="u-nobody", occurred_at=at(2))
    assert unknown["outcome"] == "skipped" and "u-nobody" in unknown["reason"]


def test_a_required_opportunity_field_is_refused_before_any_write_and_logged(lc: Lifecycle) -> None:
    lc.sb.add_custom_field(lc.org, "Opportunity", "Region__c", "picklist", picklist=["North", "South"],
                           restricted=True, required=True)  # fmt: skip
    writes = lc.writes()
    response = lc.send("created", lead("SF-L6", stage="Lead"), occurred_at=at(0))

    # Known from the describe: refused (422) before the lead's first write, so not even the Account is created.
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["details"]["fields"] == ["Region__c"]
    assert [(e["loc"], e["type"]) for e in error["details"]["errors"]] == [(["crm", "deal", "Region__c"], "required")]
    assert lc.sb.all_records(lc.org, "Opportunity") == [] and lc.sb.all_records(lc.org, "Account") == []
    assert lc.writes() == writes
    log = lc.sf.http.get("/sync-log", params={"lead_id": "SF-L6"}, headers=lc.sf.auth(TENANT, "member")).json()
    failed = next(e for e in log["items"] if e["id"] == error["details"]["log_entry_id"])
    assert failed["object"] == "deal" and failed["outcome"] == "failed" and "Region__c" in failed["error"]["message"]
