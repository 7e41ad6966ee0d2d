"""Lambda's SQS event source mapping, locally: template SQS events deliver batches from moto to consumer functions.

Like Lambda: successful messages are deleted; a raised error, or an invocation past the function's Timeout (the
runtime abandons it: `local.lambda_runtime`), fails the whole batch; with
`FunctionResponseTypes: [ReportBatchItemFailures]` only the reported `batchItemFailures` stay (a malformed report fails
the batch). Failed messages become visible again after the visibility timeout (short locally), and moto's redrive
policy (maxReceiveCount from template.yaml) moves poison messages to the DLQ.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from local.aws import LocalResources, client
from local.events import sqs_record
from local.lambda_runtime import FunctionRuntime, HandlerNotBuilt
from local.template import SamTemplate, SqsSubscription

log = logging.getLogger("local.pump")


@dataclass
class BatchOutcome:
    function_id: str
    received: list[str] = field(default_factory=list)  # message ids
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None


class QueuePump:
    def __init__(
        self,
        template: SamTemplate,
        runtime: FunctionRuntime,
        resources: LocalResources,
        *,
        visibility_timeout: int = 2,
        wait_seconds: int = 1,
    ) -> None:
        self.runtime = runtime
        self.resources = resources
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.subscriptions = [s for s in template.sqs_subscriptions() if s.enabled]
        self._sqs = client("sqs", resources.endpoint, resources.region)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def subscription(self, function_id: str) -> SqsSubscription:
        for subscription in self.subscriptions:
            if subscription.function_id == function_id:
                return subscription
        raise KeyError(f"{function_id} has no enabled SQS event in the template")

    def poll_once(self, function_id: str, *, wait_seconds: int = 0) -> BatchOutcome:
        """Receive one batch for `function_id`'s queue, invoke it, settle the messages. Tests step with this."""
        subscription = self.subscription(function_id)
        outcome = BatchOutcome(function_id=function_id)
        queue_url = self.resources.queue_urls[subscription.queue_logical_id]
        queue_arn = self.resources.queue_arns[subscription.queue_logical_id]
        response = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(subscription.batch_size, 10)),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=self.visibility_timeout,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages") or []
        if not messages:
            return outcome
        outcome.received = [m["MessageId"] for m in messages]
        event = {"Records": [sqs_record(m, queue_arn, self.resources.region) for m in messages]}
        invocation = self.runtime.invoke(function_id, event)
        if not invocation.ok:
            outcome.error = invocation.error
            outcome.failed = list(outcome.received)
        else:
            outcome.failed = self._reported_failures(subscription, invocation.result, outcome.received)
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
        to_delete = [mid for mid in outcome.received if mid not in outcome.failed]
        if to_delete:
            result = self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handles[mid]} for i, mid in enumerate(to_delete)],
            )
            failed_deletes = {int(f["Id"]) for f in result.get("Failed") or []}
            outcome.deleted = [mid for i, mid in enumerate(to_delete) if i not in failed_deletes]
        if outcome.failed:
            log.info("%s: %d of %d messages failed; they return after %ss (error: %s)", function_id,
                     len(outcome.failed), len(messages), self.visibility_timeout, outcome.error or "reported")
        return outcome

    @staticmethod
    def _reported_failures(subscription: SqsSubscription, result: Any, received: list[str]) -> list[str]:
        if not subscription.report_batch_item_failures:
            return []
        if result is None or (isinstance(result, dict) and not result.get("batchItemFailures")):
            return []
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not isinstance(failures, list):
            log.warning("%s returned a malformed batch response; the whole batch fails", subscription.function_id)
            return list(received)
        identifiers = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(not isinstance(i, str) or i not in received for i in identifiers):
            # Lambda treats an empty, null or unknown itemIdentifier as a failure of the whole batch.
            log.warning("%s reported unknown itemIdentifiers %s; the whole batch fails", subscription.function_id,
                        identifiers)
            return list(received)
        return [i for i in received if i in identifiers]

    # ------------------------------------------------------------------------------------------ background

    def start(self) -> None:
        for subscription in self.subscriptions:
            thread = threading.Thread(target=self._run, args=(subscription,), daemon=True,
                                      name=f"pump-{subscription.function_id}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.wait_seconds + 5)
        self._threads.clear()

    def _run(self, subscription: SqsSubscription) -> None:
        reported_missing = False
        while not self._stop.is_set():
            try:
                # Do not receive for a function that does not exist: receiving would burn the messages' retries.
                self.runtime.handler(subscription.function_id)
            except HandlerNotBuilt as exc:
                if not reported_missing:
                    log.warning("%s: %s; messages stay in %s", subscription.function_id, exc,
                                subscription.queue_logical_id)
                    reported_missing = True
                self._stop.wait(2)
                continue
            except Exception:
                log.exception("%s: handler failed to load", subscription.function_id)
                self._stop.wait(2)
                continue
            reported_missing = False
            try:
                self.poll_once(subscription.function_id, wait_seconds=self.wait_seconds)
            except self._sqs.exceptions.QueueDoesNotExist:
                # The stack's reset_aws empties moto and makes the queues again (same URLs): wait for them.
                log.debug("%s: queue %s not there (a reset in progress); retrying", subscription.function_id,
                          subscription.queue_logical_id)
                self._stop.wait(0.2)
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("pump for %s failed; retrying", subscription.function_id)
                self._stop.wait(1)
