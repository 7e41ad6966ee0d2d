"""Pure parts of lead lifecycle events: the event contract and its domain checks (422s naming the field)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leadbridge.errors import InvalidInput
from leadbridge.lifecycle import LeadEvent, LeadEventMessage, LeadEventType, check_event


def test_an_event_reads_camel_case_leads_and_a_zoned_time() -> None:
    event = LeadEvent.model_validate(
        {"type": "won", "lead": {"id": "L1", "companyName": "Acme"}, "occurred_at": "2026-03-01T12:00:00+01:00"}
    )
    assert event.type is LeadEventType.WON and event.lead.company_name == "Acme"
    assert event.occurred_at == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"type": "promoted", "lead": {"id": "L1"}}, ("type",)),
        ({"type": "won"}, ("lead",)),
        ({"type": "won", "lead": {"id": "L1"}, "colour": "red"}, ("colour",)),
        ({"type": "won", "lead": {"id": "L1"}, "event_id": "a#b"}, ("event_id",)),
        ({"type": "won", "lead": {"id": "L1", "score": "high"}}, ("lead", "score")),
    ],
)
def test_a_malformed_event_names_the_bad_field(body: dict[str, object], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        LeadEvent.model_validate(body)
    assert loc in [e["loc"] for e in exc.value.errors()]


def test_stage_changed_needs_a_stage_transferred_an_owner_and_the_path_id_must_match() -> None:
    with pytest.raises(InvalidInput) as exc:
        check_event(LeadEvent.model_validate({"type": "stage_changed", "lead": {"id": "L1"}}), "L1")
    assert [e["loc"] for e in exc.value.errors] == [["body", "stage"]]
    with pytest.raises(InvalidInput) as exc:
        check_event(LeadEvent.model_validate({"type": "transferred", "lead": {"id": "L1"}}), "L2")
    assert [e["loc"] for e in exc.value.errors] == [["body", "lead", "id"], ["body", "owner"]]
    # The lead's own stage / owner count as the new ones.
    check_event(LeadEvent.model_validate({"type": "stage_changed", "lead": {"id": "L1", "stage": "Lead"}}), "L1")
    check_event(LeadEvent.model_validate({"type": "transferred", "lead": {"id": "L1"}, "owner": "u2"}), "L1")


def test_a_bus_message_carries_tenant_lead_and_event() -> None:
    message = LeadEventMessage.model_validate(
        {"tenant_id": "acme", "lead_id": "L1", "event": {"type": "created", "lead": {"id": "L1"}}}
    )
    assert (message.tenant_id, message.crm, message.event.type) == ("acme", None, LeadEventType.CREATED)
    with pytest.raises(ValidationError):
        LeadEventMessage.model_validate(
            {"tenant_id": "a#b", "lead_id": "L1", "event": {"type": "won", "lead": {"id": "L1"}}}
        )
