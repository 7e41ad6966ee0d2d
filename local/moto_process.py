"""The moto server of the local stack and the tests (`python -m local.moto_process -H 127.0.0.1 -p PORT`): moto's own
server, with two costs taken out that every AWS call of the stack paid.

- **DynamoDB answers written by one `json.dumps`.** moto writes each answer by walking the operation's output shape
  in the AWS service model, attribute by attribute of every item: in a profile of e2e tests its serializer was about
  a third of moto's CPU, DynamoDB's answers about half of that. A DynamoDB answer of the item operations is already
  the JSON AWS sends (moto's `DynamoResult`: item values as `{"S": ...}`, numbers as strings), so it is written as
  it is. `tests/unit/test_moto_process.py` checks that the two give the same JSON for every item operation, empty
  answers and missing items included; errors never come here (moto writes them as before).
- **No line per request on stderr**: werkzeug's request log (the parent process discards it anyway).

And one fault fixed: **a DynamoDB request is handled whole before the next starts.** moto's server answers requests on
threads, and its conditional writes test the condition and then write, so under load two racing conditional puts
could both succeed (the lead lease test saw two holders). DynamoDB makes every item write atomic; one lock over
moto's DynamoDB and DynamoDB Streams handlers gives that (none of their operations waits, unlike SQS's long poll).

Everything else (parsing, the services' behaviour, errors, every other service's answers) is moto's, unchanged.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionContext, BaseResponse
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

# The operations whose answers hold items (moto's `DynamoResult`); every other answer, BatchWriteItem's and
# TransactWriteItems' included, is written by moto's serializer.
ITEM_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "TransactGetItems",
})  # fmt: skip
_CONTENT_TYPE = "application/x-amz-json-1.0"  # DynamoDB's JSON protocol version

_moto_execute_result = DynamoResult.execute_result
_one_dynamodb_request_at_a_time = threading.Lock()
Handler = TypeVar("Handler", bound=BaseResponse)


def item_answer(result: DynamoResult, context: ActionContext) -> tuple[int, dict[str, str], str]:
    """A DynamoDB answer as moto's serializer would write it, by one `json.dumps` for the item operations."""
    operation_model = context.operation_model
    if operation_model.name not in ITEM_OPERATIONS or isinstance(result.result, Exception):
        return _moto_execute_result(result, context)  # type: ignore[return-value]
    # As the serializer does: only the output's members, none that is null (moto also keeps `ConsumedCapacityUnits`
    # of the 2011 API on some answers, which today's has not).
    members = operation_model.output_shape.members if operation_model.output_shape is not None else {}
    written: dict[str, object] = result.result  # type: ignore[assignment]  # DynamoResult holds the answer's dict
    answer = {k: v for k, v in written.items() if v is not None and k in members}
    return 200, {"Content-Type": _CONTENT_TYPE}, json.dumps(answer, separators=(",", ":"), default=_blob)


def _blob(value: object) -> str:
    # Binary attribute values ("B", "BS") are bytes in moto's answers and base64 on the wire.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def _one_at_a_time(call: Callable[[Handler], TYPE_RESPONSE]) -> Callable[[Handler], TYPE_RESPONSE]:
    def locked(handler: Handler) -> TYPE_RESPONSE:
        with _one_dynamodb_request_at_a_time:
            return call(handler)

    return locked


dynamodb_call = _one_at_a_time(DynamoHandler.call_action)
streams_call = _one_at_a_time(DynamoDBStreamsHandler.call_action)


def install() -> None:
    """Use the shortcuts and the lock in this process (moto's in-process `mock_aws` as well as its server)."""
    DynamoResult.execute_result = item_answer  # type: ignore[assignment,method-assign]
    DynamoHandler.call_action = dynamodb_call  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = streams_call  # type: ignore[assignment,method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    from moto.server import main as moto_main

    install()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
