"""The webhook intake function end to end inside the process: template.yaml's WebhookIntakeFunction handler called
with real HTTP API v2 events, the connection and its webhook secret stored by the connections code in moto
(DynamoDB, Secrets Manager), events read back from the real WebhookQueue, rejections read back from the sync log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome, Trigger
from leadbridge.observability import logger
from leadbridge.store.secret_names import webhook_secret_name
from local.events import http_api_event
from local.lambda_runtime import FunctionRuntime

TENANT = "tenant-wh"
ACCOUNT = "Cust54321"
KEY = "Qm9vLWtleS1mb3ItdGVzdHMtMDAx"
SECRET = "whsec-integration-1"
ROUTE = "POST /webhooks/{crm}/{connection_key}"
GRANT_SECRET = f"leadbridge/local/tenants/{TENANT}/superoffice"
WEBHOOK_SECRET = webhook_secret_name(GRANT_SECRET)


def sign(raw: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def so_body(event_id: str = "88f91933-edce-4c1a-8ded-ade8e2f72434", **overrides: Any) -> bytes:
    body = {
        "EventId": event_id,
        "Timestamp": "2026-05-14T10:48:07.8912039Z",
        "Changes": ["contact_id", "updated_associate_id", "updated", "name"],
        "Event": "contact.changed",
        "PrimaryKey": 18,
        "Entity": "contact",
        "ContextIdentifier": ACCOUNT,
        "ChangedByAssociateId": 5,
        "WebhookName": "leadbridge",
        "FieldValues": {"name": "Acme AS", "updated": "2026-05-14T10:48:07.8912039+02:00"},
        **overrides,
    }
    return json.dumps(body).encode()


class Intake:
    def __init__(self, sam_template: Any, aws: Any) -> None:
        self.aws = aws
        self.runtime = FunctionRuntime(sam_template)
        self.handler = self.runtime.handler("WebhookIntakeFunction")
        self.sqs = boto3.client("sqs")

    def post(
        self,
        raw: bytes,
        *,
        signature: str | None = None,
        key: str = KEY,
        crm: str = "superoffice",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        all_headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "NetServer-Webhook/8.8.6684.1719",
            **({"x-superoffice-signature": signature} if signature is not None else {}),
            **(headers or {}),
        }
        event = http_api_event(
            "POST",
            f"/webhooks/{crm}/{key}",
            route_key=ROUTE,
            headers=all_headers,
            body=raw,
            path_parameters={"crm": crm, "connection_key": key},
        )
        response = self.handler(event, self.runtime.context("WebhookIntakeFunction"))
        return response["statusCode"], json.loads(response["body"] or "null")

    def queued(self) -> list[tuple[QueuedWebhook, dict[str, str]]]:
        found = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.aws.webhook_queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = got.get("Messages", [])
            if not messages:
                return found
            for m in messages:
                attributes = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
                found.append((QueuedWebhook.model_validate_json(m["Body"]), attributes))
                self.sqs.delete_message(QueueUrl=self.aws.webhook_queue_url, ReceiptHandle=m["ReceiptHandle"])

    def log_entries(self) -> list[Any]:
        return runtime.sync_log().query(TENANT).items


def save_connection(
    status: ConnectionStatus = ConnectionStatus.CONNECTED, *, secret: str | None = SECRET
) -> Connection:
    connection = Connection(
        tenant_id=TENANT,
        crm="superoffice",
        status=status,
        account_id=ACCOUNT,
        api_base="https://sod.superoffice.com/Cust54321/api/",
        secret_name=GRANT_SECRET,
        connected_by="admin@tenant",
        connected_at=datetime(2026, 5, 1, tzinfo=UTC),
        connection_key=KEY,
        webhook_secret_name=WEBHOOK_SECRET,
    )
    runtime.connection_store().save(connection)
    if secret is not None:
        runtime.token_vault().store_webhook_secret(WEBHOOK_SECRET, secret)
    return connection


@pytest.fixture
def intake(aws, sam_template):
    runtime.reset()
    reset_providers()
    yield Intake(sam_template, aws)
    runtime.reset()
    reset_providers()


GENERIC_401 = {"code": "unauthorized", "message": "Webhook rejected: the connection or the signature is not valid."}


def assert_generic_401(status: int, body: dict[str, Any]) -> None:
    assert status == 401
    assert {k: body["error"][k] for k in ("code", "message")} == GENERIC_401
    assert body["error"]["details"] == {}


# --- accepted ----------------------------------------------------------------------------------------------------


def test_valid_event_lands_in_the_webhook_queue(intake: Intake) -> None:
    save_connection()
    raw = so_body()

    status, body = intake.post(raw, signature=sign(raw), headers={"x-superoffice-eventid": "88f91933"})

    assert (status, body) == (200, {"received": 1})
    [(queued, attributes)] = intake.queued()
    assert attributes == {"tenant": TENANT, "crm": "superoffice", "event": "contact.changed"}
    assert (queued.tenant_id, queued.crm, queued.connection_key, queued.account_id) == (
        TENANT,
        "superoffice",
        KEY,
        ACCOUNT,
    )
    assert queued.event.event_id == "88f91933-edce-4c1a-8ded-ade8e2f72434"
    assert (queued.event.object, queued.event.record_id, queued.event.action) == ("company", "18", "changed")
    assert queued.event.payload["name"] == "Acme AS"
    assert base64.b64decode(queued.raw_body_b64 or "") == raw
    assert queued.headers["x-superoffice-signature"] == sign(raw)
    assert intake.log_entries() == []


def test_rotated_secret_is_picked_up_despite_the_cache(intake: Intake) -> None:
    save_connection()
    raw = so_body()
    assert intake.post(raw, signature=sign(raw))[0] == 200  # caches SECRET in this container

    runtime.token_vault().store_webhook_secret(WEBHOOK_SECRET, "v2")
    raw2 = so_body(event_id="second")
    status, _ = intake.post(raw2, signature=sign(raw2, "v2"))

    assert status == 200
    assert [q.event.event_id for q, _ in intake.queued()] == ["88f91933-edce-4c1a-8ded-ade8e2f72434", "second"]


def test_secret_found_by_derived_name_before_the_connection_records_it(intake: Intake) -> None:
    # The connect flow saves the record, stores the secret, then registers the webhook: events may arrive before
    # `webhook_secret_name` is written back.
    connection = save_connection()
    runtime.connection_store().save(connection.model_copy(update={"webhook_secret_name": None}))
    raw = so_body()
    assert intake.post(raw, signature=sign(raw))[0] == 200
    assert len(intake.queued()) == 1


# --- test events -------------------------------------------------------------------------------------------------


def test_registration_test_post_gets_200_and_queues_nothing(intake: Intake) -> None:
    raw = json.dumps(
        {"EventId": "t-1", "Event": "test", "Entity": "test", "PrimaryKey": 0, "ContextIdentifier": "Default"}
    ).encode()
    # As during registration: the connect flow has saved the record and stored the signing secret first.
    save_connection()

    status, body = intake.post(raw, signature=sign(raw), headers={"x-hook-test": "true"})

    assert (status, body) == (200, {"received": 1})
    assert intake.queued() == []
    assert intake.log_entries() == []


def test_test_post_signed_with_a_secret_we_never_saw_is_refused(intake: Intake) -> None:
    # Issue #16: the signature is verified before anything is parsed, test events included (it used to be 200).
    raw = json.dumps({"EventId": "t-1", "Event": "test", "Entity": "test", "ContextIdentifier": "Default"}).encode()
    save_connection()

    status, body = intake.post(raw, signature=sign(raw, "registration-secret"), headers={"x-hook-test": "true"})

    assert_generic_401(status, body)
    assert intake.queued() == []


# --- rejected ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("forged", lambda raw: (raw, base64.b64encode(b"\0" * 32).decode())),
        ("another secret", lambda raw: (raw, sign(raw, "another-tenants-secret"))),
        ("truncated", lambda raw: (raw[: len(raw) // 2], sign(raw))),
        ("no signature", lambda raw: (raw, None)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unverifiable_delivery_is_401_logged_and_not_queued(intake: Intake, case: str, make: Any) -> None:
    save_connection()
    raw, signature = make(so_body())

    status, body = intake.post(raw, signature=signature)

    assert_generic_401(status, body)
    assert intake.queued() == []
    [entry] = intake.log_entries()
    assert (entry.trigger, entry.outcome) == (Trigger.WEBHOOK, Outcome.FAILED)
    assert entry.error.code == "webhook_signature_invalid"


def test_signed_malformed_json_is_400_naming_the_problem(intake: Intake) -> None:
    save_connection()
    raw = b'{"EventId": "x", "Event": "contact.changed", '

    status, body = intake.post(raw, signature=sign(raw))

    assert status == 400
    assert body["error"]["code"] == "webhook_malformed"
    assert body["error"]["message"] == "Malformed webhook body: SuperOffice webhook body is not JSON"
    assert body["error"]["details"]["loc"] == ["body"]
    assert intake.queued() == []
    [entry] = intake.log_entries()
    assert entry.error.code == "webhook_malformed"


def test_unknown_key_is_indistinguishable_from_a_bad_signature(intake: Intake) -> None:
    save_connection()
    raw = so_body()

    unknown = intake.post(raw, signature=sign(raw), key="Tm90LWEta2V5LWFueW9uZS1rbm93cw")
    bad_signature = intake.post(raw, signature=sign(raw, "wrong"))

    assert_generic_401(*unknown)
    assert_generic_401(*bad_signature)
    assert intake.queued() == []
    assert [e.error.code for e in intake.log_entries()] == ["webhook_signature_invalid"]


def test_event_of_another_crm_account_is_401_and_logged(intake: Intake) -> None:
    save_connection()
    raw = so_body(ContextIdentifier="Cust99999")

    assert_generic_401(*intake.post(raw, signature=sign(raw)))
    assert intake.queued() == []
    [entry] = intake.log_entries()
    assert entry.error.code == "webhook_account_mismatch"


def test_unsupported_crm_is_404(intake: Intake) -> None:
    raw = so_body()
    status, body = intake.post(raw, signature=sign(raw), crm="pipedrive")
    assert status == 404
    assert body["error"]["code"] == "unsupported_crm"


# --- disconnected ------------------------------------------------------------------------------------------------


def test_disconnected_connection_is_acknowledged_and_logged_as_skipped(intake: Intake) -> None:
    save_connection(ConnectionStatus.DISCONNECTED)
    raw = so_body(event_id="late-event")

    status, body = intake.post(raw, signature=sign(raw))

    assert (status, body) == (200, {"received": 1})
    assert intake.queued() == []
    [entry] = intake.log_entries()
    assert (entry.trigger, entry.outcome, entry.crm_id) == (Trigger.WEBHOOK, Outcome.SKIPPED, "18")
    assert entry.error.code == "connection_disconnected"
    assert "late-event" in (entry.error.cause or "")


def test_disconnected_connection_whose_secret_was_deleted_is_still_acknowledged(intake: Intake) -> None:
    save_connection(ConnectionStatus.DISCONNECTED, secret="about-to-go")
    boto3.client("secretsmanager").delete_secret(SecretId=WEBHOOK_SECRET, RecoveryWindowInDays=7)
    raw = so_body()

    status, _ = intake.post(raw, signature=sign(raw, "about-to-go"))

    assert status == 200
    assert intake.queued() == []
    assert [e.outcome for e in intake.log_entries()] == [Outcome.SKIPPED]


# --- durability --------------------------------------------------------------------------------------------------


def test_queue_failure_is_503_so_the_crm_retries(intake: Intake) -> None:
    save_connection()
    boto3.client("sqs").delete_queue(QueueUrl=intake.aws.webhook_queue_url)
    raw = so_body()

    status, body = intake.post(raw, signature=sign(raw))

    assert status == 503
    assert body["error"]["code"] == "queue_unavailable"
    assert "Traceback" not in json.dumps(body)


def test_batch_of_events_in_one_delivery_is_queued_completely(intake: Intake) -> None:
    # More events than one SendMessageBatch call takes: all must arrive, in chunks of ten.
    save_connection()
    events = [json.loads(so_body(event_id=f"bulk-{i:02d}", PrimaryKey=100 + i)) for i in range(23)]
    raw = json.dumps(events).encode()

    status, body = intake.post(raw, signature=sign(raw))

    assert (status, body) == (200, {"received": 23})
    queued = intake.queued()
    assert sorted(q.event.event_id for q, _ in queued) == [f"bulk-{i:02d}" for i in range(23)]
    assert all(q.events_in_delivery == 23 for q, _ in queued)


@pytest.mark.parametrize(
    ("service_env", "dependency"),
    [("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secret"), ("AWS_ENDPOINT_URL_DYNAMODB", "table")],
)
def test_unreachable_store_is_503_not_a_rejection(
    intake: Intake, monkeypatch: pytest.MonkeyPatch, service_env: str, dependency: str
) -> None:
    # A valid event must never be answered 401 just because we could not check it: 503 makes the CRM retry.
    save_connection()
    monkeypatch.setenv(service_env, "http://127.0.0.1:9")  # nothing listens there: connection refused
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    runtime.reset()  # the next invocation builds clients with the broken endpoint
    raw = so_body()

    status, body = intake.post(raw, signature=sign(raw))

    assert status == 503, dependency
    assert body["error"]["code"] == "store_unavailable"
    monkeypatch.delenv(service_env)
    assert intake.queued() == []


def test_log_lines_name_the_reason_but_not_the_secret_or_the_key(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    save_connection()
    raw = so_body()
    intake.post(raw, signature=sign(raw, "forger"))
    intake.post(raw, signature=sign(raw))

    # Rendered by the function's own (redacting JSON) formatter, as CloudWatch would receive them.
    formatter = logger.registered_formatter
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == logger.name]
    rejected = [line for line in lines if line.get("message") == "webhook rejected"]
    accepted = [line for line in lines if line.get("message") == "webhook accepted"]
    assert [(r["reason"], r["status"], r["tenant_id"]) for r in rejected] == [("signature_invalid", 401, TENANT)]
    assert [a["queued"] for a in accepted] == [1]
    assert rejected[0]["connection"] == accepted[0]["connection"] != KEY
    everything = json.dumps(lines)
    assert KEY not in everything
    assert SECRET not in everything


def test_binary_content_type_is_verified_on_the_decoded_bytes(intake: Intake) -> None:
    # API Gateway base64-encodes bodies of non-text content types; the signature covers the original bytes.
    save_connection()
    raw = so_body(FieldValues={"name": "Ærøskøbing Bådeværft"})

    status, _ = intake.post(raw, signature=sign(raw), headers={"content-type": "application/octet-stream"})

    assert status == 200
    [(queued, _)] = intake.queued()
    assert base64.b64decode(queued.raw_body_b64 or "") == raw
    assert queued.event.payload["name"] == "Ærøskøbing Bådeværft"


def test_body_that_is_not_valid_base64_is_400(intake: Intake) -> None:
    save_connection()
    event = http_api_event(
        "POST",
        f"/webhooks/superoffice/{KEY}",
        route_key=ROUTE,
        headers={"content-type": "application/octet-stream"},
        path_parameters={"crm": "superoffice", "connection_key": KEY},
    )
    event.update(body="%%% not base64 %%%", isBase64Encoded=True)

    response = intake.handler(event, intake.runtime.context("WebhookIntakeFunction"))

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "webhook_malformed"
