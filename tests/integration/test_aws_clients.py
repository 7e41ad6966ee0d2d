"""Every AWS client leadbridge makes has the one config of `leadbridge.aws_clients` (explicit timeouts, bounded
retries, keep-alive, no client-side request validation), and a malformed request, now validated only by AWS (moto
here), still ends as a clear error from the adapter."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidationDecorator

from leadbridge import aws_clients, runtime
from leadbridge.errors import ConnectionMissing, StoreUnavailable
from leadbridge.store.events import AppEvent, EventBridgePublisher, EventDeliveryError
from leadbridge.store.queue import SqsQueue
from leadbridge.store.runs import SqsDelayedQueue
from leadbridge.store.table import Table
from leadbridge.store.vault import SecretsManagerStore
from leadbridge.store.webhook_secrets import CachedWebhookSecrets
from local.aws import LocalResources

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "leadbridge"


def assert_shared_config(client: Any) -> None:
    config = client.meta.config
    assert config.connect_timeout == aws_clients.CONNECT_TIMEOUT_S == 2
    # The local stack sets a longer read timeout for moto (local/aws.py); AWS gets the 5 s default.
    assert config.read_timeout == float(os.environ[aws_clients.READ_TIMEOUT_VARIABLE]) == 60
    assert aws_clients.READ_TIMEOUT_S == 5
    assert config.retries == {"mode": "standard", "total_max_attempts": aws_clients.MAX_ATTEMPTS}
    assert aws_clients.MAX_ATTEMPTS == 3
    assert config.tcp_keepalive is True
    # botocore keeps the option out of `meta.config`; with it off, the request serializer is not wrapped in the
    # validating decorator.
    assert not isinstance(client._serializer, ParamValidationDecorator)


def test_every_adapter_client_has_the_shared_timeouts_and_retries(aws: LocalResources) -> None:
    runtime.reset()
    clients = {
        "table": Table(aws.table_name).client,
        "run continuations": SqsDelayedQueue(aws.sync_queue_url).client,
        "webhook queue": SqsQueue(aws.webhook_queue_url)._client,
        "bus": EventBridgePublisher(aws.event_bus_name)._client,
        "secrets": SecretsManagerStore()._client,
        "webhook secrets": CachedWebhookSecrets()._provider.client,
        # The idempotency utility's persistence layer is given this client (composition.idempotency).
        "composition table": runtime.table().client,
    }
    for name, client in clients.items():
        try:
            assert_shared_config(client)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_no_module_makes_an_aws_client_of_its_own() -> None:
    """`boto3.client`, `boto3.resource` and `Session.client` appear only in aws_clients.py."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "aws_clients.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            if named and node.attr in ("client", "resource") and node.value.id in ("boto3", "session"):  # type: ignore[attr-defined]
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SecretsProvider":
                keywords = {k.arg: k.value for k in node.keywords}
                if not isinstance(keywords.get("boto3_client"), ast.BoolOp):  # `client or aws_clients.client(...)`
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} (SecretsProvider)")
    assert offenders == []


# --- malformed requests: AWS answers, the adapters translate ----------------------------------------------------------


def test_a_malformed_event_is_refused_by_the_bus_and_named_in_the_delivery_error(aws: LocalResources) -> None:
    publisher = EventBridgePublisher(aws.event_bus_name)

    with pytest.raises(EventDeliveryError) as raised:
        publisher.publish([AppEvent(detail_type="", detail={"a": 1})])

    [failed] = raised.value.details["failed"]
    assert failed["error"] == "InvalidArgument" and "DetailType" in failed["message"]


def test_a_table_name_aws_does_not_accept_is_a_store_error_naming_the_cause(aws: LocalResources) -> None:
    # Client-side validation used to refuse "" (shorter than 3) as a BotoCoreError: "the table is unreachable".
    with pytest.raises(StoreUnavailable) as raised:
        Table("").get({"PK": "a", "SK": "b"})

    assert raised.value.details == {"reason": "ResourceNotFoundException"}


def test_an_item_without_its_sort_key_is_refused_by_dynamodb_with_the_reason(aws: LocalResources) -> None:
    # A malformed item is a bug in leadbridge, not an outage: the adapter leaves AWS's ValidationException as it is
    # (a 500 with a stack trace in the log, store.table._translate), and it names what is wrong.
    with pytest.raises(ClientError) as raised:
        Table(aws.table_name).put({"PK": "T#x"})

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "SK" in raised.value.response["Error"]["Message"]


def test_an_empty_secret_name_is_no_stored_credentials(aws: LocalResources) -> None:
    with pytest.raises(ConnectionMissing):
        SecretsManagerStore().get_json("")


def test_without_the_local_stack_setting_a_client_waits_5_s_for_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(aws_clients.READ_TIMEOUT_VARIABLE)
    assert aws_clients.client("sqs").meta.config.read_timeout == 5
    monkeypatch.setenv(aws_clients.READ_TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ValueError, match="LEADBRIDGE_AWS_READ_TIMEOUT must be a number of seconds"):
        aws_clients.client("sqs")
