"""The scheduled-sync worker's test world: the real worker over DynamoDB and SQS in moto and a SuperOffice connector to
the sandbox over HTTP, with the inbound stores wrapped so a test can kill the process at any store call, and the
connector hooked to edit the CRM between pages. Used by tests/integration/test_sync_worker.py and
tests/integration/test_worker_deadline.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from leadbridge.crm.defaults import default_settings
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.inbound.ports import InboundServices
from leadbridge.inbound.worker import JobResult, RunJob, WorkerConfig, WorkerServices, process_job
from leadbridge.models.changes import ChangeEvent
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import SyncRun
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.changes import DynamoChangeFeed
from leadbridge.store.checkpoints import DynamoCheckpointStore
from leadbridge.store.connections import ConnectionStore
from leadbridge.store.links import LinkStore
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.records import DynamoRecordStates
from leadbridge.store.runs import DynamoRunStore, SqsDelayedQueue
from leadbridge.store.table import Table
from local.aws import LocalResources
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.feed_relay import RelayedBus
from tests.support.superoffice_connector import ADMIN_EMAIL, ADMIN_ID, CTX, REDIRECT_URI, SoEnv

TENANT = "acme"
CRM = "superoffice"
PLENTY = 10**9  # milliseconds left: never runs out


class Killed(BaseException):
    """The process dies (Lambda timeout, crash): nothing after this point runs, no handler sees it."""


class KillSwitch:
    """Kills the process at the N-th call of one store method the inbound kernel uses (reads, the feed, the log, the
    record states): any point where a real process can die between two writes."""

    def __init__(self) -> None:
        self.kill_at: tuple[str, int] | None = None
        self.calls: dict[str, int] = {}

    def tick(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.kill_at == (method, self.calls[method]):
            self.kill_at = None
            raise Killed()


class Killable:
    def __init__(self, target: Any, switch: KillSwitch, *, prefix: str = "") -> None:
        self._target = target
        self._switch = switch
        self._prefix = prefix  # tells apart methods of the same name on two stores

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._switch.tick(self._prefix + name)
            return attribute(*args, **kwargs)

        return call


class HookedConnector:
    """The real connector; `after_page` runs after each page came back from the CRM (edits "during the run")."""

    def __init__(self, connector: SuperOfficeConnector) -> None:
        self.connector = connector
        self.after_page: Callable[[int], None] | None = None
        self.pages = 0
        self.records_read: dict[CrmObject, int] = {}

    def changes_since(self, obj: CrmObject, *args: Any, **kwargs: Any) -> Any:
        page = self.connector.changes_since(obj, *args, **kwargs)
        self.pages += 1
        self.records_read[obj] = self.records_read.get(obj, 0) + len(page.records)
        if self.after_page is not None:
            self.after_page(self.pages)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connector, name)


def inbound_settings(*, initial_import: bool = True, **selections: Any) -> SettingsDocument:
    data = default_settings(CRM).model_dump(mode="json")
    for obj in ("company", "person"):
        data["objects"][obj]["direction"] = "both"
        for mapping in data["field_mappings"][obj]:
            if len(mapping["app_fields"]) == 1 and not any(t["kind"] == "split_name" for t in mapping["transforms"]):
                mapping["direction"] = "both"
    data["initial_import"] = initial_import
    data["selections"].update(selections)
    return SettingsDocument.model_validate(data)


@dataclass
class World:
    sb: SuperOfficeSandbox
    table: Table
    connector: HookedConnector
    links: LinkStore
    bus: RelayedBus  # the worker's own events, and the changes the relay puts on the bus from the feed
    queue_url: str
    settings: SettingsDocument
    config: WorkerConfig = field(default_factory=WorkerConfig)
    connection_status: ConnectionStatus = ConnectionStatus.CONNECTED

    def __post_init__(self) -> None:
        self.connections = ConnectionStore(self.table)
        self.runs = DynamoRunStore(self.table)
        self.checkpoints = DynamoCheckpointStore(self.table)
        self.kills = KillSwitch()
        self.inbound = InboundServices(
            links=Killable(self.links, self.kills),
            states=Killable(DynamoRecordStates(self.table), self.kills),
            feed=Killable(DynamoChangeFeed(self.table), self.kills),
            log=Killable(DynamoSyncLog(self.table), self.kills),
        )
        self.save_connection()

    def save_connection(self, status: ConnectionStatus = ConnectionStatus.CONNECTED) -> None:
        self.connections.save(
            Connection(
                tenant_id=TENANT,
                crm=CRM,
                status=status,
                account_id=CTX,
                api_base=self.connector.api_base,
                secret_name="leadbridge/test/tenants/acme/superoffice",
                connected_by="admin",
                connected_at=datetime.now(UTC),
                connection_key="k" * 32,
            )
        )

    @property
    def svc(self) -> WorkerServices:
        return WorkerServices(
            runs=self.runs,
            checkpoints=Killable(self.checkpoints, self.kills, prefix="checkpoints."),  # type: ignore[arg-type]
            inbound=self.inbound,
            connections=self.connections,
            settings=lambda tenant, crm: self.settings,
            connector=lambda connection: self.connector,  # type: ignore[arg-type,return-value]
            publisher=self.bus,
            queue=SqsDelayedQueue(self.queue_url),
        )

    def job(self, **kw: Any) -> RunJob:
        now = datetime.now(UTC)
        base: dict[str, Any] = {
            "job_id": str(uuid.uuid4()),
            "tenant_id": TENANT,
            "crm": CRM,
            "trigger": "schedule",
            "scheduled_for": now,
            "enqueued_at": now,
        }
        return RunJob.model_validate({**base, **kw})

    def run(self, job: RunJob | None = None, *, remaining: Callable[[], int] = lambda: PLENTY, **kw: Any) -> JobResult:
        return process_job(self.svc, job or self.job(), remaining_ms=remaining, config=self.config, **kw)

    def sync_run(self, run_id: str | None) -> SyncRun:
        assert run_id is not None
        found = self.runs.get(TENANT, run_id)
        assert found is not None
        return found

    def feed(self) -> list[ChangeEvent]:
        items: list[ChangeEvent] = []
        cursor = None
        later = datetime.now(UTC) + timedelta(minutes=1)
        while True:
            page = self.inbound.feed.read(TENANT, cursor=cursor, limit=500, now=later)
            items += page.items
            cursor = page.next_cursor
            if not page.has_more:
                return items

    def queued(self) -> list[RunJob]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        jobs = [RunJob.model_validate_json(m["Body"]) for m in messages.get("Messages", [])]
        for m in messages.get("Messages", []):
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return jobs

    def company(self, name: str, **body: Any) -> int:
        return int(self.sb.create(CTX, "contact", {"Name": name, **body})["ContactId"])

    def backdate(self, kind: str, ident: int, days: int) -> None:
        """Make a record look last changed `days` ago (as if it existed long before the connection)."""
        with self.sb.lock:
            record = self.sb.customer(CTX).records[kind][ident]
            record["UpdatedDate"] = record["CreatedDate"] = record["UpdatedDate"] - timedelta(days=days)

    def person(self, company_id: int, first: str, **body: Any) -> int:
        created = self.sb.create(
            CTX, "person", {"Firstname": first, "Lastname": "Test", "Contact": {"ContactId": company_id}, **body}
        )
        return int(created["PersonId"])


def new_world(aws: LocalResources, sandbox: SuperOfficeSandbox, *, page_size: int, **options: Any) -> World:
    """A fresh sandbox customer with its admin, and a `World` over it reading pages of `page_size`."""
    sandbox.reset()
    app = sandbox.register_app([REDIRECT_URI])
    sandbox.add_customer(CTX, "Sync Test AS", api_host=0)
    sandbox.add_user(CTX, ADMIN_EMAIL, associate_id=ADMIN_ID, full_name="Tony Young", is_admin=True)
    so = SoEnv(sandbox=sandbox, client_id=app.client_id, client_secret=app.client_secret)
    connector, _tokens = so.connector(page_size=page_size)
    options.setdefault("connector", HookedConnector(connector))
    options.setdefault("settings", inbound_settings())
    return World(
        sb=sandbox,
        table=Table(aws.table_name),
        links=LinkStore(Table(aws.table_name)),
        bus=RelayedBus(Table(aws.table_name)),
        queue_url=aws.sync_queue_url,
        **options,
    )


def assert_no_spec_violations(sandbox: SuperOfficeSandbox) -> None:
    violations = [v for v in sandbox.spec_violations if not v.startswith("response ")]
    assert violations == [], "requests violating the SuperOffice spec:\n" + "\n".join(violations)


def by_record(events: list[ChangeEvent]) -> dict[str, list[ChangeEvent]]:
    grouped: dict[str, list[ChangeEvent]] = {}
    for event in events:
        grouped.setdefault(f"{event.object.value}:{event.crm_id}", []).append(event)
    return grouped
