"""Selective sync (seed 004) and the inbound filter.

Selective sync: conditions on app fields and the pipeline stage decide which app records are *created in the CRM*,
and nothing else. "Going forward, not retroactively": the rules decide whether a record that is *not yet linked* to a
CRM record gets created there. A record that is already linked keeps syncing when it stops matching — nothing already
in the CRM is unlinked or deleted because a rule changed. Records are evaluated when they change, so a rule saved today
applies to every change from now on, not to past changes. The rules never filter what comes in from the CRM.

The inbound filter (`settings.inbound_filter`, default none) is its own setting: conditions on CRM-side values decide
whether a CRM record the app has not heard of is brought in (`admits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import Condition, InboundFilter, RuleOp, SelectiveSync, StatusMapping


class RuleDecision(BaseModel):
    model_config = ConfigDict(defer_build=True)

    sync: bool
    reasons: list[str] = Field(default_factory=list)  # why not, one sentence per failed condition


def evaluate(
    rules: SelectiveSync,
    records: Mapping[CrmObject, Mapping[str, Any]],
    *,
    status_mapping: StatusMapping,
    linked: bool = False,
) -> RuleDecision:
    """Decide whether an app record (given as its app-side objects, e.g. {company: {...}, deal: {...}}) syncs."""
    if not rules.enabled or not rules.conditions:
        return RuleDecision(sync=True)
    if linked:
        return RuleDecision(sync=True, reasons=["already linked to a CRM record: keeps syncing"])
    failures: list[str] = []
    for condition in rules.conditions:
        record = records.get(condition.object)
        if record is None:
            failures.append(f"{condition.object.value}.{condition.field}: no {condition.object.value} record")
            continue
        if not matches(condition, record.get(condition.field), status_mapping):
            failures.append(describe(condition))
    ok = not failures if rules.match == "all" else len(failures) < len(rules.conditions)
    return RuleDecision(sync=ok, reasons=[] if ok else failures)


def admits(rules: InboundFilter, obj: CrmObject, crm_values: Mapping[str, Any]) -> RuleDecision:
    """Whether the inbound filter lets in a CRM record of `obj` the app has not heard of, judged by its conditions on
    `obj` (values as the connector reads them). An object without conditions is let in."""
    conditions = [c for c in rules.conditions if c.object is obj]
    if not conditions:
        return RuleDecision(sync=True)
    failures: list[str] = []
    for c in conditions:
        as_rule = Condition(object=c.object, field=c.crm_field, op=c.op, value=c.value)
        if not matches(as_rule, crm_values.get(c.crm_field), StatusMapping()):
            failures.append(f"inbound filter: {describe(as_rule)}")
    ok = not failures if rules.match == "all" else len(failures) < len(conditions)
    return RuleDecision(sync=ok, reasons=[] if ok else failures)


def describe(condition: Condition) -> str:
    value = "" if condition.op in (RuleOp.IS_EMPTY, RuleOp.IS_NOT_EMPTY) else f" {condition.value!r}"
    return f"{condition.object.value}.{condition.field} does not satisfy {condition.op.value}{value}"


def matches(condition: Condition, actual: Any, status_mapping: StatusMapping) -> bool:
    op, expected = condition.op, condition.value
    empty = actual is None or (isinstance(actual, str) and not actual.strip()) or actual == []
    if op is RuleOp.IS_EMPTY:
        return empty
    if op is RuleOp.IS_NOT_EMPTY:
        return not empty
    if op is RuleOp.AT_OR_AFTER_STAGE:
        rank, threshold = status_mapping.stage_rank(actual), status_mapping.stage_rank(expected)
        return rank is not None and threshold is not None and rank >= threshold
    if op is RuleOp.NE:
        return empty or not _equal(actual, expected)
    if op is RuleOp.NOT_IN:
        return empty or not any(_equal(actual, e) for e in expected)
    if empty:
        return False
    if op is RuleOp.EQ:
        return _equal(actual, expected)
    if op is RuleOp.IN:
        return any(_equal(actual, e) for e in expected)
    if op is RuleOp.CONTAINS:
        return _text(expected) in _text(actual)
    if op is RuleOp.NOT_CONTAINS:
        return _text(expected) not in _text(actual)
    if op is RuleOp.STARTS_WITH:
        return _text(actual).startswith(_text(expected))
    return _compare(op, actual, expected)


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _equal(actual: Any, expected: Any) -> bool:
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return _text(actual) == _text(expected)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _compare(op: RuleOp, actual: Any, expected: Any) -> bool:
    left: Any
    right: Any
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        # Dates compare as ISO strings ("2024-05-01" < "2024-06-01"); anything else does not match.
        if not isinstance(actual, date | datetime | str) or not isinstance(expected, str):
            return False
        left = actual.isoformat() if isinstance(actual, date | datetime) else actual
        right = expected
    if op is RuleOp.GT:
        return bool(left > right)
    if op is RuleOp.GTE:
        return bool(left >= right)
    if op is RuleOp.LT:
        return bool(left < right)
    return bool(left <= right)
