"""Durable hand-off to SQS: the SQS adapter of `store.ports.MessageQueue`.

The webhook intake answers the CRM only after SQS accepted every message, so `send_all` either delivers everything
or raises `QueueUnavailable` (HTTP 503: the CRM retries, and the processor de-duplicates by event id what a partial
delivery already queued). AWS errors are translated here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from leadbridge import aws_clients
from leadbridge.errors import LeadbridgeError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

SEND_BATCH_MAX_ENTRIES = 10  # SQS SendMessageBatch limit per call
# SQS limit for one message and for a whole batch request. (AWS raised it to 1 MiB in 2025; staying at the older
# limit keeps us valid on every endpoint, moto included.)
SEND_BATCH_MAX_BYTES = 256 * 1024


class QueueMessage(BaseModel):
    """One message: a JSON (or other text) body plus string attributes for filtering and debugging."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    body: str
    attributes: dict[str, str] = {}

    def size(self) -> int:
        """Bytes SQS counts against its size limit (body plus attribute names, types and values)."""
        attrs = sum(len(k.encode()) + len(b"String") + len(v.encode()) for k, v in self.attributes.items())
        return len(self.body.encode("utf-8")) + attrs


class QueueUnavailable(StoreUnavailable):
    """SQS did not accept every message (throttled, unreachable, queue missing). Safe to retry the whole send."""

    code = "queue_unavailable"


class MessageTooLarge(LeadbridgeError):
    """A single message exceeds the SQS size limit: a bug in the caller, which must shrink it (retrying cannot help)."""

    code = "queue_message_too_large"


class SqsQueue:
    """`MessageQueue` on one standard SQS queue, sending in batches of at most 10 messages / 256 KiB."""

    def __init__(self, queue_url: str, client: SQSClient | None = None, *, attempts: int = 2) -> None:
        if not queue_url:
            raise QueueUnavailable("No queue URL configured", details={"queue": "unset"})
        self.queue_url = queue_url
        self._client = client or aws_clients.client("sqs")
        self._attempts = max(1, attempts)

    def send_all(self, messages: Sequence[QueueMessage]) -> None:
        for batch in batches(messages):
            self._send_batch(batch)

    def _send_batch(self, batch: list[QueueMessage]) -> None:
        pending = {str(i): message for i, message in enumerate(batch)}
        last_error = ""
        for _ in range(self._attempts):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": entry_id, "MessageBody": m.body, "MessageAttributes": _attributes(m.attributes)}
                for entry_id, m in pending.items()
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                last_error = _code(exc)
                if last_error in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                    break  # retrying cannot help; the caller answers 503 and the sender retries later
                continue
            except BotoCoreError as exc:
                last_error = type(exc).__name__
                continue
            failed = response.get("Failed", [])
            for ok in response.get("Successful", []):
                pending.pop(ok["Id"], None)
            if not pending:
                return
            last_error = ",".join(sorted({f.get("Code", "") for f in failed})) or "unacknowledged"
            if any(f.get("SenderFault") for f in failed):
                break  # the request itself is wrong (e.g. invalid characters): a retry repeats the same fault
        log.warning(
            "queue send failed",
            extra={"queue": self.queue_url.rsplit("/", 1)[-1], "failed": len(pending), "aws_error": last_error},
        )
        raise QueueUnavailable(
            f"The queue did not accept {len(pending)} of {len(batch)} messages ({last_error})",
            details={"aws_error": last_error, "failed": len(pending)},
        )


def batches(messages: Sequence[QueueMessage]) -> list[list[QueueMessage]]:
    """Group messages in order into SendMessageBatch requests within the count and size limits."""
    result: list[list[QueueMessage]] = []
    current: list[QueueMessage] = []
    current_bytes = 0
    for message in messages:
        size = message.size()
        if size > SEND_BATCH_MAX_BYTES:
            raise MessageTooLarge(
                f"A message of {size} bytes exceeds the queue limit of {SEND_BATCH_MAX_BYTES} bytes",
                details={"size": size, "limit": SEND_BATCH_MAX_BYTES},
            )
        if current and (len(current) == SEND_BATCH_MAX_ENTRIES or current_bytes + size > SEND_BATCH_MAX_BYTES):
            result.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        result.append(current)
    return result


def _attributes(attributes: Mapping[str, str]) -> dict[str, MessageAttributeValueTypeDef]:
    # SQS rejects empty attribute values; leave those out rather than failing the whole batch.
    return {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v}


def _code(exc: ClientError) -> str:
    error: Any = exc.response.get("Error", {})
    return str(error.get("Code", "")) or "ClientError"
