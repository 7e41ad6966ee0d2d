"""Every AWS client leadbridge makes, with one botocore `Config` (issue #19: never outlive the function).

The clients are botocore's, made from one botocore session (`session()`), the same clients boto3 makes: importing
boto3 itself imports s3transfer and, through it, multiprocessing, about 70 ms of every function's cold start for
nothing leadbridge uses (issue #19 target 6). Hooks registered on `session()` reach every client made after them.

Botocore's defaults wait 60 s to connect and 60 s for each read, and retry on top of that: one hung connection could
hold a 10 s webhook intake or a 29 s API call until Lambda kills it. Here:
- `connect_timeout` 2 s and `read_timeout` 5 s: DynamoDB, SQS, EventBridge and Secrets Manager answer in-region in
  milliseconds, and no leadbridge call long-polls; a call that has not answered by then is retried on a new connection.
- `retries`: standard mode, at most 3 attempts (throttling and transient errors, with backoff). The worst case of one
  call, every attempt timing out, is about 3 x 7 s plus backoff: under the API functions' 29 s and the worker's
  150 s; the worker also keeps a reserve of its own (`WorkerConfig.reserve_ms`).
- `tcp_keepalive`: a connection dropped by a NAT or load balancer while the environment was frozen is noticed.
- `parameter_validation` off: validating every request against the service model cost ~13 % of the worker's CPU in
  the issue's profile. The requests are typed (boto3 stubs, mypy strict) and AWS validates server-side: a malformed
  request is answered with a 400 that the adapters translate like any other AWS error (tests/integration/
  test_aws_clients.py).
- DynamoDB's item operations (`ITEM_OPERATIONS`) are serialized by one `json.dumps` (`_ItemRequests`) and their
  answers parsed by one `json.loads` (`_ItemResponses`). botocore walks the service model for every attribute of
  every item: about two thirds of serializing a 25-item BatchWriteItem, and about 90 % of parsing a BatchGetItem
  answer of 100 record states (8.7 ms against 0.9 ms for `json.loads`). For these operations the wire form is the
  values as JSON with blobs in base64, so the shortcut gives what botocore gives, byte for byte and value for value
  (tests/unit/test_dynamodb_wire.py compares the two, and checks the service model still holds nothing that botocore
  would write or read otherwise). Errors are parsed by botocore as before.
- `max_pool_connections` 32: a page's independent calls overlap (`leadbridge.concurrency`), each with up to
  `IN_FLIGHT` (8) requests of its own: the states and each object's links are read at once, up to 24 DynamoDB
  requests, and a connection over the pool's size would be opened and thrown away.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

import botocore.session
from botocore.config import Config
from botocore.parsers import JSONParser, ResponseParserFactory

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 5
READ_TIMEOUT_VARIABLE = "LEADBRIDGE_AWS_READ_TIMEOUT"
MAX_ATTEMPTS = 3  # the first call included (botocore's `max_attempts` would count retries only)

CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    tcp_keepalive=True,
    parameter_validation=False,
    max_pool_connections=32,
)


@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["sqs"]) -> SQSClient: ...
@overload
def client(service: Literal["events"]) -> EventBridgeClient: ...
@overload
def client(service: Literal["secretsmanager"]) -> SecretsManagerClient: ...
def client(service: str) -> Any:
    """A new client of `service` with the shared config (region, credentials and endpoint from the environment)."""
    with _MAKING:  # a session is not thread-safe while it makes a client; using one is
        made: Any = session().create_client(service, config=_config())  # typed by the overloads above
    if service == "dynamodb":
        # botocore's own attributes: no public hook replaces a client's serializer or parser.
        made._serializer = _ItemRequests(made._serializer)
        made._endpoint._response_parser_factory = _ItemParsers(made._endpoint._response_parser_factory)
    return made


# The operations whose input holds nothing but strings, numbers, booleans, lists and maps, with blobs only as
# attribute values ("B", "BS"): no timestamp, no renamed member, no host prefix.
ITEM_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
})  # fmt: skip


class _ItemRequests:
    """botocore's JSON serializer for DynamoDB, with the body of `ITEM_OPERATIONS` written by one `json.dumps`."""

    def __init__(self, standard: Any) -> None:
        self._standard = standard

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        if operation_model.name not in ITEM_OPERATIONS:
            return self._standard.serialize_to_request(parameters, operation_model)
        serialized = self._standard.serialize_to_request({}, operation_model)  # method, headers, path: no body
        serialized["body"] = json.dumps(parameters, default=_base64).encode("utf-8")
        return serialized


ITEM_OUTPUTS = frozenset(f"{name}Output" for name in ITEM_OPERATIONS)


class _ItemParsers:
    """The endpoint's parser factory, with `_ItemResponses` for the JSON protocol (botocore's own for any other)."""

    def __init__(self, standard: ResponseParserFactory) -> None:
        self._standard = standard
        self._defaults: dict[str, Any] = dict(vars(standard).get("_defaults") or {})  # the session's blob parser etc.

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _ItemResponses(**self._defaults)
        return self._standard.create_parser(protocol_name)


_BLOB_KEY = re.compile(rb'"BS?"\s*:')  # an attribute value's "B" or "BS" key; inside a string its quotes are escaped


class _ItemResponses(JSONParser):
    """botocore's JSON parser, with the answers of `ITEM_OPERATIONS` (by their output shape) read by `json.loads`;
    only an answer holding a blob attribute value is walked, to decode it as botocore does."""

    def _handle_json_body(self, raw_body: Any, shape: Any) -> Any:  # botocore's stubs do not declare it
        if shape is None or shape.name not in ITEM_OUTPUTS:
            return super()._handle_json_body(raw_body, shape)  # type: ignore[misc]
        parsed = self._parse_body_as_json(raw_body)  # type: ignore[attr-defined]
        return _decode_blobs(parsed) if _BLOB_KEY.search(raw_body or b"") else parsed


def _decode_blobs(value: Any) -> Any:
    """Every "B" and "BS" attribute value in `value` as bytes. Only an attribute value is a one-key object whose "B"
    is a string (or "BS" a list): an item's attribute named "B" holds an object."""
    if isinstance(value, dict):
        if len(value) == 1:
            blob = value.get("B")
            if isinstance(blob, str):
                return {"B": base64.b64decode(blob)}
            blobs = value.get("BS")
            if isinstance(blobs, list) and all(isinstance(b, str) for b in blobs):
                return {"BS": [base64.b64decode(b) for b in blobs]}
        return {k: _decode_blobs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_blobs(v) for v in value]
    return value


def _base64(value: Any) -> str:
    """A blob attribute value as the JSON protocol sends it (what botocore's serializer does for a blob shape)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a DynamoDB attribute value")


_MAKING = threading.RLock()
_SESSION: list[botocore.session.Session] = []  # made on first use, then shared


def session() -> botocore.session.Session:
    """The botocore session every client is made from (credentials and region from the environment, read once)."""
    with _MAKING:
        if not _SESSION:
            _SESSION.append(botocore.session.get_session())
        return _SESSION[0]


def _config() -> Config:
    """`CONFIG`, with the read timeout of `LEADBRIDGE_AWS_READ_TIMEOUT` (seconds) when set: the local stack's moto on
    a busy 2-core machine can take seconds over a batch that AWS answers in milliseconds (local/aws.py sets it)."""
    raw = os.environ.get(READ_TIMEOUT_VARIABLE)
    if not raw:
        return CONFIG
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{READ_TIMEOUT_VARIABLE} must be a number of seconds, not {raw!r}") from None
    return CONFIG.merge(Config(read_timeout=seconds))
