"""HubSpot's REST rules on the shared `CrmTransport`: error bodies translated in one place, pacing per account, and
the statuses HubSpot asks clients to handle themselves (reference §7).

Error body: `{status, message, correlationId, category, subCategory?, context?, errors[{message, code, context}]}`,
every field optional. `translate` maps it (and a 207 batch item, the same shape) to leadbridge's CRM errors:

| answer | error |
|---|---|
| 404 / `OBJECT_NOT_FOUND` | `CrmNotFound` |
| 409 / `CONFLICT` | `CrmConflict` |
| 400 `VALIDATION_ERROR` with properties | `CrmRejected` naming them; all `PROPERTY_DOESNT_EXIST`: `CrmFieldUnknown` |
| 401 (after the transport's one refresh) | `NeedsReauth` |
| 403 `MISSING_SCOPES` | `NeedsReauth` naming the scopes: connecting again grants them |
| 429 | `RateLimited` (see below) |
| 477 | `RateLimited` with the `Retry-After` (up to 24 h): reschedule, never retried here |
| 5xx | `CrmUnavailable` (502/504 are retried by the sender first, like a 429) |

Handled before translation (`_replay`): 429 with `policyName` `DAILY` stops at once (`RateLimited` until the next
UTC midnight: the reset's time zone is **unconfirmed**, HubSpot resets at midnight in the account's zone); any other
429 marks the account's window full and sends again after the backoff, until the sender's attempts or total wait
run out. 423 (a lock during high-volume upserts) waits at least 2 s and sends again, as often.

The `correlationId` of every error is logged (never a token); HubSpot support asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from leadbridge.crm.base import TokenSource
from leadbridge.crm.http import RetryingSender, backoff_delay, parse_retry_after
from leadbridge.crm.hubspot.pacing import AccountLimits
from leadbridge.crm.transport import CrmTransport, Replay
from leadbridge.errors import (
    CrmConflict,
    CrmError,
    CrmFieldUnknown,
    CrmNotFound,
    CrmRejected,
    CrmUnavailable,
    NeedsReauth,
    RateLimited,
)

log = logging.getLogger(__name__)

_MAX_REASON = 500
LOCKED_WAIT = 2.0  # §7: HubSpot locks for about 2 s during high-volume upserts
Lane = Literal["general", "search"]


def _names(value: Any) -> list[str]:
    """A `context.propertyName` as a list: HubSpot sends a list of strings (the sandbox) or a string."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def problem_items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for e in body.get("errors") or [] if isinstance(e, Mapping)]


def translate_body(op: str, status: int, body: Any, *, retry_after: float | None = None) -> CrmError:
    """A HubSpot error body (or a 207 batch item) as a leadbridge CRM error."""
    body = body if isinstance(body, Mapping) else {}
    category = str(body.get("category") or body.get("errorType") or "")
    items = problem_items(body)
    codes = [str(i.get("code") or "") for i in items]
    fields = list(dict.fromkeys(n for i in items for n in _names((i.get("context") or {}).get("propertyName"))))
    details = "; ".join(str(i.get("message") or "") for i in items if i.get("message"))
    reason = (str(body.get("message") or f"HTTP {status}") + (f" ({details})" if details else ""))[:_MAX_REASON]
    correlation = body.get("correlationId")
    if correlation:
        log.info("hubspot %s answered %s %s (correlationId %s)", op, status, category or "-", correlation)
    if status == 404 or category == "OBJECT_NOT_FOUND":
        return CrmNotFound(f"HubSpot {op}: {reason}")
    if status == 409 or category == "CONFLICT":
        return CrmConflict(f"HubSpot {op}: {reason}", details={"fields": fields})
    if status == 401:
        return NeedsReauth(f"HubSpot rejected the token during {op}")
    if status == 403 and category == "MISSING_SCOPES":
        scopes = sorted({s for i in items for s in _names((i.get("context") or {}).get("requiredGranularScopes"))})
        return NeedsReauth(
            f"The HubSpot app lacks the scope {', '.join(scopes) or '(not named)'} for {op}; connect HubSpot again to "
            "grant it",
        )
    if status == 403:  # not a scope: the connected user or the portal may not do this, for any record
        return NeedsReauth(
            f"HubSpot refused {op} (HTTP 403: {reason}); the connected HubSpot user lacks a permission this needs: "
            "an admin can grant it in HubSpot, or connect HubSpot again as a user who has it",
        )
    if status in (429, 477) or category == "RATE_LIMIT":
        return RateLimited(f"HubSpot {op}: {reason}", retry_after=retry_after)
    if status == 423 or status >= 500:
        return CrmUnavailable(f"HubSpot failed {op}: {reason}",
                              details={"crm_status": status, "retry_after": retry_after})  # fmt: skip
    if fields and set(codes) == {"PROPERTY_DOESNT_EXIST"}:
        return CrmFieldUnknown(f"HubSpot rejected {op}: {reason}", fields=fields, status=status)
    return CrmRejected(f"HubSpot rejected {op}: {reason}", fields=fields, status=status)


def translate(op: str, response: httpx.Response, sent: Any = None) -> CrmError:
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return translate_body(op, response.status_code, _body_or_none(response), retry_after=retry_after)


class HubSpotClient:
    """One account's HTTP to the CRM API (`api_base`, e.g. `https://api.hubapi.com`)."""

    def __init__(
        self,
        *,
        api_base: str,
        tokens: TokenSource,
        sender: RetryingSender,
        limits: AccountLimits,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.sender = sender
        self.limits = limits
        self.transport = CrmTransport(
            sender,
            tokens,
            service="HubSpot",
            translate=translate,
            reauth_message="HubSpot rejected the token even after a refresh",
            observe=self._observe,
        )

    def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        lane: Lane = "general",
    ) -> Any:
        """Parsed JSON of a 2xx answer (None for 204). `lane`: which of the account's budgets the request spends."""
        window = self.limits.search if lane == "search" else self.limits.general

        def url() -> str:  # asked before every attempt the transport makes (a replay, a retry after 401)
            window.acquire(self.sender.sleep)
            return f"{self.api_base}{path}"

        return self.transport.request(op, method, url, params=params, json_body=json_body,
                                      replay=self._replay(op, lane))  # fmt: skip

    def _replay(self, op: str, lane: Lane) -> Replay:
        attempts = 0
        waited = 0.0

        def replay(response: httpx.Response) -> bool:
            nonlocal attempts, waited
            status = response.status_code
            if status not in (423, 429):
                return False
            policy = self.sender.policy
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            body = _body_or_none(response)
            if status == 429 and isinstance(body, Mapping) and body.get("policyName") == "DAILY":
                raise RateLimited(f"HubSpot's daily request limit is reached ({op}); sync resumes after the reset",
                                  retry_after=retry_after if retry_after is not None else _until_utc_midnight())
            attempts += 1
            if status == 429:
                (self.limits.search if lane == "search" else self.limits.general).exhaust()
                delay = retry_after if retry_after is not None else backoff_delay(attempts - 1, policy,
                                                                                  self.sender.rand)
            else:
                delay = max(LOCKED_WAIT, retry_after or 0.0)
            if attempts >= policy.max_attempts or waited + delay > policy.max_total_wait:
                raise translate(op, response)
            log.info("hubspot %s answered %s; sending again in %.2fs", op, status, delay)
            self.sender.sleep(delay)
            waited += delay
            return True

        return replay

    def _observe(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
        if remaining is not None and remaining.strip().lstrip("-").isdigit():
            self.limits.general.correct(int(remaining))


def _until_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _body_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        text = response.text.strip()[:_MAX_REASON]
        return {"message": text} if text and not text.startswith("<") else None
