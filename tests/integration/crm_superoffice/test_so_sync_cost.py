"""What an incremental read of N changed records costs in SuperOffice requests, counted by the sandbox: one archive
query per page of `page_size` (ceil(N / page) + at most one empty page that ends the run), plus the object's field
metadata once per connection. No record is read on its own."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from leadbridge.models.crm import CrmObject
from tests.support.superoffice_connector import CTX, SoEnv

N = 250
PAGE = 100
METADATA = 2  # UdefLayout/Published and CustomField, once per object and connection


@pytest.mark.parametrize(
    ("obj", "kind", "body"),
    [
        (CrmObject.COMPANY, "contact", lambda i, company: {"Name": f"Firma {i} ÆØÅ"}),
        (CrmObject.PERSON, "person", lambda i, company: {"Lastname": f"P{i}", "Contact": {"ContactId": company}}),
        (CrmObject.DEAL, "sale", lambda i, company: {"Heading": f"S{i}", "Contact": {"ContactId": company}}),
    ],
)
def test_a_sync_of_n_changed_records_costs_one_request_per_page(so: SoEnv, obj, kind, body) -> None:  # type: ignore[no-untyped-def]
    sandbox = so.sandbox
    sandbox.define_udef(CTX, kind, "RabitIQ:1", "Score", "Number")
    sandbox.define_udef(CTX, kind, "RabitIQ:2", "Segment", "List", list_items={1: "A", 2: "B"})
    company = sandbox.create(CTX, "contact", {"Name": "Parent"})["ContactId"]
    created = {sandbox.create(CTX, kind, body(i, company))[f"{kind.capitalize()}Id"] for i in range(N)}
    connector, _ = so.connector(page_size=PAGE)
    sandbox.reset_call_counts(CTX)

    seen: list[str] = []
    token = None
    while True:
        page = connector.changes_since(obj, datetime.now(UTC) - timedelta(hours=1), token)
        seen += [r.id for r in page.records]
        token = page.next_page_token
        if token is None:
            break

    assert set(seen) >= {str(i) for i in created} and len(seen) == len(set(seen))
    assert all("RabitIQ:1" in r.fields and "RabitIQ:2" in r.fields for r in page.records)
    counts = sandbox.call_counts(CTX)
    requests = sum(counts.values())
    assert requests <= math.ceil(len(seen) / PAGE) + 1 + METADATA, counts
    assert not [op for op in counts if op.startswith("GET /api/v1/") and op.endswith("/{id}")], counts
    assert requests / len(seen) <= 0.05  # ≤ 0.01 at the default page of 1,000
