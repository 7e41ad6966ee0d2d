"""What one single-lead export costs, through the local gateway (JWT, ExportFunction) to the SuperOffice sandbox with
moto behind the functions: CRM requests counted by the sandbox, AWS calls counted by botocore hooks on the functions'
clients. The lead is the issue-6 one: all 37 catalogue custom fields defined in the CRM, 3 contact persons.

The minimum the SuperOffice REST API allows for a new lead is 5 requests (1 contact archive query, 1 POST Contact,
3 POST Person); an unchanged re-export needs none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.bench_export import lead as issue6_lead
from leadbridge import aws_clients, runtime
from leadbridge.crm.base import reset_providers
from local.sandbox.superoffice.demo import LEAD_FIELDS
from tests.support.superoffice_connect import CTX, Env

TENANT = "acme-calls"
METADATA = ("UdefLayout/Published", "CustomField", "/default")
UDEF_TYPES = {"Number": "Number", "Text": "ShortText", "Text (Long)": "LongText"}
DECIMALS = {"RabitIQ:16", "RabitIQ:17", "RabitIQ:19", "RabitIQ:20"}
STATUS_MAPPING: dict[str, Any] = {  # seed 000's pipeline, as the lifecycle e2e tests configure it
    "app_stages": ["New", "Lead", "Qualified", "Proposal", "Won", "Lost"],
    "stages": [
        {"app_stage": "Lead", "crm_stage": "1", "crm_status": "Open"},
        {"app_stage": "Qualified", "crm_stage": "2"},
        {"app_stage": "Proposal", "crm_stage": "3"},
    ],
    "create_at_stage": "Lead",
}


class AwsCalls:
    """AWS calls of the in-process functions by `service operation` (DynamoDB and Secrets Manager only: the local
    stack's SQS pump polls in the background)."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.events = aws_clients.session()  # clients created from now on copy this hook
        self.events.register("after-call", self._after, unique_id="test-export-calls")

    def _after(self, model: Any = None, **_: Any) -> None:
        service = model.service_model.service_id if model is not None else ""
        if service in ("DynamoDB", "Secrets Manager"):
            self.ops[f"{service} {model.name}"] += 1

    def close(self) -> None:
        self.events.unregister("after-call", unique_id="test-export-calls")


class Calls:
    def __init__(self, connected: Env, aws: AwsCalls) -> None:
        self.env = connected
        self.aws = aws

    def export(self, body: dict[str, Any]) -> tuple[dict[str, Any], Counter[str], Counter[str]]:
        """(response body, CRM requests by operation, AWS calls by operation) of one export."""
        crm_before = Counter(self.env.sandbox.call_counts(CTX))
        aws_before = Counter(self.aws.ops)
        response = self.env.http.post(
            f"/leads/{body['id']}/export", json={"lead": body}, headers=self.env.auth(TENANT, "member")
        )
        assert response.status_code == 200, response.text
        crm = Counter(self.env.sandbox.call_counts(CTX)) - crm_before
        aws = self.aws.ops - aws_before
        return response.json(), crm, aws

    def event(self, body: dict[str, Any], **event: Any) -> tuple[dict[str, Any], Counter[str], Counter[str]]:
        crm_before = Counter(self.env.sandbox.call_counts(CTX))
        aws_before = Counter(self.aws.ops)
        response = self.env.http.post(
            f"/leads/{body['id']}/events", json={"lead": body, **event}, headers=self.env.auth(TENANT, "member")
        )
        assert response.status_code == 200, response.text
        return response.json(), Counter(self.env.sandbox.call_counts(CTX)) - crm_before, self.aws.ops - aws_before

    def configure(self, **sections: Any) -> None:
        admin = self.env.auth(TENANT, "admin")
        current = self.env.http.get("/settings/superoffice", headers=admin)
        assert current.status_code == 200, current.text
        patched = self.env.http.patch(
            "/settings/superoffice", json=sections, headers={**admin, "If-Match": current.headers["etag"]}
        )
        assert patched.status_code == 200, patched.text

    def cold_container(self) -> None:
        """A new Lambda container: no cached grant, metadata, clients or providers."""
        runtime.reset()
        reset_providers()


@pytest.fixture
def calls(env: Env) -> Iterator[Calls]:
    sb = env.sandbox
    for field in json.loads(LEAD_FIELDS.read_text(encoding="utf-8"))["custom_fields"]:
        kind = "Decimal" if field["prog_id"] in DECIMALS else UDEF_TYPES.get(field["type"], "ShortText")
        sb.define_udef(
            CTX, "contact", field["prog_id"], field["name_da"], "Date" if field["prog_id"] == "RabitIQ:35" else kind
        )
    aws = AwsCalls()
    runtime.reset()  # the functions' clients are built again, with the hook
    env.connect(TENANT)
    with sb.lock:  # CRM change notifications are not part of an export
        sb.customers[CTX].webhooks.clear()
    try:
        yield Calls(env, aws)
    finally:
        aws.close()


def writes(crm: Counter[str]) -> int:
    return sum(n for op, n in crm.items() if op.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE"))


def metadata_reads(crm: Counter[str]) -> int:
    return sum(n for op, n in crm.items() if op.startswith("GET") and op.endswith(METADATA))


def test_a_new_lead_takes_the_minimum_five_requests_once_the_field_metadata_is_cached(calls: Calls) -> None:
    body, crm, _ = calls.export(issue6_lead(1))
    assert body["company"]["action"] == "created" and len(body["persons"]) == 3
    assert len(json.loads(LEAD_FIELDS.read_text(encoding="utf-8"))["custom_fields"]) == 37
    assert metadata_reads(crm) == 6  # first export of the container: company and person metadata
    assert crm["GET /api/v1/Contact"] == 1  # one match query for org number, name and domains

    body, crm, aws = calls.export(issue6_lead(2))
    assert body["company"]["action"] == "created" and body["match"]["verdict"] == "none"
    assert crm == Counter({"GET /api/v1/Contact": 1, "POST /api/v1/Contact": 1, "POST /api/v1/Person": 3})
    assert body["crm_calls"] == 5
    assert aws["Secrets Manager GetSecretValue"] == 0  # the grant is cached in the container
    # The connection list and the settings once (the connector reuses both); the company link before the lease
    # (the unchanged check) and again under it (another export may just have written it); lease taken and released.
    assert aws["DynamoDB Query"] == 1 and aws["DynamoDB GetItem"] == 3 and aws["DynamoDB DeleteItem"] == 1
    # Writes: the lease; the company link as soon as the company exists; then the person links with the company's
    # final link in one batch, and the four log entries in another; the record states of the four records written
    # (what the sync will read back as no change) in one more.
    assert aws["DynamoDB PutItem"] == 1 and aws["DynamoDB BatchWriteItem"] == 4


def test_an_unchanged_re_export_makes_no_crm_call_takes_no_lease_and_reads_no_secret(calls: Calls) -> None:
    first = issue6_lead(3)
    calls.export(first)
    calls.cold_container()  # even a fresh container: nothing of the CRM is needed

    body, crm, aws = calls.export(first)

    assert body["status"] == "unchanged" and body["crm_calls"] == 0 and len(body["persons"]) == 3
    assert crm == Counter()
    assert aws["Secrets Manager GetSecretValue"] == 0  # no CRM call, so no token
    # The connection list, the settings, the company link, the person links, and the one sync log entry.
    assert aws == Counter({"DynamoDB Query": 2, "DynamoDB GetItem": 2, "DynamoDB PutItem": 1}), (
        "no lease (PutItem + DeleteItem) and no second settings or connection read"
    )


def test_the_first_crm_call_of_a_cold_container_reads_the_token_once(calls: Calls) -> None:
    calls.cold_container()
    body, crm, aws = calls.export(issue6_lead(4))
    assert body["company"]["action"] == "created"
    assert aws["Secrets Manager GetSecretValue"] == 1
    assert metadata_reads(crm) == 6 and writes(crm) == 4


def test_a_changed_lead_writes_only_what_changed_without_reading_metadata_again(calls: Calls) -> None:
    lead = issue6_lead(5)
    calls.export(lead)
    changed = {**lead, "score": 91}

    body, crm, _ = calls.export(changed)

    assert body["status"] == "exported" and body["fields_written"] == ["RabitIQ:1"]
    assert crm == Counter({"PATCH /api/v1/Contact/{id}": 1})  # the one changed field; no metadata, no match


def test_a_change_no_company_or_person_field_reads_is_an_unchanged_re_export(calls: Calls) -> None:
    lead = issue6_lead(7)
    calls.export(lead)
    body, crm, aws = calls.export({**lead, "stage": "Qualified", "dealTitle": "Another deal title"})
    assert body["status"] == "unchanged" and crm == Counter()
    assert aws["DynamoDB PutItem"] == 1  # its log entry only


def test_a_stage_change_of_a_linked_lead_touches_only_the_deal(calls: Calls) -> None:
    calls.configure(status_mapping=STATUS_MAPPING)
    lead = {**issue6_lead(6), "stage": "Lead", "dealTitle": "Bolt 6", "dealAmount": "25000"}
    first, _, _ = calls.event(lead, type="stage_changed", stage="Lead", occurred_at="2026-03-01T09:01:00+00:00")
    assert first["outcome"] == "applied" and first["deal"]["action"] == "created", first

    body, crm, aws = calls.event(
        {**lead, "stage": "Qualified"}, type="stage_changed", stage="Qualified", occurred_at="2026-03-01T09:02:00+00:00"
    )

    assert body["outcome"] == "applied" and body["deal"]["action"] == "updated", body
    assert body["company"]["action"] == "unchanged" and [p["action"] for p in body["persons"]] == ["unchanged"] * 3
    assert crm == Counter({"PATCH /api/v1/Sale/{id}": 1}), crm  # only the sale's stage
    # Writes: the event's lease, the company's "unchanged" log entry and the deal's log entry; the deal link with its
    # pointer by CRM id (one batch), the deal's record state (one more); the company and person links are not
    # written again (the stage is no company or person field).
    assert aws["DynamoDB PutItem"] == 3 and aws["DynamoDB BatchWriteItem"] == 2 and aws["DynamoDB DeleteItem"] == 1
