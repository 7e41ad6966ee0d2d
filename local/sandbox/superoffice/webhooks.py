"""Webhook delivery: signed POSTs from background threads with the documented retry cycle.

A cycle is 3 attempts (immediately, +1 s, +4 s; delays multiplied by `delay_factor`) with one stable `EventId`.
A failed cycle discards the event and increments `ConsecutiveErrors`; at 3 failed cycles (9 failed attempts in a row)
the webhook's `State` becomes `TooManyErrors` and nothing more is sent until the owner sets it back to `Active`.
A 200 answer resets `ConsecutiveErrors`. Each webhook has its own queue, so events reach a receiver in order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_DELAYS = (0.0, 1.0, 4.0)
FAILED_CYCLES_TO_STOP = 3
USER_AGENT = "NetServer-Webhook/10.5.0"


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"


@dataclass
class Delivery:
    """One HTTP attempt to deliver an event (tests read these from `sandbox.deliveries`)."""

    ctx: str
    webhook_id: int
    event: str
    event_id: str
    url: str
    attempt: int  # 0, 1, 2 within a cycle
    status: int | None  # None when the connection failed
    error: str
    headers: dict[str, str]
    body: bytes
    test: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Job:
    ctx: str
    webhook_id: int
    payload: dict[str, Any]


@dataclass
class _Worker:
    jobs: queue.Queue[_Job | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None


class WebhookDispatcher:
    def __init__(
        self,
        lock: threading.RLock,
        webhook_lookup: Callable[[str, int], dict[str, Any] | None],
        *,
        delay_factor: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._lock = lock  # the sandbox state lock: webhook counters live in the customer's state
        self._lookup = webhook_lookup
        self.delay_factor = delay_factor
        self.timeout = timeout
        self._deliveries: list[Delivery] = []
        self._deliveries_lock = threading.Lock()
        self._delivered = threading.Condition(self._deliveries_lock)
        self._workers: dict[tuple[str, int], _Worker] = {}
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=timeout)

    # --- public -------------------------------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._deliveries_lock:
            return list(self._deliveries)

    def clear_deliveries(self) -> None:
        with self._deliveries_lock:
            self._deliveries.clear()

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = 10.0) -> list[Delivery]:
        with self._delivered:
            self._delivered.wait_for(lambda: predicate(self._deliveries), timeout=timeout)
            return list(self._deliveries)

    def test_post(self, ctx: str, webhook: dict[str, Any]) -> tuple[bool, str]:
        """The registration check: a synchronous POST that must answer 200."""
        payload: dict[str, Any] = {
            "EventId": str(uuid.uuid4()),
            "Timestamp": timestamp(),
            "Changes": [],
            "Event": "test",
            "PrimaryKey": 0,
            "Entity": "test",
            "ContextIdentifier": "Default",
            "ChangedByAssociateId": 0,
            "WebhookName": webhook.get("Name") or "",
            "FieldValues": {},
        }
        delivery = self._post(ctx, webhook, payload, attempt=0, test=True)
        if delivery.status == 200:
            return True, "OK"
        got = f"HTTP {delivery.status}" if delivery.status is not None else delivery.error
        return False, f"Webhook test POST to {webhook.get('TargetUrl')} failed: {got} (expected 200 OK)"

    def enqueue(self, ctx: str, webhook_id: int, payload: dict[str, Any]) -> None:
        key = (ctx, webhook_id)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                worker = _Worker()
                worker.thread = threading.Thread(
                    target=self._run, args=(worker,), name=f"so-webhook-{ctx}-{webhook_id}", daemon=True
                )
                self._workers[key] = worker
                worker.thread.start()
        worker.jobs.put(_Job(ctx, webhook_id, payload))

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.jobs.put(None)
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join(timeout=5)
        self._client.close()

    # --- delivery -----------------------------------------------------------------------------------------------

    def _run(self, worker: _Worker) -> None:
        while not self._stop.is_set():
            job = worker.jobs.get()
            if job is None:
                return
            self._cycle(job)

    def _cycle(self, job: _Job) -> None:
        payload = dict(job.payload, EventId=str(uuid.uuid4()))
        for attempt, delay in enumerate(RETRY_DELAYS):
            if delay and self._stop.wait(delay * self.delay_factor):
                return
            with self._lock:
                webhook = self._lookup(job.ctx, job.webhook_id)
                if webhook is None or webhook["State"] != "Active":
                    return
                webhook = dict(webhook)
            payload["Timestamp"] = timestamp()
            payload["WebhookName"] = webhook.get("Name") or ""
            delivery = self._post(job.ctx, webhook, payload, attempt=attempt)
            ok = delivery.status == 200
            with self._lock:
                live = self._lookup(job.ctx, job.webhook_id)
                if live is None:
                    return
                live["TotalCalls"] += 1
                if ok:
                    live["ConsecutiveErrors"] = 0
                    return
                live["TotalErrors"] += 1
                live["LastError"] = delivery.error or f"HTTP {delivery.status}"
        with self._lock:
            live = self._lookup(job.ctx, job.webhook_id)
            if live is not None:
                live["ConsecutiveErrors"] += 1
                if live["ConsecutiveErrors"] >= FAILED_CYCLES_TO_STOP:
                    live["State"] = "TooManyErrors"

    def _post(self, ctx: str, webhook: dict[str, Any], payload: dict[str, Any], *, attempt: int,
              test: bool = False) -> Delivery:
        body_obj = dict(payload)
        if webhook.get("Properties"):
            body_obj["Properties"] = webhook["Properties"]
        body = json.dumps(body_obj).encode("utf-8")
        headers = {str(k): str(v) for k, v in (webhook.get("Headers") or {}).items()}
        headers.update({
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-SuperOffice-Event": payload["Event"],
            "X-SuperOffice-EventId": payload["EventId"],
        })
        if attempt:
            headers["X-SuperOffice-Retry"] = str(attempt)
        if test:
            headers["X-Hook-Test"] = "true"
        if webhook.get("Secret"):
            headers["X-SuperOffice-Signature"] = sign(webhook["Secret"], body)
        status: int | None = None
        error = ""
        try:
            response = self._client.post(webhook["TargetUrl"], content=body, headers=headers)
            status = response.status_code
            if status != 200:
                error = f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            ctx=ctx, webhook_id=int(webhook.get("WebhookId") or 0), event=payload["Event"],
            event_id=payload["EventId"], url=webhook["TargetUrl"], attempt=attempt, status=status, error=error,
            headers=headers, body=body, test=test,
        )
        with self._delivered:
            self._deliveries.append(delivery)
            self._delivered.notify_all()
        return delivery
