"""A CRM leadbridge has never heard of, registered from the test, goes end to end through export and inbound sync.

The Memory CRM (`tests/support/fake_crm`) is built from the connector kit alone, as docs/adding-a-crm.md describes. It
is registered with the CRM registry and reached only by name ("memcrm") through the same domain APIs the handlers use:
`leadbridge.export` (match, export) and `leadbridge.inbound.worker.process_job`, with the real DynamoDB stores in moto.
Its profile, default settings, request budget and metadata cache policy come from its provider; nothing in
`leadbridge` had to change for it, which `test_no_sync_module_names_a_crm` keeps true for the built-in CRMs too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadbridge.crm.base import ConnectionContext, provider, supported
from leadbridge.crm.defaults import default_settings, profile
from leadbridge.export import ExportChoice, ExportMode, ExportRequest, ExportServices, export_lead, match_lead
from leadbridge.export.contracts import RecordAction
from leadbridge.export.matching import MatchVerdict
from leadbridge.inbound.ports import InboundServices
from leadbridge.inbound.worker import RunJob, WorkerConfig, WorkerServices, process_job
from leadbridge.models.changes import ChangeEvent, ChangeType
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.models.runs import RunState
from leadbridge.store.changes import DynamoChangeFeed
from leadbridge.store.checkpoints import DynamoCheckpointStore
from leadbridge.store.connections import ConnectionStore
from leadbridge.store.leases import DynamoLeadLeases
from leadbridge.store.links import LinkStore
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.records import DynamoRecordStates
from leadbridge.store.runs import DynamoRunStore, SqsDelayedQueue
from leadbridge.store.table import Table
from local.aws import LocalResources
from tests.support.fake_crm import NAME, PROFILE, REQUEST_BUDGET, MemoryConnector, MemoryCrm, registered
from tests.support.feed_relay import RelayedBus

TENANT = "acme-mem"
LEAD = {
    "id": "L-MEM-1",
    "stage": "Lead",
    "companyName": "Hukommelse ApS",
    "cvr": "44556677",
    "website": "https://hukommelse.dk",
    "phone": "+4533221100",
    "city": "Aarhus",
    "contacts": [
        {"id": "c1", "name": "Mette Minde", "email": "mette@hukommelse.dk", "title": "CEO"},
        {"id": "c2", "name": "Ole Glemme", "email": "ole@hukommelse.dk"},
    ],
}


class StaticToken:
    def __init__(self) -> None:
        self.asked = 0

    def access_token(self) -> str:
        self.asked += 1
        return "memory-token"

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        return "memory-token-2"


@dataclass
class World:
    aws: LocalResources
    crm: MemoryCrm
    tokens: StaticToken = field(default_factory=StaticToken)
    connectors: list[MemoryConnector] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.table = Table(self.aws.table_name)
        self.bus = RelayedBus(self.table)  # the worker's own events, and the relay's from the change feed
        self.links = LinkStore(self.table)
        self.connections = ConnectionStore(self.table)
        self.connection = Connection(
            tenant_id=TENANT,
            crm=NAME,
            status=ConnectionStatus.CONNECTED,
            account_id="mem-1",
            api_base="https://memcrm.test",
            secret_name=f"leadbridge/test/tenants/{TENANT}/{NAME}",
            connected_by="admin",
            connected_at=datetime.now(UTC),
            connection_key="m" * 32,
        )
        self.connections.save(self.connection)

    def connector(self, crm: str) -> MemoryConnector:
        """What the composition root does: the registered provider by name builds the connector."""
        context = ConnectionContext(tenant_id=TENANT, crm=crm, account_id="mem-1", api_base="https://memcrm.test")
        built = provider(crm).connector(context, self.tokens)
        assert isinstance(built, MemoryConnector)
        self.connectors.append(built)
        return built

    @property
    def export(self) -> ExportServices:
        return ExportServices(
            links=self.links,
            sync_log=DynamoSyncLog(self.table),
            settings=lambda tenant, crm: default_settings(crm),  # the provider's defaults, looked up by name
            connector=lambda tenant, crm: self.connector(crm),
            active_crm=lambda tenant: NAME,
            leases=DynamoLeadLeases(self.table),
        )

    @property
    def worker(self) -> WorkerServices:
        return WorkerServices(
            runs=DynamoRunStore(self.table),
            checkpoints=DynamoCheckpointStore(self.table),
            inbound=InboundServices(
                links=self.links,
                states=DynamoRecordStates(self.table),
                feed=DynamoChangeFeed(self.table),
                log=DynamoSyncLog(self.table),
            ),
            connections=self.connections,
            settings=lambda tenant, crm: default_settings(crm),
            connector=lambda connection: self.connector(connection.crm),
            publisher=self.bus,
            queue=SqsDelayedQueue(self.aws.sync_queue_url),
        )

    def sync(self) -> RunJob:
        now = datetime.now(UTC)
        job = RunJob(job_id=str(uuid.uuid4()), tenant_id=TENANT, crm=NAME, trigger="schedule", scheduled_for=now,
                     enqueued_at=now)  # fmt: skip
        result = process_job(self.worker, job, remaining_ms=lambda: 10**9, config=WorkerConfig())
        assert result.state is RunState.SUCCEEDED, result.detail
        return job

    def feed(self) -> list[ChangeEvent]:
        feed = DynamoChangeFeed(self.table)
        later = datetime.now(UTC) + timedelta(minutes=1)  # the feed shows changes older than 2 s
        items: list[ChangeEvent] = []
        cursor = None
        while True:
            page = feed.read(TENANT, cursor=cursor, limit=500, now=later)
            items += page.items
            cursor = page.next_cursor
            if not page.has_more:
                return items


@pytest.fixture
def world(aws: LocalResources) -> Iterator[World]:
    crm = MemoryCrm()
    with registered(crm):
        yield World(aws=aws, crm=crm)
    assert NAME not in supported()  # the registry forgets it again


def test_the_registered_crm_declares_its_profile_settings_and_budget_through_its_provider(world: World) -> None:
    assert NAME in supported()
    assert profile(NAME) is PROFILE and provider(NAME).request_budget == REQUEST_BUDGET
    settings = default_settings(NAME)
    assert settings.crm == NAME and settings.objects.company.crm_object == "Organisation"


def test_a_lead_is_matched_and_exported_into_the_fake_crm_and_an_unchanged_re_export_writes_nothing(
    world: World,
) -> None:
    lead = Lead.model_validate(LEAD)
    assert match_lead(world.export, TENANT, lead).verdict is MatchVerdict.NONE

    result = export_lead(world.export, TENANT, ExportRequest(lead=lead))

    assert result.crm == NAME and result.status == "exported"
    assert result.company.action is RecordAction.CREATED
    company = world.crm.records[CrmObject.COMPANY][result.company.crm_id]
    assert company.fields == {
        "name": "Hukommelse ApS",
        "website": "https://hukommelse.dk",
        "org_no": "44556677",
        "phone": "+4533221100",
        "city": "Aarhus",
    }
    persons = {p.fields["email"]: p for p in world.crm.records[CrmObject.PERSON].values()}
    assert set(persons) == {"mette@hukommelse.dk", "ole@hukommelse.dk"}
    assert persons["mette@hukommelse.dk"].fields["first"] == "Mette"
    assert all(p.parent_id == result.company.crm_id for p in persons.values())
    assert result.crm_calls == world.connectors[-1].request_count() > 0  # counted through the Connector protocol

    # The same lead again: the links say nothing changed, so no CRM request is made.
    again = export_lead(world.export, TENANT, ExportRequest(lead=lead))
    assert again.status == "unchanged" and again.crm_calls == 0

    # A second lead with the same org number matches the exported company exactly and links to it.
    twin = Lead.model_validate({**LEAD, "id": "L-MEM-2", "contacts": []})
    assert match_lead(world.export, TENANT, twin).verdict is MatchVerdict.EXACT
    linked = export_lead(world.export, TENANT, ExportRequest(lead=twin, choice=ExportChoice(mode=ExportMode.AUTO)))
    assert linked.company.crm_id == result.company.crm_id and len(world.crm.records[CrmObject.COMPANY]) == 1


def test_the_scheduled_sync_brings_the_fake_crms_changes_to_the_app_within_its_declared_budget(world: World) -> None:
    exported = export_lead(world.export, TENANT, ExportRequest(lead=Lead.model_validate(LEAD)))
    company_id = exported.company.crm_id
    # CRM users at work: a company nobody exported, with a person, and an edit of the exported company.
    other = world.crm.save(CrmObject.COMPANY, {"name": "Fremmed A/S", "city": "Odense"})
    world.crm.save(CrmObject.PERSON, {"first": "Frida", "last": "Fremmed", "email": "frida@fremmed.dk"},
                   parent_id=other.id)  # fmt: skip
    world.crm.save(CrmObject.COMPANY, {"phone": "+4570707070"}, record_id=company_id)

    job = world.sync()

    run = DynamoRunStore(world.table).get(TENANT, job.job_id)
    assert run is not None and run.request_budget == REQUEST_BUDGET  # the provider's, not a table keyed by CRM name
    assert 0 < run.crm_calls == sum(c.request_count() for c in world.connectors[-1:])
    changes = {(c.object, c.crm_id): c for c in world.feed()}
    new_company = changes[(CrmObject.COMPANY, other.id)]
    assert new_company.type is ChangeType.COMPANY_CHANGED and new_company.fields["company_name"] == "Fremmed A/S"
    assert new_company.app_id is None and new_company.url == f"https://memcrm.test/company/{other.id}"
    edited = changes[(CrmObject.COMPANY, company_id)]
    assert edited.lead_id == LEAD["id"] and edited.fields["phone"] == "+4570707070"
    frida = [c for c in changes.values() if c.object is CrmObject.PERSON and c.parent_crm_id == other.id]
    assert len(frida) == 1 and frida[0].fields["email"] == "frida@fremmed.dk"
    assert {e.detail_type for e in world.bus.delivered} >= {ChangeType.COMPANY_CHANGED.value}

    # A second run finds nothing new: the checkpoints moved past every change, and nothing is reported twice.
    before = len(world.feed())
    world.sync()
    assert len(world.feed()) == before


# The modules that hold sync code: none of them may name a CRM in code (comments and docs may give examples).
LEADBRIDGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "leadbridge"
SYNC_PACKAGES = ("connect", "export", "lifecycle", "inbound", "settings", "mapping", "models", "store", "api")
CRM_NAME = re.compile(r"""["'](superoffice|salesforce)["']|leadbridge\.crm\.(superoffice|salesforce)""", re.IGNORECASE)


def _code_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines outside docstrings, without comments (a rough cut, enough for names in strings and imports)."""
    in_docstring = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_docstring:
            in_docstring = quotes % 2 == 0
            continue
        if stripped.startswith('"""'):
            in_docstring = quotes == 1
            continue
        yield number, line.split("#", 1)[0]


def test_no_sync_module_names_a_crm() -> None:
    named: list[str] = []
    for package in SYNC_PACKAGES:
        for path in sorted((LEADBRIDGE / package).rglob("*.py")):
            for number, code in _code_lines(path.read_text()):
                if CRM_NAME.search(code):
                    named.append(f"{path.relative_to(LEADBRIDGE)}:{number}: {code.strip()}")
    assert named == []
