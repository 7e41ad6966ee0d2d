"""Outbound Messages: the SOAP notifications Salesforce POSTs when a rule with an Outbound Message action fires.

Envelope per the outbound WSDL (namespace `http://soap.sforce.com/2005/09/outbound`): `OrganizationId, ActionId,
SessionId (nil), EnterpriseUrl, PartnerUrl, Notification+` (≤ 100 per message), each `Notification` with an `Id`
(prefix `04l`) and an `sObject` of `xsi:type="sf:{Object}"` carrying the selected fields' *current* values.

Delivery (reference §8): a message counts as delivered only when the answer is HTTP 200 whose body holds the
`notificationsResponse/Ack` = `true`; anything else is retried with a growing interval (up to 2 h), and notifications
older than 24 h are dropped. At-least-once: a retry carries the same notification ids.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import httpx

from local.sandbox.salesforce.model import render_value

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_PER_MESSAGE = 100
MAX_AGE = 24 * 3600.0
MAX_INTERVAL = 2 * 3600.0
FIRST_INTERVAL = 15.0


@dataclass
class Notification:
    notification_id: str
    action_id: str
    org_id: str
    sobject: str
    record_id: str
    created_at: float
    snapshot: dict[str, Any] = field(default_factory=dict)  # last values, used when the record is gone


@dataclass
class Attempt:
    """One POST of a message (tests read these from `sandbox.outbound_attempts`)."""

    action_id: str
    url: str
    notification_ids: list[str]
    status: int | None
    acked: bool
    error: str
    body: bytes


@dataclass
class _Pending:
    notifications: list[Notification] = field(default_factory=list)
    failures: int = 0
    next_at: float = 0.0


def envelope(org_id: str, action_id: str, base_url: str, api_version: str,
             items: list[tuple[Notification, dict[str, Any]]]) -> bytes:
    short_org = org_id[:15]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>',
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{escape(org_id)}</OrganizationId><ActionId>{escape(action_id)}</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{escape(base_url)}/services/Soap/c/{api_version}/{short_org}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(base_url)}/services/Soap/u/{api_version}/{short_org}</PartnerUrl>",
    ]
    for note, values in items:
        parts.append(f"<Notification><Id>{escape(note.notification_id)}</Id>")
        parts.append(f'<sObject xsi:type="sf:{note.sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">')
        for name, value in values.items():
            if value is None:
                continue
            rendered = render_value(value)
            text = ("true" if rendered else "false") if isinstance(rendered, bool) else str(rendered)
            parts.append(f"<sf:{name}>{escape(text)}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts).encode("utf-8")


def is_ack(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        root = ET.fromstring(body)  # noqa: S314 — the receiver is a local test endpoint
    except ET.ParseError:
        return False
    ack = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
    return ack is not None and (ack.text or "").strip() == "true"


class OutboundDispatcher:
    """Queues notifications per action and delivers them on `tick()` (tests) or from a background thread."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        current_values: Callable[[Notification], dict[str, Any] | None],
        endpoint: Callable[[str], str | None],
        base_url: Callable[[], str],
        api_version: str,
        delay_factor: float = 1.0,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.lock = lock
        self.current_values = current_values
        self.endpoint = endpoint
        self.base_url = base_url
        self.api_version = api_version
        self.delay_factor = delay_factor
        self.clock = clock
        self.timeout = timeout
        self._pending: dict[str, _Pending] = {}
        self.attempts: list[Attempt] = []
        self.dropped: list[Notification] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sf-outbound", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def enqueue(self, note: Notification) -> None:
        with self.lock:
            pending = self._pending.setdefault(note.action_id, _Pending())
            if not pending.notifications:
                pending.next_at = self.clock()
            pending.notifications.append(note)
        self._wake.set()

    def clear(self) -> None:
        with self.lock:
            self._pending.clear()
            self.attempts.clear()
            self.dropped.clear()

    def pending(self) -> list[Notification]:
        with self.lock:
            return [n for p in self._pending.values() for n in p.notifications]

    def tick(self, *, force: bool = False) -> list[Attempt]:
        """Deliver every action whose retry time has come (all of them with `force`); returns the new attempts."""
        made: list[Attempt] = []
        with self._send_lock:
            with self.lock:
                now = self.clock()
                due = [a for a, p in self._pending.items() if p.notifications and (force or p.next_at <= now)]
            for action_id in due:
                made += self._deliver(action_id)
        return made

    def _deliver(self, action_id: str) -> list[Attempt]:
        with self.lock:
            pending = self._pending.get(action_id)
            if pending is None:
                return []
            now = self.clock()
            fresh = [n for n in pending.notifications if now - n.created_at <= MAX_AGE]
            self.dropped += [n for n in pending.notifications if now - n.created_at > MAX_AGE]
            pending.notifications = fresh
            url = self.endpoint(action_id)
            if not fresh or url is None:
                if url is None:
                    pending.notifications = []
                return []
            batch = fresh[:MAX_PER_MESSAGE]
            items = []
            for note in batch:
                values = self.current_values(note)  # only the latest values are ever sent
                items.append((note, values if values is not None else note.snapshot))
            body = envelope(batch[0].org_id, action_id, self.base_url(), self.api_version, items)
        status: int | None = None
        error = ""
        acked = False
        try:
            response = httpx.post(
                url, content=body, timeout=self.timeout,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                         "User-Agent": "Jakarta Commons-HttpClient/3.1"},
            )
            status = response.status_code
            acked = is_ack(status, response.content)
            if not acked:
                error = f"HTTP {status}: no <Ack>true</Ack> in the answer"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempt = Attempt(action_id, url, [n.notification_id for n in batch], status, acked, error, body)
        with self.lock:
            self.attempts.append(attempt)
            pending = self._pending.setdefault(action_id, _Pending())
            if acked:
                sent = {n.notification_id for n in batch}
                pending.notifications = [n for n in pending.notifications if n.notification_id not in sent]
                pending.failures = 0
                pending.next_at = self.clock()
            else:
                pending.failures += 1
                interval = min(MAX_INTERVAL, FIRST_INTERVAL * 2 ** (pending.failures - 1)) * self.delay_factor
                pending.next_at = self.clock() + interval
        return [attempt]

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            with self.lock:
                waits = [p.next_at - self.clock() for p in self._pending.values() if p.notifications]
            timeout = max(0.01, min(waits)) if waits else 1.0
            self._wake.wait(timeout)
            self._wake.clear()
