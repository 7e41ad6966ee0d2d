"""`check_registration` against the SuperOffice sandbox: what the scheduled sync does each run to keep a connection's
webhook delivering. The tenant is connected through the real OAuth flow (which registers the webhook); the CRM side
is changed the way it happens in production (deliveries failing until SuperOffice stops the webhook, an admin
deleting it, the app losing webhook access), then the check repairs it and a new CRM change must arrive again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.connect.webhook_health import HealthOutcome, check_registration
from leadbridge.models.connection import Connection, ConnectionStatus, WebhookStatus
from leadbridge.models.synclog import Trigger
from local.stack import LocalStack
from tests.support.local_stack import stepped_stack
from tests.support.superoffice_connect import CTX
from tests.support.superoffice_webhooks import TENANT, Hooks, poll
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """Overrides the shared `stack`: the pump is stepped by the tests (`poll`), retries are visible at once."""
    yield from stepped_stack(moto_server)


def connection() -> Connection:
    found = runtime.connection_store().get(TENANT, "superoffice")
    assert found is not None
    return found


def crm_webhooks(hooks: Hooks) -> list[dict[str, Any]]:
    with hooks.sb.lock:
        return [dict(h) for h in hooks.sb.customers[CTX].webhooks.values()]


def checks_logged(hooks: Hooks) -> list[dict[str, Any]]:
    return [e for e in hooks.sync_log() if (e.get("details") or {}).get("operation") == "webhook_check"]


def signing_secret() -> str:
    name = connection().webhook_secret_name
    assert name
    stored = boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    return str(json.loads(stored)["webhook_secret"])


def change_arrives(hooks: Hooks, name: str) -> None:
    """A CRM change after the repair is delivered, accepted and reported to the app."""
    before = len(hooks.deliveries())
    hooks.sb.create(CTX, "contact", {"Name": name})
    [delivery] = hooks.wait_for_deliveries(before + 1)[before:]
    assert delivery.status == 200, delivery.error
    poll(hooks)
    assert name in [e["detail"]["fields"].get("company_name") for e in hooks.app_events()]


def test_a_healthy_webhook_is_left_alone_and_not_logged(wh: Hooks) -> None:
    [hook] = crm_webhooks(wh)

    health = check_registration(runtime.connection_services(), connection())

    assert (health.outcome, health.webhook_id, health.crm_state) == (HealthOutcome.HEALTHY, str(hook["WebhookId"]),
                                                                     "Active")
    assert checks_logged(wh) == [] and crm_webhooks(wh) == [hook]


def test_a_webhook_superoffice_stopped_after_too_many_errors_is_reactivated(wh: Hooks) -> None:
    sqs = boto3.client("sqs")
    url = wh.stack.resources.webhook_queue_url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # Our queue is gone for a while: every delivery is answered 503, three retry cycles in a row fail.
    sqs.delete_queue(QueueUrl=url)
    for i in range(3):
        wh.sb.create(CTX, "contact", {"Name": f"Tapt {i} AS"})
    wait_until(lambda: crm_webhooks(wh)[0]["State"] == "TooManyErrors", what="SuperOffice to stop the webhook")
    assert {d.status for d in wh.deliveries()} == {503} and len(wh.deliveries()) == 9
    keep = ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "SqsManagedSseEnabled")
    sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes={k: attributes[k] for k in keep if k in attributes})
    secret = signing_secret()

    health = check_registration(runtime.connection_services(), connection())

    assert (health.outcome, health.crm_state) == (HealthOutcome.REACTIVATED, "TooManyErrors")
    [hook] = crm_webhooks(wh)
    assert hook["State"] == "Active" and str(hook["WebhookId"]) == health.webhook_id
    assert signing_secret() == secret  # reactivated, not re-registered: the secret stays
    [entry] = checks_logged(wh)
    assert (entry["trigger"], entry["action"], entry["outcome"]) == ("schedule", "update", "success")
    assert entry["details"] == {"operation": "webhook_check", "result": "reactivated", "crm_state": "TooManyErrors"}
    assert connection().webhook_status is WebhookStatus.REGISTERED
    change_arrives(wh, "Tilbake AS")


def test_a_webhook_deleted_in_the_crm_is_registered_again_with_a_new_secret(wh: Hooks) -> None:
    [old] = crm_webhooks(wh)
    old_secret = signing_secret()
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks.clear()  # an admin deleted it in SuperOffice

    health = check_registration(runtime.connection_services(), connection())

    assert health.outcome is HealthOutcome.REREGISTERED
    [new] = crm_webhooks(wh)
    assert new["WebhookId"] != old["WebhookId"] and new["TargetUrl"] == old["TargetUrl"]
    assert connection().webhook_id == str(new["WebhookId"]) == health.webhook_id
    assert signing_secret() != old_secret and new["Secret"] == signing_secret()
    [entry] = checks_logged(wh)
    assert (entry["action"], entry["outcome"], entry["details"]["result"]) == ("create", "success", "reregistered")
    change_arrives(wh, "Ny Krok AS")


def test_a_repair_made_by_a_run_an_admin_started_is_logged_as_manual(wh: Hooks) -> None:
    """The worker's wiring (composition) passes the run's trigger to the check: a manual run's repair says `manual`
    in the sync log, like every other entry of that run."""
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks.clear()
    check = runtime.worker_services().check_webhook
    assert check is not None

    health = check(connection(), None, Trigger.MANUAL)

    assert health.outcome is HealthOutcome.REREGISTERED
    [entry] = checks_logged(wh)
    assert (entry["trigger"], entry["action"], entry["details"]["result"]) == ("manual", "create", "reregistered")


def test_a_registration_that_failed_at_connect_is_made_on_the_next_run(wh: Hooks) -> None:
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks.clear()
    runtime.connection_store().save(
        connection().model_copy(update={"webhook_status": WebhookStatus.FAILED, "webhook_id": None,
                                        "webhook_error": "SuperOffice was down"})
    )

    health = check_registration(runtime.connection_services(), connection())

    assert health.outcome is HealthOutcome.REGISTERED
    assert (connection().webhook_status, connection().webhook_error) == (WebhookStatus.REGISTERED, None)
    assert len(crm_webhooks(wh)) == 1
    change_arrives(wh, "Endelig AS")


def test_a_throttled_crm_changes_nothing_and_is_checked_next_run(wh: Hooks) -> None:
    before = connection()
    wh.sb.inject_fault("429", retry_after=0, count=4, path_prefix="/api/v1/Webhook", method="GET")

    health = check_registration(runtime.connection_services(), before)

    assert health.outcome is HealthOutcome.UNCHECKED
    assert connection() == before and checks_logged(wh) == []


def test_losing_webhook_access_is_recorded_on_the_connection_and_in_the_log(wh: Hooks) -> None:
    wh.sb.webhooks_enabled = False
    try:
        health = check_registration(runtime.connection_services(), connection())
    finally:
        wh.sb.webhooks_enabled = True

    assert health.outcome is HealthOutcome.FAILED
    stored = connection()
    assert stored.webhook_status is WebhookStatus.FAILED and "not enabled" in (stored.webhook_error or "")
    [entry] = checks_logged(wh)
    assert (entry["outcome"], entry["error"]["code"]) == ("failed", "webhook_repair_failed")
    # Access granted again: the next run registers it anew.
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks.clear()
    assert check_registration(runtime.connection_services(), connection()).outcome is HealthOutcome.REGISTERED


def test_a_connection_waiting_for_reauthorization_is_not_checked(wh: Hooks) -> None:
    calls = sum(wh.sb.call_counts(CTX).values())
    waiting = connection().model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH})

    health = check_registration(runtime.connection_services(), waiting)

    assert health.outcome is HealthOutcome.NOT_APPLICABLE
    assert sum(wh.sb.call_counts(CTX).values()) == calls


@pytest.fixture(autouse=True)
def _fresh_services() -> Iterator[None]:
    yield
    runtime.reset()
