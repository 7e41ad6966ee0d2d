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
- `max_pool_connections` 32: a page's independent calls overlap (`leadbridge.concurrency`), each with up to
  `IN_FLIGHT` (8) requests of its own: the states and each object's links are read at once, up to 24 DynamoDB
  requests, and a connection over the pool's size would be opened and thrown away.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

import botocore.session
from botocore.config import Config

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
        return made


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
