"""The Salesforce REST HTTP client: Salesforce's rules on top of the shared `CrmTransport` (bearer token, one refresh
on 401, retries, call counting), and the translation of its errors.

- Base: the token's `instance_url`; requests go to `{instance_url}/services/data/{version}/...` (a path that already
  starts with `/services/`, such as a query's `nextRecordsUrl`, is used as given).
- 401 (`INVALID_SESSION_ID`) → `TokenSource.refresh_after_unauthorized(token)` once and replay; a second 401 →
  `NeedsReauth`.
- 503/5xx/timeouts → retried by `RetryingSender`; 403 `REQUEST_LIMIT_EXCEEDED` (and a defensive 429) → backed off
  with the same policy here, then `RateLimited`.
- `Sforce-Limit-Info: api-usage=used/max` is read from every response: `api_usage`, `quota_remaining`.
- Error bodies are arrays `[{message, errorCode, fields}]`; collection results use `statusCode`. Both are translated
  by `translate()`: 404 → `CrmNotFound`, 300/409 → `CrmConflict`, other 4xx → `CrmRejected` naming the fields.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from leadbridge.crm.base import TokenSource
from leadbridge.crm.http import RetryingSender, backoff_delay, parse_retry_after
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
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)'")


def error_items(body: Any) -> list[dict[str, Any]]:
    """The `[{message, errorCode|statusCode, fields}]` items of an error answer, whatever its shape."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [i for i in body if isinstance(i, dict)]


def translate(op: str, status: int, body: Any) -> CrmError:
    """Salesforce's error answer as a domain error (the one translation of REST errors)."""
    items = error_items(body)
    codes = [str(i.get("errorCode") or i.get("statusCode") or "") for i in items]
    fields = list(dict.fromkeys(str(f) for i in items for f in (i.get("fields") or []) if f))
    reason = "; ".join(
        f"{code}: {str(i.get('message') or '').strip()}" if code else str(i.get("message") or "")
        for code, i in zip(codes, items, strict=True)
    )[:_MAX_REASON] or f"HTTP {status}"
    if status == 404 or "NOT_FOUND" in codes or "ENTITY_IS_DELETED" in codes:
        return CrmNotFound(f"Salesforce {op}: {reason}")
    if status in (300, 409) or "DUPLICATE_VALUE" in codes or "DUPLICATES_DETECTED" in codes:
        return CrmConflict(f"Salesforce {op}: {reason}", details={"fields": fields})
    if status == 401 or "INVALID_SESSION_ID" in codes:
        return NeedsReauth(f"Salesforce rejected the session during {op}")
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return RateLimited(f"Salesforce API limit reached during {op}: {reason}")
    if status >= 500:
        return CrmUnavailable(f"Salesforce failed {op}: {reason}", details={"crm_status": status})
    if "INVALID_FIELD" in codes:  # "No such column 'X' on sobject of type Account": a field deleted meanwhile
        gone = [m.group(1) for i in items for m in [_NO_SUCH_COLUMN.search(str(i.get("message") or ""))] if m]
        return CrmFieldUnknown(f"Salesforce rejected {op}: {reason}", fields=list(dict.fromkeys(fields + gone)),
                               status=status)
    return CrmRejected(f"Salesforce rejected {op}: {reason}", fields=fields, status=status)


class SalesforceClient:
    def __init__(
        self,
        *,
        instance_url: str,
        tokens: TokenSource,
        sender: RetryingSender,
        api_version: str = "v62.0",
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.tokens = tokens
        self.sender = sender
        self.api_version = api_version if api_version.startswith("v") else f"v{api_version}"
        self.api_usage: tuple[int, int] | None = None  # (used, max) from the last Sforce-Limit-Info
        self.transport = CrmTransport(
            sender,
            tokens,
            service="Salesforce",
            translate=lambda op, response, sent: translate(op, response.status_code, _body_or_none(response)),
            reauth_message="Salesforce rejected the session even after a token refresh",
            observe=self._note_limits,
            json_default=str,
        )

    @property
    def quota_remaining(self) -> int | None:
        """Daily API requests left, as of the last response (None before the first call)."""
        return None if self.api_usage is None else max(0, self.api_usage[1] - self.api_usage[0])

    def url(self, path: str) -> str:
        if path.startswith("/services/"):
            return f"{self.instance_url}{path}"
        return f"{self.instance_url}/services/data/{self.api_version}/{path.lstrip('/')}"

    def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Parsed JSON of a 2xx answer (None for 204)."""
        return self.transport.request(
            op, method, lambda: self.url(path), params=params, json_body=json_body, headers=headers,
            replay=self._limit_backoff(op),
        )  # fmt: skip

    def _limit_backoff(self, op: str) -> Replay:
        """403 `REQUEST_LIMIT_EXCEEDED` (and a defensive 429): back off with the sender's policy and replay, until
        its attempts or its total wait run out (then `RateLimited`)."""
        limited = 0
        waited = 0.0

        def replay(response: httpx.Response) -> bool:
            nonlocal limited, waited
            if not _limit_exceeded(response):
                return False
            # The concurrent-request limit clears in seconds; the daily one does not, and then the backoff budget
            # runs out and the caller reschedules.
            policy = self.sender.policy
            limited += 1
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = retry_after if retry_after is not None else backoff_delay(limited - 1, policy, self.sender.rand)
            if limited >= policy.max_attempts or waited + delay > policy.max_total_wait:
                raise RateLimited(
                    f"Salesforce API request limit exceeded during {op}"
                    + (f" (api-usage {self.api_usage[0]}/{self.api_usage[1]})" if self.api_usage else ""),
                    retry_after=retry_after,
                )
            log.info("salesforce %s hit REQUEST_LIMIT_EXCEEDED; backing off %.2fs", op, delay)
            self.sender.sleep(delay)
            waited += delay
            return True

        return replay

    def _note_limits(self, response: httpx.Response) -> None:
        info = response.headers.get("Sforce-Limit-Info")
        if not info:
            return
        for part in info.split(";"):
            m = _LIMIT_INFO.search(part.strip())
            if m:
                self.api_usage = (int(m.group(1)), int(m.group(2)))
                return


def _limit_exceeded(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    return any(i.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for i in error_items(_body_or_none(response)))


def _body_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        text = response.text.strip()[:_MAX_REASON]
        return [{"message": text, "errorCode": ""}] if text and not text.startswith("<") else None
