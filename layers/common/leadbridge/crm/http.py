"""CRM-agnostic HTTP pieces every connector uses: timeouts, retry with backoff, call counting.

What is retried: 429, 500, 502, 503, 504, timeouts and connection errors. Delays use exponential backoff with full
jitter, except that a `Retry-After` the CRM sends is honoured as given. Attempts and the total time spent sleeping are
bounded; when either runs out, the last failure is raised as `RateLimited` (429) or `CrmUnavailable` (everything else).
Every other response goes back to the caller, which translates CRM-specific statuses (401, 404, 409, ...).

The sleep and random functions are injectable so tests exercise every path without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from leadbridge.errors import CrmError, CrmUnavailable, RateLimited
from leadbridge.observability import trace_crm_http

trace_crm_http()  # before any client below is built (the registry has done it already when it loads a CRM)

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `read` bounds the wait for each response chunk, i.e. a slow CRM."""

    connect: float = 5.0
    read: float = 30.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4  # including the first
    base_delay: float = 0.5  # seconds; the n-th retry waits up to base_delay * 2**n
    max_delay: float = 20.0  # cap of one computed backoff delay
    max_total_wait: float = 30.0  # give up rather than sleep longer than this in total (Lambda time is money)
    retry_statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(retry_number: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base * 2**retry_number)] (retry_number starts at 0)."""
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**retry_number))
    return rand() * ceiling


class ConnectorHttp:
    """A provider's HTTP for its connectors: one pooled client per process (connectors for different tenants share
    connections to the same hosts), the retry policy, and a fresh `RetryingSender` per connector, so each connector
    counts its own calls."""

    def __init__(
        self,
        service: str,
        *,
        timeouts: Timeouts,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.service = service
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.client = httpx.Client(timeout=timeouts.to_httpx(), transport=transport)

    def sender(self) -> RetryingSender:
        return RetryingSender(
            self.client, policy=self.retry, calls=Counter(), sleep=self.sleep, rand=self.rand, service=self.service
        )


class RetryingSender:
    """Sends prepared requests with the retry policy and counts every attempt per operation name."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        policy: RetryPolicy | None = None,
        calls: Counter[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        service: str = "CRM",
    ) -> None:
        self.http = http
        self.policy = policy or RetryPolicy()
        self.calls: Counter[str] = calls if calls is not None else Counter()
        self.sleep = sleep
        self.rand = rand
        self.service = service

    def send(self, op: str, request: httpx.Request) -> httpx.Response:
        """The first non-retryable response. Raises `RateLimited` / `CrmUnavailable` when retries run out."""
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            self.calls[op] += 1
            failure: CrmError
            retry_after: float | None = None
            try:
                response = self.http.send(request)
            except httpx.TimeoutException:
                failure = CrmUnavailable(f"{self.service} did not answer {op} in time")
            except httpx.TransportError as exc:
                failure = CrmUnavailable(f"{self.service} unreachable during {op}: {type(exc).__name__}")
            else:
                if response.status_code not in self.policy.retry_statuses:
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if response.status_code == 429:
                    failure = RateLimited(f"{self.service} throttled {op} (HTTP 429)", retry_after=retry_after)
                else:
                    failure = CrmUnavailable(
                        f"{self.service} failed {op} with HTTP {response.status_code}",
                        details={"retry_after": retry_after, "crm_status": response.status_code},
                    )
            if attempt >= self.policy.max_attempts:
                raise failure
            delay = retry_after if retry_after is not None else backoff_delay(attempt - 1, self.policy, self.rand)
            if waited + delay > self.policy.max_total_wait:
                # The CRM asks for a longer pause than we may spend here: hand it to the caller to reschedule.
                raise failure
            log.info("retrying %s after %s (attempt %d, sleeping %.2fs)", op, failure.message, attempt, delay)
            self.sleep(delay)
            waited += delay
