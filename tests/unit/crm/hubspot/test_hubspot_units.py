"""HubSpot connector pieces without a sandbox: the one error translation, the client's own 429 handling and pacing
(on an injected clock, HTTP answered by `httpx.MockTransport`), and property value conversions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from leadbridge.crm.http import RetryingSender, RetryPolicy
from leadbridge.crm.hubspot import pacing
from leadbridge.crm.hubspot.client import HubSpotClient, translate_body
from leadbridge.crm.hubspot.properties import Properties, check_write, decode
from leadbridge.errors import CrmConflict, CrmFieldUnknown, CrmNotFound, CrmRejected, NeedsReauth, RateLimited


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Tokens:
    def access_token(self) -> str:
        return "tok"

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        raise NeedsReauth("no")


def client_answering(answers: list[httpx.Response], clock: FakeClock) -> tuple[HubSpotClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers.pop(0)

    http = httpx.Client(transport=httpx.MockTransport(handle))
    sender = RetryingSender(http, policy=RetryPolicy(retry_statuses=frozenset({502, 504})), calls=Counter(),
                            sleep=clock.sleep, rand=lambda: 0.5, service="HubSpot")  # fmt: skip
    pacing.reset()
    limits = pacing.for_account("42", clock=clock)
    return HubSpotClient(api_base="https://api.example", tokens=Tokens(), sender=sender, limits=limits), sent


def error(status: int, category: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"status": "error", "message": "m", "correlationId": "c-1", "category": category, "errors": errors or [],
            **extra}  # fmt: skip


def test_translation_of_error_bodies() -> None:
    assert isinstance(translate_body("get", 404, error(404, "OBJECT_NOT_FOUND")), CrmNotFound)
    assert isinstance(translate_body("create", 409, error(409, "CONFLICT")), CrmConflict)
    gone = translate_body("create", 400, error(400, "VALIDATION_ERROR", errors=[
        {"code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["cvr"]}}]))  # fmt: skip
    assert isinstance(gone, CrmFieldUnknown) and gone.fields == ["cvr"]
    mixed = translate_body("create", 400, error(400, "VALIDATION_ERROR", errors=[
        {"code": "PROPERTY_DOESNT_EXIST", "context": {"propertyName": ["cvr"]}},
        {"code": "INVALID_OPTION", "context": {"propertyName": "industry"}}]))  # fmt: skip
    assert type(mixed) is CrmRejected and mixed.fields == ["cvr", "industry"]
    scopes = translate_body("owners", 403, error(403, "MISSING_SCOPES", errors=[
        {"context": {"requiredGranularScopes": ["crm.objects.owners.read"]}}]))  # fmt: skip
    assert isinstance(scopes, NeedsReauth) and "crm.objects.owners.read" in scopes.message
    forbidden = translate_body("companies.update", 403, error(403, "FORBIDDEN"))
    assert isinstance(forbidden, NeedsReauth) and "permission" in forbidden.message  # the account's, not a record's
    moving = translate_body("update", 477, error(477, "MIGRATION_IN_PROGRESS"), retry_after=86400)
    assert isinstance(moving, RateLimited) and moving.retry_after == 86400


def test_daily_limit_stops_at_once() -> None:
    clock = FakeClock()
    daily = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
             "correlationId": "c", "policyName": "DAILY", "requestId": "r"}  # fmt: skip
    client, sent = client_answering([httpx.Response(429, json=daily)], clock)
    with pytest.raises(RateLimited) as limited:
        client.request("companies.get", "GET", "/crm/v3/objects/companies/1")
    assert len(sent) == 1 and clock.slept == []  # not retried hot
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 86400


def test_ten_secondly_429_waits_and_sends_again() -> None:
    clock = FakeClock()
    limited = {"status": "error", "message": "slow down", "errorType": "RATE_LIMIT", "correlationId": "c",
               "policyName": "TEN_SECONDLY_ROLLING", "requestId": "r"}  # fmt: skip
    client, sent = client_answering([httpx.Response(429, json=limited), httpx.Response(200, json={"id": "1"})], clock)
    assert client.request("companies.get", "GET", "/crm/v3/objects/companies/1") == {"id": "1"}
    assert len(sent) == 2 and sum(clock.slept) >= 1.0


def test_remaining_header_corrects_the_accounts_window() -> None:
    clock = FakeClock()
    answers = [httpx.Response(200, json={}, headers={"X-HubSpot-RateLimit-Remaining": "0"}),
               httpx.Response(200, json={})]  # fmt: skip
    client, _ = client_answering(answers, clock)
    client.request("a", "GET", "/x")
    client.request("b", "GET", "/x")  # another process spent the rest: this one waits for the window
    assert sum(clock.slept) == pytest.approx(10.5)  # HubSpot's 10 s and the 5 % margin (pacing.MARGIN)


def test_search_has_its_own_five_per_second() -> None:
    clock = FakeClock()
    client, _ = client_answering([httpx.Response(200, json={}) for _ in range(6)], clock)
    for _ in range(6):
        client.request("s", "POST", "/crm/v3/objects/companies/search", json_body={}, lane="search")
    # The sixth waits out HubSpot's second plus the margin for arrival jitter (pacing.MARGIN, at least 50 ms).
    assert sum(clock.slept) == pytest.approx(1.05)
    assert client.limits.general.remaining() == 110  # search not counted in the general budget


def test_values_convert_by_property_type() -> None:
    props = Properties.of("deals", {"results": [
        {"name": "amount", "type": "number", "fieldType": "number"},
        {"name": "closedate", "type": "datetime", "fieldType": "date"},
        {"name": "day", "type": "date", "fieldType": "date"},
        {"name": "flag", "type": "bool", "fieldType": "booleancheckbox"},
        {"name": "kind", "type": "enumeration", "fieldType": "select", "options": [{"value": "A", "label": "a"}]},
        {"name": "won", "type": "bool", "fieldType": "booleancheckbox", "calculated": True},
    ]})  # fmt: skip
    body = check_write(props, {"amount": Decimal("1200.50"), "closedate": datetime(2026, 7, 1, 12, tzinfo=UTC),
                               "day": date(2026, 7, 2), "flag": True, "kind": "A"})  # fmt: skip
    assert body == {"amount": "1200.5", "closedate": "2026-07-01T12:00:00.000Z", "day": "2026-07-02",
                    "flag": "true", "kind": "A"}  # fmt: skip
    assert decode(props.get("amount"), "12") == 12 and decode(props.get("amount"), "1.5") == Decimal("1.5")
    assert decode(props.get("closedate"), "1782907200000") == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert decode(props.get("flag"), "false") is False and decode(props.get("kind"), "") is None
    with pytest.raises(CrmRejected) as refused:
        check_write(props, {"amount": "lots", "kind": "B", "won": True, "flag": "maybe"})
    assert refused.value.fields == ["amount", "kind", "won", "flag"]


def test_multi_select_values_and_local_dates_are_written_as_hubspot_stores_them() -> None:
    props = Properties.of("companies", {"results": [
        {"name": "tags", "type": "enumeration", "fieldType": "checkbox",
         "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        {"name": "day", "type": "date", "fieldType": "date"},
    ]})  # fmt: skip
    copenhagen = timezone(timedelta(hours=2))
    body = check_write(props, {"tags": ["a", "b"], "day": datetime(2026, 6, 2, 0, 30, tzinfo=copenhagen)})
    assert body == {"tags": "a;b", "day": "2026-06-02"}  # not "['a', 'b']", not the UTC date 2026-06-01
    with pytest.raises(CrmRejected) as refused:
        check_write(props, {"tags": ["a", "c"]})
    assert refused.value.fields == ["tags"]
