"""Webhooks v3 (reference §6): an app's settings and subscriptions, events made from the CRM writes a portal noted
(`Portal.changes`), and their delivery as signed POSTs of ≤ 100 events to the app's target URL, retried on any
non-2xx answer, connection failure or 5 s timeout. Delivery happens only on `WebhookDispatcher.tick()`: tests move
the sandbox's clock to reach a retry instead of sleeping.

Signatures (§6.4): v3 `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + uri + body +
timestamp)) with `X-HubSpot-Request-Timestamp` in epoch ms; the legacy v1 (`X-HubSpot-Signature`,
`X-HubSpot-Signature-Version: v1`) is sent alongside.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import httpx
from pydantic import BaseModel, ConfigDict, Field

from local.sandbox.hubspot.model import Change
from local.sandbox.hubspot.properties import OBJECT_TYPE_IDS

MAX_EVENTS_PER_REQUEST = 100  # §6.2
TIMEOUT = 5.0  # §6.3
MAX_AGE = 24 * 3600.0  # §6.3: retries spread over 24 h
# §6.3 says "up to 10 retries spread over 24 h, with randomisation"; the exact intervals are unconfirmed (§9), so the
# sandbox waits 1 min and doubles (≈ 17 h in all), deterministic for tests; `HubSpotState(webhook_retry_delays=...)`
RETRY_DELAYS: tuple[float, ...] = tuple(60.0 * 2**i for i in range(10))
EVENT_OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}  # §6.1 event type prefixes
EVENT_KINDS = ("creation", "deletion", "propertyChange")  # the kinds the sandbox emits (not merge, restore, ...)
# §6.4 asks a simulator for these: a receiver must reject the first two and cope with the others
WebhookFault = Literal["stale_timestamp", "bad_signature", "duplicate_event", "out_of_order"]
WEBHOOK_FAULTS: tuple[str, ...] = get_args(WebhookFault)
STALE_BY = 301.0  # seconds: just past the 5 minutes a receiver accepts
_URI_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
               "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


# --- signatures (§6.4) ------------------------------------------------------------------------------------------


def _decoded_uri(uri: str) -> str:
    for encoded, plain in _URI_DECODE.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    message = method.encode() + _decoded_uri(uri).encode() + body + timestamp_ms.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signature_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


# --- configuration (§6.1) ---------------------------------------------------------------------------------------


@dataclass
class Subscription:
    """`eventType` as the v3 API names it (`contact.propertyChange`) or a generic `object.*` one with its
    `object_type_id`; a `propertyChange` subscription names its property."""

    id: int
    event_type: str
    property_name: str | None = None
    active: bool = True
    object_type_id: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "eventType": self.event_type, "active": self.active}
        if self.property_name is not None:
            out["propertyName"] = self.property_name
        if self.object_type_id is not None:
            out["objectTypeId"] = self.object_type_id
        return out

    def matches(self, change: Change) -> bool:
        prefix, _, kind = self.event_type.partition(".")
        if not self.active or kind != change.kind:
            return False
        if prefix == "object":
            if OBJECT_TYPE_IDS.get(change.obj) != self.object_type_id:
                return False
        elif EVENT_OBJECTS.get(prefix) != change.obj:
            return False
        return kind != "propertyChange" or self.property_name == change.property_name


@dataclass
class WebhookSettings:
    target_url: str
    max_concurrent_requests: int = 10
    subscriptions: list[Subscription] = field(default_factory=list)


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `uid`, `type`, `hubEvents`: read by HubSpot, not by the sandbox


class MetaSettings(_Meta):
    targetUrl: str
    maxConcurrentRequests: int = Field(default=10, ge=1)


class MetaSubscription(_Meta):
    subscriptionType: str
    objectType: str | None = None  # crmObjects only: `contact`, `company`, `deal` or a type id
    propertyName: str | None = None
    active: bool = True


class MetaSubscriptions(_Meta):
    crmObjects: list[MetaSubscription] = Field(default_factory=list)
    legacyCrmObjects: list[MetaSubscription] = Field(default_factory=list)


class WebhooksConfig(_Meta):
    """The `config` of a project app's `webhooks/*-hsmeta.json` (§6.1)."""

    settings: MetaSettings
    subscriptions: MetaSubscriptions = Field(default_factory=MetaSubscriptions)


def check_event_type(event_type: str, property_name: str | None, object_type: str | None = None) -> str | None:
    """The object type id of an `object.*` subscription (None otherwise); ValueError for an event type the sandbox
    cannot emit or a `propertyChange` without its property."""
    prefix, _, kind = event_type.partition(".")
    if kind not in EVENT_KINDS:
        raise ValueError(f"unsupported event type {event_type!r} (the sandbox emits {', '.join(EVENT_KINDS)})")
    if kind == "propertyChange" and not property_name:
        raise ValueError(f"{event_type} needs a propertyName")
    if property_name == "hs_lastmodifieddate":
        raise ValueError("hs_lastmodifieddate cannot be subscribed to")  # §6.1
    if prefix == "object":
        name = EVENT_OBJECTS.get(object_type or "", object_type or "")
        type_id = OBJECT_TYPE_IDS.get(name, name)
        if type_id not in OBJECT_TYPE_IDS.values():
            raise ValueError(f"unknown objectType {object_type!r}")
        return type_id
    if prefix not in EVENT_OBJECTS:
        raise ValueError(f"unsupported event type {event_type!r}")
    return None


# --- delivery (§6.2, §6.3) --------------------------------------------------------------------------------------


@dataclass
class WebhookAttempt:
    """One POST (tests read these from `sandbox.webhook_attempts()`)."""

    client_id: str
    hub_id: int
    url: str
    events: list[dict[str, Any]]
    headers: dict[str, str]
    body: bytes
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Target:
    """Where an app's events go: its target URL, the client secret that signs them, its concurrency limit."""

    url: str
    secret: str
    max_concurrent_requests: int


@dataclass
class _Batch:
    """Events of one app and portal that go (and are retried) together."""

    client_id: str
    hub_id: int
    events: list[dict[str, Any]]
    first_at: float
    next_at: float
    attempts: int = 0


class WebhookDispatcher:
    """Batches per (app, portal), delivered on `tick()`; `target_of(client_id)` answers where the app's events go
    (None once the app has no webhook settings: its queued batches are dropped)."""

    def __init__(self, *, lock: threading.RLock, clock: Callable[[], float],
                 target_of: Callable[[str], Target | None],
                 retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.lock = lock
        self.clock = clock
        self.target_of = target_of
        self.retry_delays = retry_delays
        self.queue: list[_Batch] = []
        self.attempts: list[WebhookAttempt] = []
        self.dropped: list[dict[str, Any]] = []  # events given up on (retries spent or older than 24 h)
        self.faults: list[WebhookFault] = []  # one per coming POST, in order
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, tick: Callable[[], object], poll: float) -> None:
        """Call `tick` every `poll` seconds (real time) from a daemon thread, for a sandbox nobody ticks by hand."""
        if self._thread is None:
            self._stop.clear()

            def run() -> None:
                while not self._stop.wait(poll):
                    tick()

            self._thread = threading.Thread(target=run, name="hubspot-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def clear(self) -> None:
        with self.lock:
            self.queue.clear()
            self.attempts.clear()
            self.dropped.clear()
            self.faults.clear()

    def add_fault(self, kind: WebhookFault, count: int = 1) -> None:
        """The next `count` POSTs go wrong this way (after faults already queued)."""
        if kind not in WEBHOOK_FAULTS:
            raise ValueError(f"unknown webhook fault {kind!r} (one of {', '.join(WEBHOOK_FAULTS)})")
        with self.lock:
            self.faults += [kind] * count

    def enqueue(self, client_id: str, hub_id: int, events: list[dict[str, Any]]) -> None:
        """New events of one app and portal, in order, as batches of ≤ 100."""
        now = self.clock()
        with self.lock:
            for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
                self.queue.append(_Batch(client_id, hub_id, events[start:start + MAX_EVENTS_PER_REQUEST], now, now))

    def pending(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for b in self.queue for e in b.events]

    def tick(self) -> list[WebhookAttempt]:
        """POST every batch whose time has come, an account's (app and portal) batches in parallel up to the app's
        `maxConcurrentRequests` (§6.3), one account after another; the new attempts, in batch order."""
        made: list[WebhookAttempt] = []
        with self._send_lock:
            with self.lock:
                now = self.clock()
                for batch in [b for b in self.queue if now - b.first_at > MAX_AGE]:
                    self._drop(batch)
                accounts: dict[tuple[str, int], list[_Batch]] = {}
                for batch in self.queue:
                    if batch.next_at <= now:
                        accounts.setdefault((batch.client_id, batch.hub_id), []).append(batch)
            for (client_id, _), due in accounts.items():
                target = self.target_of(client_id)
                with ThreadPoolExecutor(max_workers=target.max_concurrent_requests if target else 1) as pool:
                    made += [a for a in pool.map(self._post, due) if a is not None]
        return made

    def _drop(self, batch: _Batch) -> None:
        self.queue.remove(batch)
        self.dropped += batch.events

    def _post(self, batch: _Batch) -> WebhookAttempt | None:
        with self.lock:
            target = self.target_of(batch.client_id)
            if target is None:
                self._drop(batch)
                return None
            secret, url = target.secret, target.url
            fault = self.faults.pop(0) if self.faults else None
            events = [{**e, "attemptNumber": batch.attempts} for e in batch.events]
            if fault == "duplicate_event":  # the same event twice in one request: receivers must de-duplicate
                events.append(dict(events[0]))
            elif fault == "out_of_order":
                events.reverse()
            body = json.dumps(events, separators=(",", ":")).encode()
            stamp = str(int((self.clock() - (STALE_BY if fault == "stale_timestamp" else 0)) * 1000))
            if fault == "bad_signature":
                secret = f"not-{secret}"
        headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
                   "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, stamp),
                   "X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": signature_v1(secret, body)}
        status: int | None = None
        error = ""
        try:
            status = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT).status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempt = WebhookAttempt(batch.client_id, batch.hub_id, url, events, headers, body, status, error)
        with self.lock:
            self.attempts.append(attempt)
            if attempt.ok:
                self.queue.remove(batch)
            elif batch.attempts >= len(self.retry_delays):
                self._drop(batch)
            else:
                batch.next_at = self.clock() + self.retry_delays[batch.attempts]
                batch.attempts += 1
        return attempt
