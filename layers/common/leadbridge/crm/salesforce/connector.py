"""`Connector` for one Salesforce org (REST API, `instance_url` of the grant).

Objects follow the settings' choice (`objects.company.crm_object`):
- "Account" (default): company = Account, person = Contact (AccountId = company), deal = Opportunity, activity = Task.
- "Lead": company = Lead (a Lead is a person at a company), holding the app lead's first person (a new lead and its
  first contact are one POST; without a contact the Lead has the Web-to-Lead placeholder last name "[not provided]",
  which is never read back as a person). Further persons wait for the conversion (sync code: `leadbridge.crm.
  conversion`); `convert` converts with the SOAP API's `convertLead()` (`conversion.py`). A converted Lead's Account
  and Contact are read and written under the Lead field names (the standard lead field mapping); an id's key prefix
  tells which object a record is (001 Account, 003 Contact, 00Q Lead).

Field names are the API names (`Name`, `Website`, `Score__c`). `describe` (cached per connector) drives `fields()` and
the checks made before every write (`describe.check_write`): a write that would be refused fails with `CrmRejected`
naming the fields, and no HTTP write is sent. Every call is counted in `connector.calls` by operation name.

Incremental reads: SOQL `WHERE SystemModstamp >= since ORDER BY SystemModstamp, Id` (inclusive), paged with
`nextRecordsUrl` (the page token). Deletions: `sobjects/{T}/deleted` (a 15-day window). Webhooks: Outbound Messages
are configured in Setup, not through REST (see `register_webhook`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.conversion import Converted, LeadConverted
from leadbridge.crm.http import RetryingSender
from leadbridge.crm.metadata_cache import MetadataCache
from leadbridge.crm.paging import Page, check_next_token, pages
from leadbridge.crm.reporting import TransportReporting
from leadbridge.crm.salesforce.client import SalesforceClient, translate
from leadbridge.crm.salesforce.composite import (
    MAX_GRAPH_NODES,
    MAX_SUBREQUESTS,
    Subrequest,
    composite_body,
    graph_body,
    graph_requests,
    graph_results,
    reference,
    refused,
    written_ids,
)
from leadbridge.crm.salesforce.conversion import (
    TARGET_MAPS,
    Conversion,
    convert_lead_envelope,
    from_target,
    parse_conversion,
    to_target,
)
from leadbridge.crm.salesforce.describe import Describe, check_write, decode
from leadbridge.crm.salesforce.search import MAX_SEARCH_ROWS, CompanySearchPlan
from leadbridge.crm.salesforce.soql import soql_datetime, soql_string
from leadbridge.crm.search_many import CompanySearch
from leadbridge.crm.together import NewRecord, RecordUpdate, RecordWrite
from leadbridge.crm.transport import CrmTransport
from leadbridge.errors import (
    CrmError,
    CrmFieldUnknown,
    CrmNotFound,
    CrmRejected,
    CrmUnavailable,
    InvalidCursor,
    NeedsReauth,
)
from leadbridge.models.crm import (
    ChangePage,
    CrmObject,
    CrmObjectInfo,
    CrmRecord,
    CrmUser,
    FieldInfo,
    Stage,
    StageKind,
    WebhookRegistration,
)

log = logging.getLogger(__name__)
ROWS_BY_ID = 200  # ids per `get_many` / `list_persons_many` query (18 characters each: far inside SOQL's length)

PLACEHOLDER_LAST_NAME = "[not provided]"  # what Web-to-Lead stores when a lead has no last name
DELETED_WINDOW = timedelta(days=15)
LEAD_PERSON_FIELDS = ("FirstName", "LastName", "Title", "Email", "Phone", "MobilePhone", "Salutation")
MANUAL_WEBHOOK_ID = "outbound-message"
COMPANY_OBJECTS = ("Account", "Lead")
CONVERTED_PREFIXES = {"001": "Account", "003": "Contact"}  # key prefixes of what a converted Lead became
CONVERTED_ACCOUNTS = "SELECT ConvertedAccountId FROM Lead WHERE IsConverted = true"


class SalesforceConnector(TransportReporting):
    crm = "salesforce"

    def __init__(
        self,
        *,
        context: ConnectionContext,
        client: SalesforceClient,
        objects: Mapping[str, str] | None = None,
    ) -> None:
        self.context = context
        self.client = client
        chosen = dict(objects or {})
        # Any other name is kept as given: `objects()` lists the choices, so settings validation and the export refuse
        # it with a 422 naming `objects.company.crm_object` (a CRM error here would be a 502 for a settings mistake).
        company = chosen.get("company") or "Account"
        self.names: dict[CrmObject, str] = {
            CrmObject.COMPANY: company,
            CrmObject.PERSON: "Lead" if company == "Lead" else "Contact",
            CrmObject.DEAL: "Opportunity",
            CrmObject.ACTIVITY: "Task",
        }
        self._describes: dict[str, Describe] = {}
        self._gone: list[str] = []  # fields the last drift retry left out
        # Set by the export's composition root: describes shared by the container's connectors for a few minutes.
        self.metadata_cache: MetadataCache | None = None

    @property
    def lead_mode(self) -> bool:
        return self.names[CrmObject.COMPANY] == "Lead"

    def _transport(self) -> CrmTransport:
        return self.client.transport

    @property
    def quota_remaining(self) -> int | None:
        """Daily API requests left in the org, from the last `Sforce-Limit-Info` header."""
        return self.client.quota_remaining

    @property
    def api_usage(self) -> tuple[int, int] | None:
        return self.client.api_usage

    # --- metadata -------------------------------------------------------------------------------------------------

    def objects(self) -> list[CrmObjectInfo]:
        return [
            CrmObjectInfo(object=CrmObject.COMPANY, crm_name="Account", label="Account"),
            CrmObjectInfo(object=CrmObject.COMPANY, crm_name="Lead", label="Lead"),
            CrmObjectInfo(object=CrmObject.PERSON, crm_name="Contact", label="Contact"),
            CrmObjectInfo(object=CrmObject.PERSON, crm_name="Lead", label="Lead"),
            CrmObjectInfo(object=CrmObject.DEAL, crm_name="Opportunity", label="Opportunity"),
            CrmObjectInfo(object=CrmObject.ACTIVITY, crm_name="Task", label="Task"),
        ]

    def describe(self, sobject: str) -> Describe:
        """The object's describe: once per connector, and through `metadata_cache` when set."""
        if sobject not in self._describes:

            def load() -> Describe:
                raw = self.client.request(f"{sobject.lower()}.describe", "GET", f"sobjects/{sobject}/describe")
                if not isinstance(raw, Mapping) or not isinstance(raw.get("fields"), list):
                    raise CrmUnavailable(f"Salesforce describe of {sobject} has no fields")
                return Describe.of(raw)

            cache = self.metadata_cache  # `is None`, not falsiness: an empty cache has length 0
            self._describes[sobject] = load() if cache is None else cache.get((*self._metadata_key(), sobject), load)
        return self._describes[sobject]

    def _metadata_key(self) -> tuple[str, ...]:
        # The org and the instance, not only the tenant: a reconnect to another org must never see these.
        return (self.crm, self.context.tenant_id, self.context.account_id, self.client.instance_url)

    @contextmanager
    def _forget_describe_on_rejection(self, sobject: str) -> Iterator[None]:
        """A refused write (by our checks or by Salesforce) may come from fields an admin just changed: the retry
        reads the describe again."""
        try:
            yield
        except CrmRejected:
            self._forget_describe(sobject)
            raise

    def _forget_describe(self, sobject: str) -> None:
        self._describes.pop(sobject, None)
        if self.metadata_cache is not None:
            self.metadata_cache.invalidate((*self._metadata_key(), sobject))

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        infos = self.describe(self.names[obj]).infos()
        filled = self._filled_on_create(obj)
        return [i.model_copy(update={"required": False}) if i.name in filled else i for i in infos]

    def _filled_on_create(self, obj: CrmObject) -> set[str]:
        """Required fields this connector fills itself when a mapping gives none (Lead mode: the placeholder last
        name; a person is written onto the company's Lead, whose `Company` the company mapping fills)."""
        if not self.lead_mode:
            return set()
        return {CrmObject.COMPANY: {"LastName"}, CrmObject.PERSON: {"LastName", "Company"}}.get(obj, set())

    def refresh_metadata(self, obj: CrmObject) -> None:
        """Forget the object's describe here and in the shared cache: the next read asks Salesforce."""
        self._forget_describe(self.names[obj])

    def _without_gone_fields(
        self, obj: CrmObject, fields: Mapping[str, Any], exc: CrmFieldUnknown, sobject: str | None = None
    ) -> dict[str, Any]:
        """Schema drift: Salesforce refused a field our describe still had. Read the describe again; the fields it no
        longer has are left out (and reported as skipped). Nothing gone: the refusal stands. `sobject`: the record's
        object when it is not the settings' one (a converted Lead's Account/Contact, its fields under Lead names)."""
        sobject = sobject or self.names[obj]
        self._forget_describe(sobject)
        describe = self.describe(sobject)
        converted = sobject in TARGET_MAPS and sobject != self.names[obj]

        def on_record(name: str) -> str | None:  # the field's name on the record's object (None: it has none)
            return next(iter(to_target(sobject, {name: None})[0]), None) if converted else name

        gone = [name for name in fields if (target := on_record(name)) is not None and describe.field(target) is None]
        if not gone:
            raise exc
        log.info("salesforce %s: fields deleted in the org are left out: %s", sobject, gone)
        self._gone = gone
        return {k: v for k, v in fields.items() if k not in gone}

    def stages(self) -> list[Stage]:
        rows = self._query_all(
            "stage.list",
            "SELECT Id, ApiName, MasterLabel, IsClosed, IsWon, DefaultProbability, SortOrder FROM OpportunityStage "
            "WHERE IsActive = true ORDER BY SortOrder",
        )
        stages = [
            Stage(
                id=str(row.get("ApiName") or row.get("MasterLabel")),
                name=str(row.get("MasterLabel") or row.get("ApiName")),
                kind=_stage_kind(row.get("IsClosed"), row.get("IsWon")),
                probability=int(row["DefaultProbability"]) if row.get("DefaultProbability") is not None else None,
                rank=int(row.get("SortOrder") or 0),
                group="stage",
            )
            for row in rows
        ]
        if self.lead_mode:
            statuses = self._query_all(
                "leadstatus.list", "SELECT Id, ApiName, MasterLabel, IsConverted, SortOrder FROM LeadStatus "
                "ORDER BY SortOrder"
            )
            stages += [
                Stage(
                    id=str(row.get("ApiName") or row.get("MasterLabel")),
                    name=str(row.get("MasterLabel") or row.get("ApiName")),
                    kind=StageKind.WON if row.get("IsConverted") else StageKind.OPEN,
                    rank=int(row.get("SortOrder") or 0),
                    group="status",
                )
                for row in statuses
            ]
        return stages

    def users(self) -> list[CrmUser]:
        rows = self._query_all("user.list", "SELECT Id, Name, Email, IsActive FROM User ORDER BY Name")
        return [
            CrmUser(id=str(r["Id"]), name=str(r.get("Name") or r["Id"]), email=r.get("Email"),
                    active=bool(r.get("IsActive", True)))
            for r in rows
            if r.get("Id")
        ]

    # --- records --------------------------------------------------------------------------------------------------

    def get(self, obj: CrmObject, record_id: str) -> CrmRecord:
        sobject = self._sobject_of(obj, record_id)
        raw = self.client.request(f"{sobject.lower()}.get", "GET", f"sobjects/{sobject}/{_sf_id(record_id)}")
        return self._record(obj, self._as_lead(sobject, raw))

    def _sobject_of(self, obj: CrmObject, record_id: str) -> str:
        """The sObject of an existing record. Lead mode: a converted Lead's company is an Account and its person a
        Contact; the id's key prefix tells (001 Account, 003 Contact)."""
        if self.lead_mode and obj in (CrmObject.COMPANY, CrmObject.PERSON):
            return CONVERTED_PREFIXES.get(str(record_id)[:3], "Lead")
        return self.names[obj]

    def _as_lead(self, sobject: str, raw: Any) -> Any:
        """Lead mode: a converted Lead's Account or Contact under the Lead field names the settings map."""
        if not self.lead_mode or sobject not in TARGET_MAPS or not isinstance(raw, Mapping):
            return raw
        return from_target(sobject, raw)

    def create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        with self._forget_describe_on_rejection(self.names[obj]):
            try:
                return self._create(obj, fields, parent_id=parent_id, person_id=person_id)
            except CrmFieldUnknown as exc:
                kept = self._without_gone_fields(obj, fields, exc)
                created = self._create(obj, kept, parent_id=parent_id, person_id=person_id)
                self._note_skipped_fields(self._gone)
                return created

    def _create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        sobject = self.names[obj]
        values = dict(fields)
        if self.lead_mode and obj is CrmObject.PERSON and parent_id:
            if self.is_unconverted_lead(parent_id):
                return self._lead_person(parent_id, values)
            # A person of a converted Lead's Account: a Contact, its Lead-named values mapped as the conversion does.
            sobject = "Contact"
            values, left_out = self._on_converted(obj, sobject, values)
            values.update(self._links(obj, parent_id, person_id))
            body = check_write(self.describe(sobject), values, creating=True)
            answer = self.client.request("contact.create", "POST", "sobjects/Contact", json_body=body)
            if not isinstance(answer, Mapping) or not answer.get("id"):
                raise CrmUnavailable("Salesforce created a Contact but returned no id")
            self._note_skipped_fields(left_out)
            return self._written(obj, str(answer["id"]), self._as_lead(sobject, body))
        values.update(self._links(obj, parent_id, person_id))
        if self.lead_mode and obj is CrmObject.COMPANY and not values.get("LastName"):
            values["LastName"] = PLACEHOLDER_LAST_NAME  # until a person is added; see the module docstring
        body = check_write(self.describe(sobject), values, creating=True)
        answer = self.client.request(f"{sobject.lower()}.create", "POST", f"sobjects/{sobject}", json_body=body)
        if not isinstance(answer, Mapping) or not answer.get("id"):
            raise CrmUnavailable(f"Salesforce created a {sobject} but returned no id")
        self._note_skipped_fields([])  # describe-checked: a field Salesforce would refuse fails the write instead
        return self._written(obj, str(answer["id"]), body)

    def create_many(
        self, obj: CrmObject, records: list[Mapping[str, Any]], *, parent_id: str | None = None
    ) -> list[CrmRecord | CrmError]:
        """Create up to 200 records in one round trip (sObject Collections, not all-or-none). Each result is the
        record or the error for it, in input order; records failing the describe checks are never sent."""
        if self.lead_mode and obj is CrmObject.PERSON:
            # Lead mode: each person fills or becomes a Lead of its own (`_lead_person`), which no collection does.
            return [self._create_or_error(obj, fields, parent_id) for fields in records]
        sobject = self.names[obj]
        describe = self.describe(sobject)
        results: list[CrmRecord | CrmError | None] = []
        to_send: list[tuple[int, dict[str, Any]]] = []
        for index, fields in enumerate(records[:200]):
            try:
                body = check_write(describe, {**fields, **self._links(obj, parent_id, None)}, creating=True)
            except CrmRejected as exc:
                results.append(exc)
                continue
            results.append(None)
            to_send.append((index, body))
        if to_send:
            answer = self.client.request(
                f"{sobject.lower()}.create_many", "POST", "composite/sobjects",
                json_body={"allOrNone": False, "records": [{"attributes": {"type": sobject}, **b} for _, b in to_send]},
            )
            if not isinstance(answer, list) or len(answer) != len(to_send):
                raise CrmUnavailable("Salesforce collection answer does not match the records sent")
            for (index, body), result in zip(to_send, answer, strict=True):
                if isinstance(result, Mapping) and result.get("success") and result.get("id"):
                    results[index] = self._written(obj, str(result["id"]), body)
                else:
                    errors = result.get("errors") if isinstance(result, Mapping) else None
                    results[index] = translate(f"{sobject.lower()}.create_many", 400, errors)
        drifted = [i for i, r in enumerate(results) if isinstance(r, CrmFieldUnknown)]
        gone: list[str] = []
        if drifted:  # schema drift: read the describe again and create those records without the deleted fields
            self.refresh_metadata(obj)
            fresh = self.describe(sobject)
            gone = list(dict.fromkeys(n for i in drifted for n in records[i] if fresh.field(n) is None))
            for i in drifted if gone else []:
                results[i] = self._create_or_error(obj, {k: v for k, v in records[i].items() if k not in gone},
                                                   parent_id)  # fmt: skip
        self._note_skipped_fields(gone)
        return [r for r in results if r is not None]

    def can_create_together(self, records: Sequence[NewRecord]) -> bool:
        """One composite request takes 25 records. Lead mode: a new Lead with its (one) person, one record."""
        if self.lead_mode:
            return [r.obj for r in records] == [CrmObject.COMPANY, CrmObject.PERSON]
        return 0 < len(records) <= MAX_SUBREQUESTS

    def can_write_together(self, records: Sequence[RecordWrite]) -> bool:
        """A graph takes 500 records, new and changed. Lead mode: only a new Lead with its person (a Lead's changes
        may land on the Account it was converted into, which the lead mode's own update path knows)."""
        if self.lead_mode:
            news = [r for r in records if isinstance(r, NewRecord)]
            return len(news) == len(records) and self.can_create_together(news)
        return 0 < len(records) <= MAX_GRAPH_NODES

    def create_together(self, records: Sequence[RecordWrite]) -> dict[str, CrmRecord]:
        """All or none in one `POST /composite` (allOrNone). Each record is checked against its describe first (a
        refusal then sends nothing); a refusal by Salesforce rolls the whole request back. Either error names the
        record (`details.record`). A field deleted in the org meanwhile is left out on a second try and reported as
        skipped, as `create` does. Changes of existing records (`RecordUpdate`) may be among the records."""
        try:
            return self._create_together(records)
        except CrmRejected as exc:
            obj = self._forget_refused_describe(records, exc)  # a refusal may come from fields an admin just changed
            gone = self._fields_gone(records, obj) if obj is not None and isinstance(exc, CrmFieldUnknown) else []
            if obj is None or not gone:
                raise
        created = self._create_together(_without(records, obj, gone))
        self._note_skipped_fields(gone)
        return created

    def _fields_gone(self, records: Sequence[RecordWrite], obj: CrmObject) -> list[str]:
        """The fields the records of `obj` name that its describe (read again by the caller) lacks: deleted in the org
        since the describe was read."""
        fresh = self.describe(self.names[obj])
        gone = list(dict.fromkeys(n for r in records if r.obj is obj for n in r.fields if fresh.field(n) is None))
        if gone:
            log.info("salesforce %s: fields deleted in the org are left out: %s", self.names[obj], gone)
        return gone

    def _create_together(self, records: Sequence[RecordWrite]) -> dict[str, CrmRecord]:
        if self.lead_mode:
            news = [r for r in records if isinstance(r, NewRecord)]
            if len(news) != len(records):
                raise ValueError("lead mode writes only new records together")
            if len(news) == 1:
                return {news[0].ref: self._create(news[0].obj, news[0].fields)}
            return self._new_lead_with_person(news[0], news[1])
        parts = self._subrequests(records)
        request = composite_body(self.client.api_version, parts)
        ids = written_ids(self.client.request("composite.create", "POST", "composite", json_body=request), parts)
        self._note_skipped_fields([])
        return self._created(records, parts, ids)

    def write_batches_together(
        self, batches: Sequence[Sequence[RecordWrite]]
    ) -> list[dict[str, CrmRecord] | CrmError]:
        """One `POST /composite/graph` per 75 batches (500 records): a graph per batch, each all or none. A batch
        the describe refuses is never sent; one refused for a field deleted in the org meanwhile is sent once more
        without it (in one more graph request for all such batches) and the field is reported as skipped. Lead mode:
        each batch is one Lead (one POST)."""
        if self.lead_mode:
            return [self._created_or_error(batch) for batch in batches]
        results = self._write_graphs(dict(enumerate(batches)))
        refreshed: set[CrmObject] = set()
        again: dict[int, list[RecordWrite]] = {}
        gone_anywhere: list[str] = []
        for index, refusal in results.items():
            obj = self._refused_object(batches[index], refusal) if isinstance(refusal, CrmFieldUnknown) else None
            if obj is None:
                continue
            if obj not in refreshed:  # once per object, however many batches it refused
                self.refresh_metadata(obj)
                refreshed.add(obj)
            gone = self._fields_gone(batches[index], obj)
            if gone:
                again[index] = _without(batches[index], obj, gone)
                gone_anywhere += [name for name in gone if name not in gone_anywhere]
        if again:
            results.update(self._write_graphs(again))
        self._note_skipped_fields(gone_anywhere)
        return [results[i] for i in range(len(batches))]

    def _write_graphs(
        self, batches: Mapping[int, Sequence[RecordWrite]]
    ) -> dict[int, dict[str, CrmRecord] | CrmError]:
        """The batches as graphs of as few Composite Graph requests as the limits allow; per batch its records as
        written or the error that rolled it back (a request that fails as a whole fails its batches only)."""
        results: dict[int, dict[str, CrmRecord] | CrmError] = {}
        graphs: dict[int, list[Subrequest]] = {}
        for index, batch in batches.items():
            try:
                graphs[index] = self._subrequests(batch)
            except CrmRejected as exc:
                results[index] = exc
        order = list(graphs)
        for request in graph_requests([graphs[i] for i in order]):
            chunk = {order[i]: graphs[order[i]] for i in request}
            try:
                answer = self.client.request("composite.graph", "POST", "composite/graph",
                                             json_body=graph_body(self.client.api_version, chunk))  # fmt: skip
                outcomes = graph_results(answer, chunk)
            except CrmError as exc:  # this request as a whole (unavailable, limits): its batches only, not earlier ones
                outcomes = dict.fromkeys(chunk, exc)
            for index, outcome in outcomes.items():
                if isinstance(outcome, CrmError):
                    if isinstance(outcome, CrmRejected) and not isinstance(outcome, CrmFieldUnknown):
                        self._forget_refused_describe(batches[index], outcome)
                    results[index] = outcome
                else:
                    results[index] = self._created(batches[index], graphs[index], outcome)
        return results

    def _created_or_error(self, batch: Sequence[RecordWrite]) -> dict[str, CrmRecord] | CrmError:
        try:
            return self.create_together(batch)
        except CrmError as exc:
            return exc

    def _forget_refused_describe(self, records: Sequence[RecordWrite], exc: CrmRejected) -> CrmObject | None:
        """Forget the describe of the refused record's object (the one the refusal names); that object, if any."""
        obj = self._refused_object(records, exc)
        if obj is not None:
            self.refresh_metadata(obj)
        return obj

    def _refused_object(self, records: Sequence[RecordWrite], exc: CrmError) -> CrmObject | None:
        sobject = str(exc.details.get("object") or "")
        return next((r.obj for r in records if self.names[r.obj] == sobject), None)

    def _subrequests(self, records: Sequence[RecordWrite]) -> list[Subrequest]:
        """The records as composite subrequests, each checked against its describe (a refusal names the record)."""
        parts: list[Subrequest] = []
        for record in records:
            sobject = self.names[record.obj]
            label = record.label or record.ref
            changing = isinstance(record, RecordUpdate)
            try:
                body = check_write(self.describe(sobject), record.fields, creating=not changing)
            except CrmRejected as exc:
                problem = [{"errorCode": "FIELD_INTEGRITY_EXCEPTION", "message": exc.reason, "fields": exc.fields}]
                raise refused(Subrequest(record.ref, sobject, {}, label), 400, problem) from None
            if isinstance(record, RecordUpdate):
                parts.append(Subrequest(record.ref, sobject, body, label, record_id=_sf_id(record.crm_id)))
                continue
            body.update(self._links(record.obj, record.parent_id, None) if record.parent_id else {})
            body.update(self._links_to_refs(record))
            parts.append(Subrequest(record.ref, sobject, body, label))
        return parts

    def _created(
        self, records: Sequence[RecordWrite], parts: Sequence[Subrequest], ids: Mapping[str, str]
    ) -> dict[str, CrmRecord]:
        """The records as written, the composite references replaced by the new ids."""
        new_ids = {reference(ref): new_id for ref, new_id in ids.items()}
        created: dict[str, CrmRecord] = {}
        for part, record in zip(parts, records, strict=True):
            body = {k: new_ids.get(v, v) if isinstance(v, str) else v for k, v in part.body.items()}
            created[part.ref] = self._written(record.obj, ids[part.ref], body)
        return created

    def _new_lead_with_person(self, company: NewRecord, person: NewRecord) -> dict[str, CrmRecord]:
        """Lead mode: one Lead holds the company and its first person (the company's values win where both map the
        same Lead field, e.g. Phone)."""
        try:
            lead = self._create(CrmObject.COMPANY, {**_person_part(person.fields), **company.fields})
        except CrmRejected as exc:
            exc.details.update({"record": company.ref, "object": "Lead"})
            raise
        as_person = lead.model_copy(update={"object": CrmObject.PERSON, "parent_id": lead.id})
        return {company.ref: lead, person.ref: as_person}

    def _links_to_refs(self, record: NewRecord) -> dict[str, Any]:
        """`_links` for records of the same batch: the parent's and person's ids as composite references."""
        links: dict[str, Any] = {}
        if record.parent_ref:
            if record.obj in (CrmObject.PERSON, CrmObject.DEAL):
                links["AccountId"] = reference(record.parent_ref)
            elif record.obj is CrmObject.ACTIVITY:
                links["WhatId"] = reference(record.parent_ref)
        if record.person_ref and record.obj is CrmObject.ACTIVITY:
            links["WhoId"] = reference(record.person_ref)
        return links

    def _create_or_error(
        self, obj: CrmObject, fields: Mapping[str, Any], parent_id: str | None
    ) -> CrmRecord | CrmError:
        try:
            return self.create(obj, fields, parent_id=parent_id)
        except CrmError as exc:
            return exc

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        sobject = self._sobject_of(obj, record_id)
        with self._forget_describe_on_rejection(sobject):
            try:
                return self._update(obj, record_id, fields)
            except CrmFieldUnknown as exc:
                kept = self._without_gone_fields(obj, fields, exc, sobject)
                updated = self._update(obj, record_id, kept)
                self._note_skipped_fields(self._gone)
                return updated

    def _update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        sobject = self._sobject_of(obj, record_id)
        left_out: list[str] = []
        if sobject in TARGET_MAPS and self.lead_mode:
            fields, left_out = self._on_converted(obj, sobject, fields)
        body = check_write(self.describe(sobject), fields, creating=False)
        if body:
            try:
                self.client.request(f"{sobject.lower()}.update", "PATCH", f"sobjects/{sobject}/{_sf_id(record_id)}",
                                    json_body=body)  # fmt: skip
            except CrmRejected as exc:
                if sobject == "Lead" and "CANNOT_UPDATE_CONVERTED_LEAD" in exc.message:
                    raise LeadConverted(
                        f"Lead {record_id} was converted in Salesforce: {exc.reason}",
                        details={"hint": "The next sync links the app lead to the Account and Contact it became; "
                                 "export it again after that (a lead event does it at once)."},
                    ) from exc
                raise
        self._note_skipped_fields(left_out)  # describe-checked: a field Salesforce would refuse fails the write
        return self._written(obj, _sf_id(record_id), self._as_lead(sobject, body))

    def _on_converted(
        self, obj: CrmObject, sobject: str, fields: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Lead-named values for a converted Lead's Account/Contact through the standard lead field mapping, and the
        fields it has no place for, to report as skipped. The Lead-only fields leadbridge fills itself (its status:
        the Opportunity's stage carries the pipeline now) are left out silently."""
        values, unmapped = to_target(sobject, fields)
        return values, [name for name in unmapped if name not in self._lead_only_fields(obj)]

    def _lead_only_fields(self, obj: CrmObject) -> set[str]:
        """Lead fields leadbridge fills itself that a converted Account/Contact has no counterpart for."""
        status = {"Status"}
        return status | ({"FirstName", "LastName", "Email", "Title", "MobilePhone", "Salutation"}
                         if obj is CrmObject.COMPANY else {"Company"})  # fmt: skip

    def delete(self, obj: CrmObject, record_id: str) -> None:
        sobject = self._sobject_of(obj, record_id)
        self.client.request(f"{sobject.lower()}.delete", "DELETE", f"sobjects/{sobject}/{_sf_id(record_id)}")

    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
        org_nr_field: str | None = None,
        domain_field: str | None = None,
    ) -> list[CrmRecord]:
        """`org_nr_field`/`domain_field` (the settings' `matching`): None searches `AccountNumber` on Account (a Lead
        has no standard org-number field, so none) and `Website`; a named field must be in the describe and filterable
        as text, else 422 naming `matching.<key>` before any query. An e-mail field matches the host after `@`; Lead's
        `Email` is searched for the domain too."""
        [found] = self.search_companies_many([CompanySearch(org_nr, name, domain, limit, org_nr_field, domain_field)])
        return found

    def search_companies_many(self, searches: Sequence[CompanySearch]) -> list[list[CrmRecord]]:
        """One SOQL query for all the searches (their conditions OR-ed), each search's candidates picked from the
        rows by its own conditions (as SOQL compares: case-insensitive). Searches must share their fields."""
        if not searches:
            return []
        fields = {(s.org_nr_field, s.domain_field) for s in searches}
        if len(fields) != 1:
            raise ValueError("search_companies_many: the searches must share org_nr_field and domain_field")
        sobject = self.names[CrmObject.COMPANY]
        (org_nr_field, domain_field), = fields
        plan = CompanySearchPlan.of(self.describe(sobject), org_nr_field, domain_field, lead_mode=self.lead_mode)
        groups = [plan.conditions(s.org_nr, s.name, s.domain) for s in searches]
        where = [f"({' OR '.join(g)})" for g in groups if g]
        if not where:
            return [[] for _ in searches]
        extra = " AND IsConverted = false" if self.lead_mode else ""
        limit = min(MAX_SEARCH_ROWS, sum(s.limit for s, g in zip(searches, groups, strict=True) if g))
        # Values reach SOQL only through soql_string/soql_like; names come from describe.
        soql = (f"SELECT {', '.join(plan.select)} FROM {sobject} WHERE ({' OR '.join(where)}){extra} "  # noqa: S608
                f"LIMIT {int(limit)}")  # fmt: skip
        rows = self._query_all("company.search", soql)
        if len(searches) > 1 and len(rows) >= limit:
            # The rows hit the limit: one broad search may have crowded out another's match. Each searches alone.
            return [self.search_companies_many([s])[0] for s in searches]
        return [[self._record(CrmObject.COMPANY, r) for r in rows if plan.matches(r, s.org_nr, s.name, s.domain)]
                [: s.limit] if group else [] for s, group in zip(searches, groups, strict=True)]  # fmt: skip

    def list_persons(self, company_id: str) -> list[CrmRecord]:
        if self.lead_mode and self._sobject_of(CrmObject.COMPANY, company_id) == "Lead":
            # A Lead holds one person: itself, once it has a real name.
            lead = self.get(CrmObject.COMPANY, company_id)
            if lead.fields.get("LastName") in (None, PLACEHOLDER_LAST_NAME):
                return []
            return [lead.model_copy(update={"object": CrmObject.PERSON, "parent_id": lead.id})]
        rows = self._rows_by_id("person.list", "Contact", "AccountId", [company_id], order="CreatedDate")
        return [self._record(CrmObject.PERSON, self._as_lead("Contact", raw)) for _, raw in rows]

    def get_many(self, obj: CrmObject, record_ids: Sequence[str]) -> dict[str, CrmRecord]:
        """`SupportsReadMany`: one query per 200 ids (`Id IN (...)`, every field, as `get` reads them), by the ids
        as given; a deleted or unknown id is absent. Lead mode's companies and persons (a Lead, or the Account or
        Contact it became, by the id's prefix): each as `get`."""
        ids = list(dict.fromkeys(record_ids))
        if self.lead_mode and obj in (CrmObject.COMPANY, CrmObject.PERSON):
            return {i: record for i in ids if (record := self._get_or_none(obj, i)) is not None}
        sobject = self.names[obj]
        found: dict[str, CrmRecord] = {}
        for given, raw in self._rows_by_id(f"{obj.value}.get_many", sobject, "Id", ids):
            found[given] = self._record(obj, raw)
        return found

    def _get_or_none(self, obj: CrmObject, record_id: str) -> CrmRecord | None:
        try:
            return self.get(obj, record_id)
        except CrmNotFound:
            return None

    def list_persons_many(self, company_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """`SupportsPersonsOfMany`: one query per 200 Accounts (`AccountId IN (...)`). Lead mode: each as
        `list_persons` (a Lead's person is the Lead itself)."""
        ids = list(dict.fromkeys(company_ids))
        if self.lead_mode:
            return {company_id: self.list_persons(company_id) for company_id in ids}
        found: dict[str, list[CrmRecord]] = {company_id: [] for company_id in ids}
        for given, raw in self._rows_by_id("person.list", "Contact", "AccountId", ids, order="CreatedDate"):
            found[given].append(self._record(CrmObject.PERSON, raw))
        return found

    def _rows_by_id(
        self, operation: str, sobject: str, id_field: str, ids: Sequence[str], *, order: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every field of the `sobject` rows whose `id_field` is one of `ids`, one query per `ROWS_BY_ID` ids, each
        row with the id it was asked by (a 15-character id finds its 18-character form)."""
        asked = {_sf_id(i)[:15]: i for i in ids}
        for start in range(0, len(ids), ROWS_BY_ID):
            chunk = ", ".join(soql_string(_sf_id(i)) for i in ids[start:start + ROWS_BY_ID])
            soql = (f"SELECT {self._select(sobject)} FROM {sobject} WHERE {id_field} IN ({chunk})"  # noqa: S608
                    + (f" ORDER BY {order}" if order else ""))  # fmt: skip
            for raw in self._query_all(operation, soql):
                given = asked.get(str(raw.get(id_field) or "")[:15])
                if given is not None:
                    yield given, raw

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        sobject = self._sobject_of(obj, record_id)
        return f"{self.client.instance_url}/lightning/r/{sobject}/{quote(str(record_id))}/view"

    # --- incremental reads ----------------------------------------------------------------------------------------

    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        """One page of `obj`'s records changed at or after `since`. Lead mode reads companies and persons in two
        phases: the Leads (a Lead without a real name is no person; a converted one says what it became in
        `converted_into`), then the Accounts / Contacts converted Leads became, under the Lead field names (page tokens
        `url:` and `converted:`)."""
        sobject = self.names[obj]
        converted = self.lead_mode and obj in (CrmObject.COMPANY, CrmObject.PERSON)
        phase_two = converted and page_token is not None and page_token.startswith("converted:")
        if phase_two:
            sobject = "Account" if obj is CrmObject.COMPANY else "Contact"
        if page_token and page_token != "converted:":
            url = page_token.removeprefix("converted:").removeprefix("url:")
            if not url.startswith("/services/data/"):
                raise InvalidCursor(f"Not a Salesforce page token: {page_token[:60]!r}")
            page = self.client.request(f"{sobject.lower()}.changes", "GET", url)
        else:
            where = f"SystemModstamp >= {soql_datetime(since)}" + (self._lead_mode_filter(obj, sobject)
                                                                    if converted else "")  # fmt: skip
            soql = f"SELECT {self._select(sobject)} FROM {sobject} WHERE {where} ORDER BY SystemModstamp ASC, Id ASC"  # noqa: S608
            page = self.client.request(f"{sobject.lower()}.changes", "GET", "query", params={"q": soql})
        rows, next_url = _page(page)
        prefix = "converted:" if phase_two else "url:"
        following = f"{prefix}{next_url}" if next_url else ("converted:" if converted and not phase_two else None)
        next_token = check_next_token("Salesforce", f"{sobject.lower()}.changes", page_token, following)
        records = [self._record(obj, self._as_lead(sobject, r)) for r in rows]
        return ChangePage(records=records, next_page_token=next_token)

    def _lead_mode_filter(self, obj: CrmObject, sobject: str) -> str:
        if sobject == "Lead":
            # Converted Leads too: they say what they became (`converted_into`), so the app record follows them.
            return f" AND LastName != {soql_string(PLACEHOLDER_LAST_NAME)}" if obj is CrmObject.PERSON else ""
        return f" AND {'Id' if sobject == 'Account' else 'AccountId'} IN ({CONVERTED_ACCOUNTS})"

    def deleted_since(self, obj: CrmObject, since: datetime) -> list[str]:
        now = datetime.now(UTC)
        start = max(since if since.tzinfo else since.replace(tzinfo=UTC), now - DELETED_WINDOW + timedelta(minutes=1))
        if start >= now:
            return []
        deleted: list[str] = []
        for sobject in self._sobjects_read(obj):
            answer = self.client.request(
                f"{sobject.lower()}.deleted", "GET", f"sobjects/{sobject}/deleted/",
                params={"start": soql_datetime(start), "end": soql_datetime(now)},
            )  # fmt: skip
            items = answer.get("deletedRecords") if isinstance(answer, Mapping) else None
            deleted += [str(i["id"]) for i in items or [] if isinstance(i, Mapping) and i.get("id")]
        return deleted

    def all_ids(self, obj: CrmObject) -> Iterable[str]:
        """Every live id; in Lead mode the Leads (converted ones too: they are not gone, they moved) and the
        Accounts/Contacts converted Leads became."""
        for sobject in self._sobjects_read(obj):
            converted = self.lead_mode and sobject != self.names[obj]  # a converted Lead's Account / Contact
            where = self._lead_mode_filter(obj, sobject).replace(" AND ", " WHERE ", 1) if converted else ""
            soql = f"SELECT Id FROM {sobject}{where}"  # noqa: S608 — fixed object names
            yield from (str(r["Id"]) for r in self._query_iter(f"{sobject.lower()}.ids", soql) if r.get("Id"))

    def _sobjects_read(self, obj: CrmObject) -> tuple[str, ...]:
        if self.lead_mode and obj is CrmObject.COMPANY:
            return ("Lead", "Account")
        if self.lead_mode and obj is CrmObject.PERSON:
            return ("Lead", "Contact")
        return (self.names[obj],)

    # --- lead conversion (Lead mode) ------------------------------------------------------------------------------

    def keeps_companies_as_leads(self) -> bool:
        return self.lead_mode

    def is_unconverted_lead(self, company_id: str) -> bool:
        return self.lead_mode and self._sobject_of(CrmObject.COMPANY, company_id) == "Lead"

    def convert(self, company_id: str, *, create_deal: bool, deal_name: str | None) -> Converted:
        """`convertLead()` through the SOAP API with the org's converted Lead status. A Lead converted already (a
        retry after a lost answer, or converted in Salesforce) answers what it became."""
        lead_id = _sf_id(company_id)
        status = next((s.id for s in sorted(self.stages(), key=lambda s: s.rank)
                       if s.group == "status" and s.kind is StageKind.WON), None)  # fmt: skip
        if status is None:
            raise CrmRejected("The org has no converted Lead status (LeadStatus.IsConverted), so Leads cannot be "
                              "converted", fields=["Status"])  # fmt: skip
        try:
            done = self._soap_convert(lead_id, status, create_deal=create_deal, deal_name=deal_name)
        except CrmRejected as exc:
            if "CANNOT_UPDATE_CONVERTED_LEAD" not in exc.details.get("status_codes", []):
                raise
            done = self._converted_already(lead_id)
        return Converted(company_id=done.account_id, person_id=done.contact_id, deal_id=done.opportunity_id)

    def _soap_convert(self, lead_id: str, status: str, *, create_deal: bool, deal_name: str | None) -> Conversion:
        transport = self.client.transport
        sender = transport.sender
        # A SOAP fault is an HTTP 500: answered, not transient; only timeouts and 502-504 are worth retrying.
        policy = replace(sender.policy, retry_statuses=sender.policy.retry_statuses - {500})
        soap = RetryingSender(sender.http, policy=policy, calls=sender.calls, sleep=sender.sleep, rand=sender.rand,
                              service="Salesforce")  # fmt: skip
        url = f"{self.client.instance_url}/services/Soap/u/{self.client.api_version.removeprefix('v')}"
        token = transport.tokens.access_token()
        for attempt in (1, 2):
            envelope = convert_lead_envelope(token, lead_id, status, opportunity_name=deal_name,
                                             create_opportunity=create_deal)  # fmt: skip
            request = sender.http.build_request("POST", url, content=envelope,
                                                headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'})
            response = soap.send("lead.convert", request)
            try:
                return parse_conversion(response.status_code, response.content)
            except NeedsReauth:
                if attempt == 2:
                    raise
                token = transport.tokens.refresh_after_unauthorized(token)
        raise AssertionError("unreachable")

    def _converted_already(self, lead_id: str) -> Conversion:
        raw = self.client.request("lead.get", "GET", f"sobjects/Lead/{lead_id}",
                                  params={"fields": "IsConverted,ConvertedAccountId,ConvertedContactId,"
                                                    "ConvertedOpportunityId"})  # fmt: skip
        if not isinstance(raw, Mapping) or raw.get("IsConverted") is not True:
            raise CrmUnavailable(f"Salesforce refused to convert Lead {lead_id} and does not show it converted")
        account, contact = raw.get("ConvertedAccountId"), raw.get("ConvertedContactId")
        if not account or not contact:
            raise CrmUnavailable(f"Salesforce shows Lead {lead_id} converted without its Account and Contact")
        opportunity = raw.get("ConvertedOpportunityId")
        return Conversion(lead_id, str(account), str(contact), str(opportunity) if opportunity else None)

    # --- webhooks -------------------------------------------------------------------------------------------------

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        """Outbound Messages cannot be created through the REST API: an admin adds one per object in Setup (a
        Flow/workflow rule with an Outbound Message action whose Endpoint URL is `url`). The registration says so;
        the URL carries the connection's secret key, and the intake checks the OrganizationId of every message."""
        objects = events or list(dict.fromkeys(self.names[o] for o in (CrmObject.COMPANY, CrmObject.PERSON,
                                                                      CrmObject.DEAL)))  # fmt: skip
        return WebhookRegistration(
            id=MANUAL_WEBHOOK_ID,
            url=url,
            events=objects,
            active=False,
            state="ManualSetupRequired",
            setup_steps=[
                "In Salesforce Setup, open Flows and create a record-triggered Flow for each of these objects: "
                f"{', '.join(objects)}; trigger it when a record is created or updated.",
                "Add an Outbound Message action to each Flow. Endpoint URL: the target URL shown here (it contains "
                "this connection's secret key: do not share it). Send at least the Id field; leadbridge reads the "
                "current record itself.",
                "Save and activate the Flows. Salesforce sends each change within seconds; the scheduled sync still "
                "brings anything missed.",
            ],
        )

    def list_webhooks(self) -> list[WebhookRegistration]:
        # Outbound Message actions are metadata, not visible through the REST data API: nothing to check or repair.
        raise NotImplementedError("Salesforce Outbound Messages cannot be listed through the REST API")

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration:
        raise CrmRejected("Salesforce Outbound Messages are switched on in Setup, not through the API")

    def unregister_webhook(self, webhook_id: str) -> None:
        return None  # nothing to remove through the API; messages to a disconnected key are acknowledged and dropped

    # --- helpers --------------------------------------------------------------------------------------------------

    def _links(self, obj: CrmObject, parent_id: str | None, person_id: str | None) -> dict[str, Any]:
        links: dict[str, Any] = {}
        if parent_id:
            # Lead mode: the parent is a Lead until it is converted, then an Account (its id's prefix tells).
            parent_is_lead = self.lead_mode and self.is_unconverted_lead(parent_id)
            if obj in (CrmObject.PERSON, CrmObject.DEAL) and not parent_is_lead:
                links["AccountId"] = _sf_id(parent_id)
            elif obj is CrmObject.ACTIVITY:
                links["WhoId" if parent_is_lead else "WhatId"] = _sf_id(parent_id)
        if person_id and obj is CrmObject.ACTIVITY:
            links["WhoId"] = _sf_id(person_id)
        return links

    def _lead_person(self, lead_id: str, fields: dict[str, Any]) -> CrmRecord:
        """Lead mode: a Lead holds one person; writing "a person under it" writes the person's fields onto the Lead.
        (Further contacts of the app lead wait for the conversion; see `leadbridge.crm.conversion`.)"""
        person = _person_part(fields)
        if not person.get("LastName"):
            person.pop("LastName", None)
        updated = self.update(CrmObject.COMPANY, lead_id, person)
        return updated.model_copy(update={"object": CrmObject.PERSON, "parent_id": lead_id})

    def _select(self, sobject: str) -> str:
        """Every field of `sobject` (its describe's), for a SOQL SELECT."""
        return ", ".join(self.describe(sobject).fields)

    def _written(self, obj: CrmObject, record_id: str, body: Mapping[str, Any]) -> CrmRecord:
        """The record as written (no read-back: it would cost one API call per write)."""
        describe = self.describe(self.names[obj])
        fields = {k: decode(describe.field(k), v) for k, v in body.items()}
        parent = fields.get("AccountId") or (fields.get("WhatId") if obj is CrmObject.ACTIVITY else None)
        return CrmRecord(object=obj, id=record_id, fields=fields, parent_id=str(parent) if parent else None,
                         person_id=str(fields["WhoId"]) if fields.get("WhoId") else None,
                         url=self.record_url(obj, record_id))

    def _record(self, obj: CrmObject, raw: Any) -> CrmRecord:
        if not isinstance(raw, Mapping) or not raw.get("Id"):
            raise CrmUnavailable(f"Salesforce returned no {self.names[obj]} record")
        fields = self.describe(self.names[obj]).decode_row(raw)
        parent = raw.get("AccountId") if obj is not CrmObject.ACTIVITY else (raw.get("WhatId") or raw.get("AccountId"))
        if obj is CrmObject.PERSON and self._sobject_of(obj, str(raw["Id"])) == "Lead":
            # Lead mode: an unconverted Lead is its own company, as the export made it (`_new_lead_with_person`);
            # the inbound filter holds the person back with that company.
            parent = raw["Id"]
        updated = fields.get("SystemModstamp") or fields.get("LastModifiedDate")
        created = fields.get("CreatedDate")
        return CrmRecord(
            object=obj,
            id=str(raw["Id"]),
            fields=fields,
            parent_id=str(parent) if parent else None,
            person_id=str(raw["WhoId"]) if obj is CrmObject.ACTIVITY and raw.get("WhoId") else None,
            updated_at=updated if isinstance(updated, datetime) else None,
            created_at=created if isinstance(created, datetime) else None,
            url=self.record_url(obj, str(raw["Id"])),
            stage_kind=_stage_kind(raw.get("IsClosed"), raw.get("IsWon")) if obj is CrmObject.DEAL else None,
            modified_by_us=_same_user(raw.get("LastModifiedById"), self.context.crm_user_id),
            converted_into=_converted_into(raw) if self.lead_mode else {},
        )

    def _query_iter(self, op: str, soql: str) -> Iterator[dict[str, Any]]:
        def fetch(next_url: str | None) -> Page[dict[str, Any], str]:
            if next_url is None:
                return Page(*_page(self.client.request(op, "GET", "query", params={"q": soql})))
            return Page(*_page(self.client.request(op, "GET", next_url)))

        for rows in pages(fetch, crm="Salesforce", op=op):
            yield from rows

    def _query_all(self, op: str, soql: str) -> list[dict[str, Any]]:
        return list(self._query_iter(op, soql))


def _converted_into(raw: Mapping[str, Any]) -> dict[CrmObject, str]:
    """A converted Lead's Account, Contact and Opportunity."""
    if raw.get("IsConverted") is not True:
        return {}
    became = {CrmObject.COMPANY: raw.get("ConvertedAccountId"), CrmObject.PERSON: raw.get("ConvertedContactId"),
              CrmObject.DEAL: raw.get("ConvertedOpportunityId")}  # fmt: skip
    return {obj: str(crm_id) for obj, crm_id in became.items() if crm_id}


def _person_part(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a person that a Lead holds: its name, contact fields and custom fields."""
    return {k: v for k, v in fields.items() if k in LEAD_PERSON_FIELDS or k.endswith("__c")}


def _stage_kind(is_closed: Any, is_won: Any) -> StageKind:
    if is_closed is True or str(is_closed).lower() == "true":
        return StageKind.WON if (is_won is True or str(is_won).lower() == "true") else StageKind.LOST
    return StageKind.OPEN


def _same_user(last_modified_by: Any, our_user: str | None) -> bool | None:
    """Whether the record's last writer is the connection's user (ids compared in their 15-character form); None
    when either is unknown."""
    if not last_modified_by or not our_user:
        return None
    return str(last_modified_by)[:15] == our_user[:15]


def _page(answer: Any) -> tuple[list[dict[str, Any]], str | None]:
    if not isinstance(answer, Mapping) or not isinstance(answer.get("records"), list):
        raise CrmUnavailable("Salesforce query answer has no records list")
    rows = [r for r in answer["records"] if isinstance(r, dict)]
    next_url = answer.get("nextRecordsUrl") if not answer.get("done", True) else None
    return rows, str(next_url) if next_url else None


def _sf_id(record_id: str) -> str:
    value = str(record_id).strip()
    if len(value) not in (15, 18) or not value.isalnum():
        raise CrmRejected(f"Salesforce ids are 15 or 18 letters and digits, not {record_id!r}")
    return value


def _without(records: Sequence[RecordWrite], obj: CrmObject, gone: Sequence[str]) -> list[RecordWrite]:
    """The records, those of `obj` without the named fields (deleted in the org since the describe was read)."""
    return [replace(r, fields={k: v for k, v in r.fields.items() if k not in gone}) if r.obj is obj else r
            for r in records]  # fmt: skip
