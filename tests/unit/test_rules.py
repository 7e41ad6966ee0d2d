"""Selective-sync rules: field and pipeline-stage conditions, all/any, and "going forward" semantics."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from leadbridge.mapping.rules import admits, evaluate
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import InboundFilter, SelectiveSync, StatusMapping

PIPELINE = StatusMapping(app_stages=["New", "Lead", "Qualified", "Won"])


def rules(*conditions: dict[str, Any], match: str = "all") -> SelectiveSync:
    return SelectiveSync.model_validate({"enabled": True, "match": match, "conditions": list(conditions)})


def decide(r: SelectiveSync, company: dict[str, Any], *, linked: bool = False) -> bool:
    return evaluate(r, {CrmObject.COMPANY: company}, status_mapping=PIPELINE, linked=linked).sync


def test_disabled_or_empty_rules_sync_everything() -> None:
    assert decide(SelectiveSync(), {"score": 1})
    assert decide(SelectiveSync(enabled=True), {"score": 1})


@pytest.mark.parametrize(
    ("condition", "record", "expected"),
    [
        ({"field": "score", "op": "gte", "value": 50}, {"score": 50}, True),
        ({"field": "score", "op": "gt", "value": 50}, {"score": 50}, False),
        ({"field": "score", "op": "lt", "value": "50"}, {"score": 49}, True),
        ({"field": "score", "op": "gte", "value": 50}, {"score": None}, False),
        ({"field": "industry", "op": "eq", "value": "fishing"}, {"industry": "Fishing "}, True),
        ({"field": "industry", "op": "ne", "value": "Fishing"}, {"industry": None}, True),
        ({"field": "industry", "op": "in", "value": ["IT", "Fishing"]}, {"industry": "fishing"}, True),
        ({"field": "industry", "op": "not_in", "value": ["IT"]}, {"industry": "Fishing"}, True),
        ({"field": "company_name", "op": "contains", "value": "fisk"}, {"company_name": "Nordisk Fisk"}, True),
        ({"field": "company_name", "op": "not_contains", "value": "fisk"}, {"company_name": "Nordisk Fisk"}, False),
        ({"field": "company_name", "op": "starts_with", "value": "nor"}, {"company_name": "Nordisk"}, True),
        ({"field": "org_number", "op": "is_empty"}, {"org_number": " "}, True),
        ({"field": "org_number", "op": "is_not_empty"}, {"org_number": "123"}, True),
        ({"field": "created_date", "op": "gte", "value": "2024-06-01"}, {"created_date": "2024-05-01"}, False),
        ({"field": "stage", "op": "at_or_after_stage", "value": "Lead"}, {"stage": "Qualified"}, True),
        ({"field": "stage", "op": "at_or_after_stage", "value": "Lead"}, {"stage": "New"}, False),
        ({"field": "stage", "op": "at_or_after_stage", "value": "Lead"}, {"stage": "Unknown"}, False),
    ],
)
def test_each_operator(condition: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert decide(rules(condition), record) is expected


def test_all_versus_any_and_reasons() -> None:
    both = ({"field": "score", "op": "gte", "value": 50}, {"field": "industry", "op": "eq", "value": "IT"})
    record = {"score": 80, "industry": "Fishing"}
    assert not decide(rules(*both), record)
    assert decide(rules(*both, match="any"), record)
    decision = evaluate(rules(*both), {CrmObject.COMPANY: record}, status_mapping=PIPELINE)
    assert decision.reasons == ["company.industry does not satisfy eq 'IT'"]


def test_going_forward_a_linked_record_keeps_syncing_when_it_stops_matching() -> None:
    r = rules({"field": "score", "op": "gte", "value": 50})
    assert not decide(r, {"score": 10})
    assert decide(r, {"score": 10}, linked=True)


def test_condition_on_a_missing_object_does_not_match() -> None:
    r = rules({"object": "deal", "field": "amount", "op": "gt", "value": 0})
    assert not decide(r, {"score": 10})


def test_malformed_conditions_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="needs a list value"):
        rules({"field": "industry", "op": "in", "value": "IT"})
    with pytest.raises(ValidationError, match="needs a value"):
        rules({"field": "industry", "op": "eq"})
    with pytest.raises(ValidationError, match="applies to the field 'stage' only"):
        rules({"field": "industry", "op": "at_or_after_stage", "value": "Lead"})


# --- the inbound filter (conditions on CRM-side values) -------------------------------------------------------------


def inbound(*conditions: dict[str, Any], match: str = "all") -> InboundFilter:
    return InboundFilter.model_validate({"match": match, "conditions": list(conditions)})


def test_no_inbound_filter_lets_everything_in() -> None:
    assert admits(InboundFilter(), CrmObject.COMPANY, {}).sync
    only_persons = inbound({"object": "person", "crm_field": "Email", "op": "is_not_empty"})
    assert admits(only_persons, CrmObject.COMPANY, {}).sync  # no condition on companies


def test_the_inbound_filter_judges_crm_values_and_says_which_condition_failed() -> None:
    tech = inbound({"crm_field": "Industry", "op": "eq", "value": "Technology"},
                   {"crm_field": "NumberOfEmployees", "op": "gte", "value": 10})  # fmt: skip
    assert admits(tech, CrmObject.COMPANY, {"Industry": "technology ", "NumberOfEmployees": 12}).sync
    refused = admits(tech, CrmObject.COMPANY, {"Industry": "Retail", "NumberOfEmployees": 12})
    assert not refused.sync and refused.reasons == ["inbound filter: company.Industry does not satisfy eq 'Technology'"]
    any_of = inbound({"crm_field": "Industry", "op": "eq", "value": "Technology"},
                     {"crm_field": "NumberOfEmployees", "op": "gte", "value": 10}, match="any")  # fmt: skip
    assert admits(any_of, CrmObject.COMPANY, {"Industry": "Retail", "NumberOfEmployees": 12}).sync
    assert not admits(any_of, CrmObject.COMPANY, {"Industry": "Retail"}).sync  # a missing value does not match


@pytest.mark.parametrize(
    "condition",
    [
        {"crm_field": "Stage", "op": "at_or_after_stage", "value": "Won"},  # app pipeline only
        {"crm_field": "Industry", "op": "in", "value": "Technology"},  # needs a list
        {"crm_field": "Industry", "op": "eq"},  # needs a value
        {"crm_field": "", "op": "is_empty"},
        {"field": "Industry", "op": "is_empty"},  # CRM fields are named by crm_field
    ],
)
def test_a_malformed_inbound_condition_is_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        inbound(condition)
