"""An app event's detail as the bus receives it: the same JSON whether the event was made from a model (the inbound
path writes each change's JSON once, by pydantic) or from a mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from leadbridge.models.changes import ChangeAction, ChangeEvent, ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject
from leadbridge.store.events import AppEvent


def _change() -> ChangeEvent:
    return ChangeEvent(
        id="chg_1",
        type=ChangeType.COMPANY_CHANGED,
        action=ChangeAction.UPDATED,
        tenant="t1",
        crm="salesforce",
        object=CrmObject.COMPANY,
        crm_id="001A",
        fields={"name": "Müller & Söhne", "employees": 12, "score": 1.5, "tags": ["a", "b"]},
        changed_fields=["name"],
        crm_updated_at=datetime(2026, 12, 3, 7, 0, tzinfo=UTC),
        source=ChangeSource.SCHEDULE,
        occurred_at=datetime(2026, 12, 3, 7, 0, 1, tzinfo=UTC),
    )


def test_an_event_made_from_a_model_carries_what_the_mapping_form_carries() -> None:
    change = _change()
    from_model = AppEvent.of("CompanyChanged", change)
    from_mapping = AppEvent("CompanyChanged", change.model_dump(mode="json"))

    assert json.loads(from_model.detail_json) == json.loads(from_mapping.detail_json)
    assert from_model.detail == from_mapping.detail
    assert from_model.detail["fields"]["name"] == "Müller & Söhne"
    assert from_model.detail["crm_updated_at"] == "2026-12-03T07:00:00Z"


def test_the_detail_is_compact_json() -> None:
    assert AppEvent("X", {"a": 1, "b": [1, 2]}).detail_json == '{"a":1,"b":[1,2]}'


@pytest.mark.parametrize("given", [{}, {"detail": {"a": 1}, "detail_json": '{"a":1}'}])
def test_an_event_takes_its_detail_one_way(given: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="one of the two"):
        AppEvent("X", **given)  # type: ignore[arg-type]
