"""`Connector` for one HubSpot account (hub id), CRM API v3 objects and v4 associations (reference §2-§5).

Objects: company = `companies`, person = `contacts`, deal = `deals`, activity = `tasks`. Field names are the internal
property names; every value travels as a string and is converted by its property's type (`properties.py`). The
properties API (cached per connector, and across an export's connectors through `metadata_cache`) drives `fields()`
and the checks made before every write: a write that would be refused fails with `CrmRejected` naming the properties,
and nothing is sent.

Links: a person's, deal's and task's company and a task's (or deal's) contact are associations, written inline in the
create body (one request: the record and its links, all or nothing) with the type ids of the portal's labels endpoint
(`GET /crm/v4/associations/{from}/{to}/labels`, read once per pair and connector, §5's defaults when it cannot be
read), and read back per page of records with one batch association read (`parent_id`, `person_id`).

Reads go through bodies, never through URLs that grow with the portal's property count: a record by id is a
one-input `batch/read` with the object's property names, searches name them in the search body.

Writes of more than one record use the batch endpoints (≤ 100 inputs per call): `create_many` creates a company's
contacts with their associations in one `batch/create` per 100, each result matched to its input by
`objectWriteTraceId`, never by position. HubSpot has nothing all-or-none, so this connector does not offer
`SupportsWriteTogether`: the export creates a new company and then its contacts, 2 round trips for a company with up
to 100 contacts. A bulk export's window of leads is written together (`SupportsWriteBatches`): every lead's
companies, then every lead's contacts, one `batch/create` and one `batch/update` per 100 inputs each, and each lead
told what was written and what was refused (`PartlyWritten`).

Incremental reads: search on the modified-date property (`lastmodifieddate` on contacts, `hs_lastmodifieddate`
elsewhere) `GTE since - lookback` (search lags behind writes), sorted ascending, 200 per page, by keyset: each page
is a fresh search from the last instant reached, never an `after` offset (an offset skips a record when one read
before it is edited and moves behind, and cannot pass the 10,000-result cap, §3, §11). A full page gives the records
before its last instant, which comes whole with the next page; an instant with more records than a page is read by
`hs_object_id` (keyset), then the search goes on after it. Each record comes once. The page token is opaque (`hs2.`
+ base64 JSON), bound to the object, the account and the read's `since`, and refused with `InvalidCursor`
otherwise. Deletions: the `archived=true` listing, filtered by `archivedAt`.

Webhooks are the app's (project `webhooks/*-hsmeta.json`: one target URL for every portal, signed with the client
secret), not per account: `register_webhook` registers nothing and describes that subscription.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.hubspot.client import HubSpotClient, translate_body
from leadbridge.crm.hubspot.oauth import APP_BASE
from leadbridge.crm.hubspot.properties import Properties, check_write, decode, parse_datetime
from leadbridge.crm.hubspot.search import FILTERS_PER_SEARCH, GROUPS_PER_SEARCH, MAX_IN_VALUES, CompanySearchPlan
from leadbridge.crm.metadata_cache import MetadataCache
from leadbridge.crm.paging import Page, check_next_token, pages
from leadbridge.crm.reporting import TransportReporting
from leadbridge.crm.search_many import CompanySearch
from leadbridge.crm.together import BatchAnswer, NewRecord, PartlyWritten, RecordWrite
from leadbridge.crm.transport import CrmTransport
from leadbridge.errors import (
    CrmError,
    CrmFieldUnknown,
    CrmNotFound,
    CrmRejected,
    CrmUnavailable,
    InvalidCursor,
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

OBJECTS: dict[CrmObject, str] = {
    CrmObject.COMPANY: "companies",
    CrmObject.PERSON: "contacts",
    CrmObject.DEAL: "deals",
    CrmObject.ACTIVITY: "tasks",
}
LABELS = {"companies": "Companies", "contacts": "Contacts", "deals": "Deals", "tasks": "Tasks"}
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tasks": "0-27"}
MODIFIED = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate", "deals": "hs_lastmodifieddate",
            "tasks": "hs_lastmodifieddate"}  # fmt: skip
# §5's HUBSPOT_DEFINED defaults (primary where there is one); task ids are the commonly used ones (not in §5).
DEFAULT_ASSOCIATION_TYPES = {
    ("contacts", "companies"): 1,
    ("deals", "companies"): 5,
    ("deals", "contacts"): 3,
    ("tasks", "companies"): 192,
    ("tasks", "contacts"): 204,
}
BATCH_MAX = 100  # §2: inputs per batch call
_BATCHED = (CrmObject.COMPANY, CrmObject.PERSON)  # what a bulk export's batches write, in this order (parents first)
SEARCH_PAGE = 200  # §3: results per search page
SEARCH_CAP = 10_000  # §3: results one search query reaches
LIST_PAGE = 100  # list `limit` (a cap of 100 is unconfirmed, §9: 100 is safe either way)
TOKEN_PREFIX = "hs2."  # hs1 tokens paged by offset; a run holding one starts its read again
APP_WEBHOOK_ID = "app"
# What the app's webhooks/*-hsmeta.json subscribes to (helper B's intake reads them).
APP_EVENT_TYPES = [f"{o}.{e}" for o in ("company", "contact", "deal") for e in ("creation", "deletion",
                                                                                  "propertyChange")]  # fmt: skip


class HubSpotConnector(TransportReporting):
    crm = "hubspot"

    def __init__(
        self,
        *,
        context: ConnectionContext,
        client: HubSpotClient,
        app_base: str = APP_BASE,
        webhook_url: str = "",
        lookback: timedelta = timedelta(minutes=2),
        search_page: int = SEARCH_PAGE,
        search_cap: int = SEARCH_CAP,
    ) -> None:
        self.context = context
        self.client = client
        # Record links: the account's own UI host (`app-eu1.hubspot.com` for EU hosting) where the app host is
        # HubSpot's; a configured other host (the sandbox) wins.
        ui_domain = context.extra.get("ui_domain")
        default_host = app_base.rstrip("/") == APP_BASE
        self.app_base = f"https://{ui_domain}" if ui_domain and default_host else app_base.rstrip("/")
        self.webhook_url = webhook_url
        self.lookback = lookback
        self.search_page = search_page
        self.search_cap = search_cap
        self._properties: dict[str, Properties] = {}
        self._association_types: dict[tuple[str, str], int] = {}
        self._stages: list[Stage] | None = None
        self._stage_pipelines: dict[str, str] = {}  # deal stage id -> its pipeline's id
        # Set by the export's composition root: metadata shared by the container's connectors for a few minutes.
        self.metadata_cache: MetadataCache | None = None

    def _transport(self) -> CrmTransport:
        return self.client.transport

    # --- metadata -------------------------------------------------------------------------------------------------

    def objects(self) -> list[CrmObjectInfo]:
        return [CrmObjectInfo(object=obj, crm_name=name, label=LABELS[name]) for obj, name in OBJECTS.items()]

    def _metadata_key(self) -> tuple[str, ...]:
        # The account and the API host, not only the tenant: a reconnect to another hub never sees these.
        return (self.crm, self.context.tenant_id, self.context.account_id, self.client.api_base)

    def _cached(self, key: str, load: Any) -> Any:
        cache = self.metadata_cache  # `is None`, not falsiness: an empty cache has length 0
        return load() if cache is None else cache.get((*self._metadata_key(), key), load)

    def properties(self, name: str) -> Properties:
        """The object's properties: once per connector, and through `metadata_cache` when set."""
        if name not in self._properties:

            def load() -> Properties:
                raw = self.client.request(f"{name}.properties", "GET", f"/crm/v3/properties/{name}")
                props = Properties.of(name, raw)
                if not props.by_name:
                    raise CrmUnavailable(f"HubSpot listed no properties of {name}")
                return props

            self._properties[name] = self._cached(name, load)
        return self._properties[name]

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        return self.properties(OBJECTS[obj]).infos()

    def refresh_metadata(self, obj: CrmObject) -> None:
        """Forget the object's properties here and in the shared cache: the next read asks HubSpot."""
        name = OBJECTS[obj]
        self._properties.pop(name, None)
        if self.metadata_cache is not None:
            self.metadata_cache.invalidate((*self._metadata_key(), name))

    def stages(self) -> list[Stage]:
        """Every pipeline's deal stages; closed won/lost from the stage metadata (`isClosed` with probability 1.0 /
        0.0, strings). Stage ids are unique across a portal's pipelines; a second pipeline's stages are named with
        the pipeline's label."""
        if self._stages is None:
            answer = self.client.request("pipeline.list", "GET", "/crm/v3/pipelines/deals")
            pipelines = [p for p in _results(answer) if not p.get("archived")]
            pipelines.sort(key=lambda p: int(p.get("displayOrder") or 0))
            stages: list[Stage] = []
            for index, pipeline in enumerate(pipelines):
                for stage in sorted((s for s in pipeline.get("stages") or [] if isinstance(s, Mapping)
                                     and not s.get("archived")), key=lambda s: int(s.get("displayOrder") or 0)):
                    meta = _mapping(stage.get("metadata"))
                    probability = _float(meta.get("probability"))
                    label = str(stage.get("label") or stage["id"])
                    self._stage_pipelines[str(stage["id"])] = str(pipeline.get("id"))
                    stages.append(Stage(
                        id=str(stage["id"]),
                        name=label if index == 0 else f"{pipeline.get('label') or pipeline.get('id')}: {label}",
                        kind=_stage_kind(meta.get("isClosed"), probability),
                        probability=round(probability * 100) if probability is not None else None,
                        rank=index * 1000 + int(stage.get("displayOrder") or 0),
                        group="stage",
                    ))  # fmt: skip
            self._stages = stages
        return self._stages

    def users(self) -> list[CrmUser]:
        """Owners, by their `id` (what `hubspot_owner_id` takes; never `userId`)."""

        def fetch(after: str | None) -> Page[dict[str, Any], str]:
            params = {"limit": str(LIST_PAGE), **({"after": after} if after else {})}
            answer = self.client.request("owner.list", "GET", "/crm/v3/owners", params=params)
            return Page(_results(answer), _next_after(answer))

        users: list[CrmUser] = []
        for page in pages(fetch, crm="HubSpot", op="owner.list"):
            for owner in page:
                if not owner.get("id"):
                    continue
                name = " ".join(str(owner.get(k) or "") for k in ("firstName", "lastName")).strip()
                users.append(CrmUser(id=str(owner["id"]), name=name or str(owner.get("email") or owner["id"]),
                                     email=owner.get("email"), active=not owner.get("archived", False)))
        return users

    def association_type(self, from_name: str, to_name: str) -> int:
        """The portal's HUBSPOT_DEFINED type id from one object to another: the primary one where there is one."""
        key = (from_name, to_name)
        if key not in self._association_types:

            def load() -> int:
                try:
                    answer = self.client.request("association.labels", "GET",
                                                 f"/crm/v4/associations/{from_name}/{to_name}/labels")
                except (CrmRejected, CrmNotFound) as exc:
                    log.info("hubspot association labels %s→%s unreadable (%s); using the default", from_name,
                             to_name, exc.message)
                    return DEFAULT_ASSOCIATION_TYPES[key]
                found = [r for r in _results(answer) if r.get("category") == "HUBSPOT_DEFINED" and r.get("typeId")]
                primary = [r for r in found if str(r.get("label") or "").lower() == "primary"]
                chosen = (primary or [r for r in found if not r.get("label")] or found)
                return int(chosen[0]["typeId"]) if chosen else DEFAULT_ASSOCIATION_TYPES[key]

            self._association_types[key] = self._cached(f"association:{from_name}:{to_name}", load)
        return self._association_types[key]

    # --- records --------------------------------------------------------------------------------------------------

    def get(self, obj: CrmObject, record_id: str) -> CrmRecord:
        name = OBJECTS[obj]
        answer = self.client.request(
            f"{name}.get", "POST", f"/crm/v3/objects/{name}/batch/read",
            json_body={"inputs": [{"id": _hs_id(record_id)}], "properties": list(self.properties(name).by_name)},
        )  # fmt: skip
        for error in _errors(answer):  # a 207 item: OBJECT_NOT_FOUND for an unknown or archived id
            raise translate_body(f"{name}.get", 400, error)
        found = [r for r in _results(answer) if str(r.get("id")) == _hs_id(record_id)]
        if not found:
            raise CrmNotFound(f"HubSpot {name} {record_id} not found")
        return self._with_links(obj, [self._record(obj, found[0])])[0]

    def get_many(self, obj: CrmObject, record_ids: Sequence[str]) -> dict[str, CrmRecord]:
        """`SupportsReadMany`: the records of `record_ids` that exist, by id, one `batch/read` per 100 ids (the
        webhook processor reads a delivery's records this way). Unknown or archived ids are absent."""
        name = OBJECTS[obj]
        wanted = list(dict.fromkeys(_hs_id(i) for i in record_ids))
        found: list[CrmRecord] = []
        for start in range(0, len(wanted), BATCH_MAX):
            chunk = wanted[start : start + BATCH_MAX]
            answer = self.client.request(
                f"{name}.get_many", "POST", f"/crm/v3/objects/{name}/batch/read",
                json_body={"inputs": [{"id": i} for i in chunk], "properties": list(self.properties(name).by_name)},
            )  # fmt: skip
            for error in _errors(answer):
                refused = translate_body(f"{name}.get_many", 400, error)
                if not isinstance(refused, CrmNotFound):
                    raise refused
            found += [self._record(obj, r) for r in _results(answer) if str(r.get("id")) in chunk]
        return {record.id: record for record in self._with_links(obj, found)}

    def create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        try:
            return self._create(obj, fields, parent_id=parent_id, person_id=person_id)
        except CrmFieldUnknown as exc:
            kept, gone = self._without_gone_fields(obj, fields, exc)
            created = self._create(obj, kept, parent_id=parent_id, person_id=person_id)
            self._note_skipped_fields(gone)
            return created
        except CrmRejected:
            self.refresh_metadata(obj)  # the retry reads properties an admin may just have changed
            raise

    def _create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None, person_id: str | None
    ) -> CrmRecord:
        name = OBJECTS[obj]
        body = self._create_input(obj, fields, parent_id, person_id)
        answer = self.client.request(f"{name}.create", "POST", f"/crm/v3/objects/{name}", json_body=body)
        if not isinstance(answer, Mapping) or not answer.get("id"):
            raise CrmUnavailable(f"HubSpot created a {name} record but returned no id")
        self._note_skipped_fields([])  # property-checked: a property HubSpot would refuse fails the write instead
        return self._record(obj, answer, parent_id=parent_id, person_id=person_id)

    def _create_input(
        self, obj: CrmObject, fields: Mapping[str, Any], parent_id: str | None, person_id: str | None
    ) -> dict[str, Any]:
        name = OBJECTS[obj]
        values = dict(fields)
        if obj is CrmObject.ACTIVITY and not values.get("hs_timestamp"):
            values["hs_timestamp"] = datetime.now(UTC)  # HubSpot requires a task's due time; none given: now
        body: dict[str, Any] = {"properties": check_write(self.properties(name), self._with_pipeline(obj, values))}
        associations = self._associations(obj, parent_id, person_id)
        if associations:
            body["associations"] = associations
        return body

    def _with_pipeline(self, obj: CrmObject, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """A deal's stage written with the pipeline it belongs to: a stage id is only valid in its own pipeline, and
        a deal moved to a stage of another pipeline must move pipeline with it."""
        stage = values.get("dealstage")
        if obj is not CrmObject.DEAL or not stage or values.get("pipeline"):
            return values
        self.stages()
        pipeline = self._stage_pipelines.get(str(stage))
        return {**values, "pipeline": pipeline} if pipeline else values

    def _associations(self, obj: CrmObject, parent_id: str | None, person_id: str | None) -> list[dict[str, Any]]:
        name = OBJECTS[obj]
        links: list[tuple[str, str]] = []
        if parent_id and obj is not CrmObject.COMPANY:
            links.append(("companies", parent_id))
        if person_id and obj in (CrmObject.ACTIVITY, CrmObject.DEAL):
            links.append(("contacts", person_id))
        return [{"to": {"id": _hs_id(to_id)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                          "associationTypeId": self.association_type(name, to)}]}
                for to, to_id in links]  # fmt: skip

    def _without_gone_fields(
        self, obj: CrmObject, fields: Mapping[str, Any], exc: CrmFieldUnknown
    ) -> tuple[dict[str, Any], list[str]]:
        """Schema drift: a property our metadata had (or HubSpot says it lacks) is gone. Read the properties again;
        the ones no longer there are left out. Nothing gone: the refusal stands."""
        self.refresh_metadata(obj)
        props = self.properties(OBJECTS[obj])
        gone = [name for name in fields if props.get(name) is None]
        if not gone:
            raise exc
        log.info("hubspot %s: properties deleted in the portal are left out: %s", OBJECTS[obj], gone)
        return {k: v for k, v in fields.items() if k not in gone}, gone

    def create_many(
        self, obj: CrmObject, records: list[Mapping[str, Any]], *, parent_id: str | None = None
    ) -> list[CrmRecord | CrmError]:
        """`batch/create` per 100 records with their associations to `parent_id`; each result is the record or the
        error for it, in input order, matched by `objectWriteTraceId` (the input's index). Records failing the
        property checks are never sent; records refused for a property deleted meanwhile are created once more
        without it."""
        results = self._create_batch(obj, records, parent_id)
        drifted = [i for i, r in enumerate(results) if isinstance(r, CrmFieldUnknown)]
        gone = self._properties_gone(obj, [records[i] for i in drifted])
        if gone:
            again = self._create_batch(obj, [{k: v for k, v in records[i].items() if k not in gone}
                                             for i in drifted], parent_id)  # fmt: skip
            for index, result in zip(drifted, again, strict=True):
                results[index] = result
        self._note_skipped_fields(gone)
        return results

    def _create_batch(
        self, obj: CrmObject, records: Sequence[Mapping[str, Any]], parent_id: str | None
    ) -> list[CrmRecord | CrmError]:
        results: list[CrmRecord | CrmError | None] = [None] * len(records)
        inputs: list[_BatchInput] = []
        for index, fields in enumerate(records):
            try:
                inputs.append(_BatchInput(index, self._create_input(obj, fields, parent_id, None), parent_id))
            except CrmRejected as exc:
                results[index] = exc
        # A first request failing as a whole has created nothing: the caller gets the error itself.
        for index, result in self._send_batch(obj, "create", inputs, first_raises=True).items():
            results[index] = result
        return [r if r is not None else CrmUnavailable("not sent") for r in results]

    def _send_batch(
        self, obj: CrmObject, verb: str, inputs: Sequence[_BatchInput], *, first_raises: bool = False
    ) -> dict[int, CrmRecord | CrmError]:
        """`batch/{verb}` per 100 inputs; per input (by its `trace`, sent as `objectWriteTraceId` and matched by it,
        never by position) the record written or HubSpot's refusal. A request failing as a whole fails its own
        inputs, each with that error (earlier requests wrote records the caller must learn of, else a retry
        duplicates them); `first_raises`: the first one raises it instead."""
        name = OBJECTS[obj]
        op = f"{name}.{verb}_many"
        by_trace = {item.trace: item for item in inputs}
        results: dict[int, CrmRecord | CrmError] = {}
        for start in range(0, len(inputs), BATCH_MAX):
            chunk = inputs[start : start + BATCH_MAX]
            body = {"inputs": [{**item.body, "objectWriteTraceId": str(item.trace)} for item in chunk]}
            try:
                answer = self.client.request(op, "POST", f"/crm/v3/objects/{name}/batch/{verb}", json_body=body)
            except CrmError as exc:
                if start == 0 and first_raises:
                    raise
                results.update(dict.fromkeys((item.trace for item in chunk), exc))
                continue
            for result in _results(answer):
                item = by_trace.get(_trace(result.get("objectWriteTraceId")))
                if item is not None and result.get("id"):
                    results[item.trace] = self._record(obj, result, parent_id=item.parent_id)
            for error in _errors(answer):
                traces = (error.get("context") or {}).get("objectWriteTraceId") or []
                for trace in traces if isinstance(traces, list) else [traces]:
                    if _trace(trace) in by_trace:  # a 207 item error: by its category
                        results[_trace(trace)] = translate_body(op, 400, error)
            for item in chunk:
                results.setdefault(item.trace, CrmUnavailable(f"HubSpot answered nothing for {name} input "
                                                              f"{item.trace} of a batch {verb}"))  # fmt: skip
        return results

    def can_write_together(self, records: Sequence[RecordWrite]) -> bool:
        """`SupportsWriteBatches`: a bulk export's lead, its company and contacts (each kind within one batch
        call's 100 inputs); deals and tasks are written by the export itself."""
        return 0 < len(records) <= BATCH_MAX and all(r.obj in _BATCHED for r in records)

    def write_batches_together(self, batches: Sequence[Sequence[RecordWrite]]) -> list[BatchAnswer]:
        """Companies first, then contacts, each kind for every batch at once: one `batch/create` and one
        `batch/update` per 100 inputs. A batch's contacts are sent only when its company writes were all made (a
        single export stops at a refused company too); a new company's contacts carry their association to its
        new id. Inputs failing the property checks are never sent; one refused for a property deleted meanwhile is
        sent once more without it, and the property reported as skipped. HubSpot has no transactions: a batch with
        a refusal is `PartlyWritten` (what was written, what was refused; what was not sent is in neither)."""
        written: list[dict[str, CrmRecord]] = [{} for _ in batches]
        refused: list[dict[str, CrmError]] = [{} for _ in batches]
        gone_anywhere: list[str] = []
        for obj in _BATCHED:
            sending: list[tuple[int, RecordWrite, str | None]] = []  # batch index, record, its parent company
            for index, batch in enumerate(batches):
                for record in batch:
                    if record.obj is not obj or refused[index]:
                        continue  # a batch with a refused company: its contacts are not sent
                    parent = record.parent_id if isinstance(record, NewRecord) else None
                    if isinstance(record, NewRecord) and record.parent_ref:
                        parent = getattr(written[index].get(record.parent_ref), "id", None)
                    sending.append((index, record, parent))
            results = self._write_records(obj, [(record, parent) for _, record, parent in sending])
            drifted = [k for k, result in results.items() if isinstance(result, CrmFieldUnknown)]
            if any(isinstance(result, CrmRejected) for result in results.values()):
                self.refresh_metadata(obj)  # the export's retry reads properties an admin may just have changed
            gone = self._properties_gone(obj, [sending[k][1].fields for k in drifted])
            if gone:
                retried = self._write_records(obj, [(_without(sending[k][1], gone), sending[k][2]) for k in drifted])
                results.update({k: retried[j] for j, k in enumerate(drifted)})
                gone_anywhere += [name for name in gone if name not in gone_anywhere]
            for k, (index, record, _) in enumerate(sending):
                result = results[k]
                if isinstance(result, CrmError):
                    refused[index][record.ref] = result
                else:
                    written[index][record.ref] = result
        self._note_skipped_fields(gone_anywhere)
        return [PartlyWritten(written[i], refused[i]) if refused[i] else written[i] for i in range(len(batches))]

    def _write_records(
        self, obj: CrmObject, records: Sequence[tuple[RecordWrite, str | None]]
    ) -> dict[int, CrmRecord | CrmError]:
        """The records (each with its parent company, when new) in one `batch/create` and one `batch/update` per 100
        inputs; per record's position, what HubSpot wrote or its refusal."""
        results: dict[int, CrmRecord | CrmError] = {}
        creates: list[_BatchInput] = []
        updates: list[_BatchInput] = []
        for k, (record, parent) in enumerate(records):
            try:
                if isinstance(record, NewRecord):
                    creates.append(_BatchInput(k, self._create_input(obj, record.fields, parent, None), parent))
                    continue
                properties = check_write(self.properties(OBJECTS[obj]), self._with_pipeline(obj, record.fields))
            except CrmRejected as exc:
                results[k] = exc
                continue
            if properties:
                updates.append(_BatchInput(k, {"id": _hs_id(record.crm_id), "properties": properties}, None))
            else:  # nothing HubSpot would store: nothing to send, as `update` does
                results[k] = self._written(obj, record.crm_id, {})
        results.update(self._send_batch(obj, "create", creates))
        results.update(self._send_batch(obj, "update", updates))
        return results

    def _properties_gone(self, obj: CrmObject, refused: Sequence[Mapping[str, Any]]) -> list[str]:
        """The properties `refused` name that HubSpot no longer has (its properties read again): deleted in the
        portal since they were read."""
        if not refused:
            return []
        self.refresh_metadata(obj)
        props = self.properties(OBJECTS[obj])
        gone = list(dict.fromkeys(n for fields in refused for n in fields if props.get(n) is None))
        if gone:
            log.info("hubspot %s: properties deleted in the portal are left out: %s", OBJECTS[obj], gone)
        return gone

    def list_persons_many(self, company_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """`SupportsPersonsOfMany`: the contacts of each company, from one association batch read per 100 companies
        and one contact batch read per 100 contacts."""
        associated = self._associated("companies", company_ids, "contacts")
        contacts = {r.id: r for r in self._read_many(CrmObject.PERSON, list(dict.fromkeys(
            contact for ids in associated.values() for contact in ids)))}  # fmt: skip
        return {company: [contacts[c] for c in associated.get(_hs_id(company), []) if c in contacts]
                for company in company_ids}  # fmt: skip

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        try:
            return self._update(obj, record_id, fields)
        except CrmFieldUnknown as exc:
            kept, gone = self._without_gone_fields(obj, fields, exc)
            updated = self._update(obj, record_id, kept)
            self._note_skipped_fields(gone)
            return updated
        except CrmRejected:
            self.refresh_metadata(obj)
            raise

    def _update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        name = OBJECTS[obj]
        properties = check_write(self.properties(name), self._with_pipeline(obj, fields))
        self._note_skipped_fields([])
        if not properties:
            return self._written(obj, record_id, {})
        answer = self.client.request(f"{name}.update", "PATCH", f"/crm/v3/objects/{name}/{_hs_id(record_id)}",
                                     json_body={"properties": properties})  # fmt: skip
        if isinstance(answer, Mapping) and answer.get("id"):
            return self._record(obj, answer)
        return self._written(obj, record_id, properties)

    def delete(self, obj: CrmObject, record_id: str) -> None:
        """Archive (HubSpot keeps it restorable for 90 days)."""
        name = OBJECTS[obj]
        self.client.request(f"{name}.delete", "DELETE", f"/crm/v3/objects/{name}/{_hs_id(record_id)}")

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
        """`org_nr_field` (the settings' `matching`): a company property holding the org number (e.g. a custom
        `cvr`); None: HubSpot has no standard one, so the org number is not searched. `domain_field`: None is
        `domain`. A named property must exist and be text, else 422 naming `matching.<key>` before any search."""
        [found] = self.search_companies_many([CompanySearch(org_nr, name, domain, limit, org_nr_field, domain_field)])
        return found

    def search_companies_many(self, searches: Sequence[CompanySearch]) -> list[list[CrmRecord]]:
        """Each criterion (org number, domain, name) searched on its own for up to 100 searches at once (an `IN`
        group), paged until every search has its `limit` of matches on it or the results end, so one search's many
        rows never hide another's match. Each search's candidates: its matches, strongest criterion first, by id."""
        if not searches:
            return []
        fields = {(s.org_nr_field, s.domain_field) for s in searches}
        if len(fields) != 1:
            raise ValueError("search_companies_many: the searches must share org_nr_field and domain_field")
        (org_nr_field, domain_field), = fields
        props = self.properties("companies")
        plan = CompanySearchPlan.of(props, org_nr_field, domain_field)
        active = [s for s in searches if plan.searches_anything(s)]
        found: dict[str, dict[str, Mapping[str, Any]]] = {prop: {} for prop in plan.criteria()}
        every = self._search_at_once(plan, active)
        for prop in plan.criteria():
            if every is not None:  # one request held every row of every criterion: nothing can have been crowded out
                found[prop] = every
                continue
            for start in range(0, len(active), MAX_IN_VALUES):
                found[prop].update(self._search_criterion(plan, prop, active[start : start + MAX_IN_VALUES]))
        results: list[list[CrmRecord]] = []
        for search in searches:
            picked: dict[str, Mapping[str, Any]] = {}
            for prop in plan.criteria():
                picked |= {rid: raw for rid, raw in found[prop].items()
                           if plan.matches_on(prop, raw.get("properties") or {}, search)}  # fmt: skip
            results.append([self._record(CrmObject.COMPANY, raw) for raw in list(picked.values())[: search.limit]])
        return results

    def _search_at_once(
        self, plan: CompanySearchPlan, searches: Sequence[CompanySearch]
    ) -> dict[str, Mapping[str, Any]] | None:
        """Every criterion's groups in one request, when they fit one (§3: 5 groups, 18 filters) and its first page
        holds every row (a single lead's export: one search); None when they do not, or more rows follow."""
        groups = [g for prop in plan.criteria() for g, _ in plan.filter_groups(prop, searches)]
        if not groups or len(groups) > GROUPS_PER_SEARCH or sum(len(g["filters"]) for g in groups) > FILTERS_PER_SEARCH:
            return None
        answer = self._company_search(groups)
        if _next_after(answer) is not None:
            return None  # more rows than a page: each criterion on its own, so none hides another's match
        return {str(r["id"]): r for r in _results(answer) if r.get("id")}

    def _company_search(self, groups: list[dict[str, Any]], after: str | None = None) -> Any:
        """One page of the companies matching any of `groups`, every property, by id (the matching searches')."""
        body: dict[str, Any] = {"filterGroups": groups, "properties": list(self.properties("companies").by_name),
                                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                                "limit": SEARCH_PAGE, **({"after": after} if after else {})}  # fmt: skip
        return self.client.request("companies.search", "POST", "/crm/v3/objects/companies/search", lane="search",
                                   json_body=body)

    def _search_criterion(
        self, plan: CompanySearchPlan, prop: str, searches: Sequence[CompanySearch]
    ) -> dict[str, Mapping[str, Any]]:
        """The rows matching `prop` for `searches`: its filter groups, 5 to a request (§3)."""
        groups = plan.filter_groups(prop, searches)
        rows: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(groups), GROUPS_PER_SEARCH):
            chosen = groups[start : start + GROUPS_PER_SEARCH]
            served = [s for _, group_searches in chosen for s in group_searches]
            rows |= self._search_groups(plan, prop, [g for g, _ in chosen], served)
        return rows

    def _search_groups(
        self, plan: CompanySearchPlan, prop: str, groups: list[dict[str, Any]], searches: Sequence[CompanySearch]
    ) -> dict[str, Mapping[str, Any]]:
        """Pages of one request's groups until each search has its `limit` of matches on `prop`. Where HubSpot's
        result cap ends the pages first, the searches still short of matches are searched one by one."""
        rows: dict[str, Mapping[str, Any]] = {}
        after: str | None = None
        while True:
            answer = self._company_search(groups, after)
            rows |= {str(r["id"]): r for r in _results(answer) if r.get("id")}
            short = [s for s in searches
                     if sum(plan.matches_on(prop, r.get("properties") or {}, s) for r in rows.values()) < s.limit]
            following = _next_after(answer)
            if not short or following is None:
                return rows
            if int(following) >= self.search_cap:  # HubSpot's 10,000: the rest of this query cannot be read
                if len(searches) == 1:
                    log.warning("hubspot company search on %s reached the result cap; the first %s rows are used",
                                prop, len(rows))
                    return rows
                for search in short:
                    rows |= self._search_criterion(plan, prop, [search])
                return rows
            after = following

    def list_persons(self, company_id: str) -> list[CrmRecord]:
        """The company's contacts: their ids from the associations, then one batch read per 100."""
        ids = self._associated("companies", [company_id], "contacts").get(_hs_id(company_id), [])
        return self._read_many(CrmObject.PERSON, ids)

    def _read_many(self, obj: CrmObject, ids: Sequence[str]) -> list[CrmRecord]:
        name = OBJECTS[obj]
        raws: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH_MAX):
            answer = self.client.request(
                f"{name}.read_many", "POST", f"/crm/v3/objects/{name}/batch/read",
                json_body={"inputs": [{"id": i} for i in ids[start: start + BATCH_MAX]],
                           "properties": list(self.properties(name).by_name)},
            )  # fmt: skip
            raws += _results(answer)  # an id archived meanwhile is a 207 item error: left out
        order = {rid: i for i, rid in enumerate(ids)}
        raws.sort(key=lambda r: order.get(str(r.get("id")), len(order)))
        return self._with_links(obj, [self._record(obj, r) for r in raws if r.get("id")])

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        return f"{self.app_base}/contacts/{self.context.account_id}/record/{TYPE_IDS[OBJECTS[obj]]}/{record_id}"

    # --- incremental reads ----------------------------------------------------------------------------------------

    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        """One page of `obj`'s records changed at or after `since - lookback`, by keyset: every page is a fresh
        search from the last instant reached (modified date `GTE` it, sorted by it), never an `after` offset. An
        offset would skip a record whenever one read before it is edited meanwhile and moves behind (HubSpot sorts
        anew on every request), and could not pass the 10,000-result cap. A full page gives the records before its
        last instant; that instant's records come whole with the next page. An instant with more records than a
        page is read by `hs_object_id` (keyset too), then the search goes on after it. Each record comes once; one
        edited after it was read comes again."""
        name = OBJECTS[obj]
        modified = MODIFIED[name]
        start = (since if since.tzinfo else since.replace(tzinfo=UTC)) - self.lookback
        if page_token is None:
            state = _ChangeCursor(name, self.context.account_id, _millis(since), _millis(start), None)
        else:
            state = _ChangeCursor.decode(page_token, name, self.context.account_id, _millis(since))
        if state.tie is None:
            filters = [{"propertyName": modified, "operator": "GTE", "value": str(state.at)}]
            sorts = [{"propertyName": modified, "direction": "ASCENDING"}]
        else:
            filters = [{"propertyName": modified, "operator": "EQ", "value": str(state.at)},
                       {"propertyName": "hs_object_id", "operator": "GT", "value": str(state.tie)}]  # fmt: skip
            sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        body = {"filterGroups": [{"filters": filters}], "sorts": sorts, "limit": self.search_page,
                "properties": list(self.properties(name).by_name)}  # fmt: skip
        answer = self.client.request(f"{name}.changes", "POST", f"/crm/v3/objects/{name}/search", json_body=body,
                                     lane="search")  # fmt: skip
        raws = [r for r in _results(answer) if r.get("id")]
        kept, following = self._page_and_next(state, raws, modified)
        next_token = following.encode() if following is not None else None
        next_token = check_next_token("HubSpot", f"{name}.changes", page_token, next_token)
        records = self._with_links(obj, [self._record(obj, r) for r in kept])
        return ChangePage(records=records, next_page_token=next_token)

    def _page_and_next(
        self, state: _ChangeCursor, raws: list[dict[str, Any]], modified: str
    ) -> tuple[list[dict[str, Any]], _ChangeCursor | None]:
        """The records this page gives, and where the next one starts (None: the read is done)."""
        if len(raws) < self.search_page:  # the last page of its query
            if state.tie is None:
                return raws, None
            return raws, replace(state, at=state.at + 1, tie=None)  # the crowded instant is read: on after it
        if state.tie is not None:
            return raws, replace(state, tie=int(raws[-1]["id"]))
        last = _modified_millis(raws[-1], modified)
        if last is None:  # HubSpot always sends the modified date it sorted by; without it, nothing safe to go on
            raise CrmUnavailable(f"HubSpot sent a {state.obj} change without its modified date")
        before = [r for r in raws if (_modified_millis(r, modified) or last) < last]
        if before:  # the last instant may go on past this page: all of it comes with the next page
            return before, replace(state, at=last)
        return [], replace(state, at=last, tie=0)  # a page of one instant: that instant by id, from the first

    def deleted_since(self, obj: CrmObject, since: datetime) -> list[str]:
        """Archived records with `archivedAt` at or after `since`, from the `archived=true` listing (search never
        shows archived records)."""
        name = OBJECTS[obj]
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        deleted: list[str] = []
        for page in self._list(f"{name}.deleted", name, archived=True):
            for raw in page:
                at = raw.get("archivedAt")
                try:
                    when = parse_datetime(str(at)) if at else None
                except ValueError:
                    when = None
                if raw.get("id") and (when is None or when >= since):
                    deleted.append(str(raw["id"]))
        return deleted

    def all_ids(self, obj: CrmObject) -> Iterable[str]:
        name = OBJECTS[obj]
        for page in self._list(f"{name}.ids", name, archived=False):
            yield from (str(r["id"]) for r in page if r.get("id"))

    def _list(self, op: str, name: str, *, archived: bool) -> Iterator[list[dict[str, Any]]]:
        def fetch(after: str | None) -> Page[dict[str, Any], str]:
            params = {"limit": str(LIST_PAGE), "properties": "hs_object_id", "archived": str(archived).lower(),
                      **({"after": after} if after else {})}  # fmt: skip
            answer = self.client.request(op, "GET", f"/crm/v3/objects/{name}", params=params)
            return Page(_results(answer), _next_after(answer))

        return pages(fetch, crm="HubSpot", op=op)

    # --- webhooks -------------------------------------------------------------------------------------------------

    def _app_subscription(self) -> WebhookRegistration:
        return WebhookRegistration(id=APP_WEBHOOK_ID, url=self.webhook_url, events=list(APP_EVENT_TYPES),
                                   active=True, state="app_subscription")  # fmt: skip

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        """Nothing to register per account: the app's subscriptions (its `webhooks/*-hsmeta.json`) send every
        installed portal's events to the one `HUBSPOT_WEBHOOK_URL`, signed with the client secret."""
        return self._app_subscription()

    def list_webhooks(self) -> list[WebhookRegistration]:
        return [self._app_subscription()]

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration:
        return self._app_subscription()

    def unregister_webhook(self, webhook_id: str) -> None:
        return None  # an account leaves the app's subscriptions when its grant is revoked (disconnect)

    # --- helpers --------------------------------------------------------------------------------------------------

    def _associated(self, from_name: str, ids: Sequence[str], to_name: str) -> dict[str, list[str]]:
        """Per id, the ids of its associated `to_name` records (the primary type first), one batch read per 100."""
        primary = DEFAULT_ASSOCIATION_TYPES.get((from_name, to_name))
        if (from_name, to_name) in DEFAULT_ASSOCIATION_TYPES:
            primary = self.association_type(from_name, to_name)
        found: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(_hs_id(i) for i in ids))
        for start in range(0, len(unique), BATCH_MAX):
            answer = self.client.request(
                f"{from_name}.associations", "POST", f"/crm/v4/associations/{from_name}/{to_name}/batch/read",
                json_body={"inputs": [{"id": i} for i in unique[start: start + BATCH_MAX]]},
            )  # fmt: skip
            for result in _results(answer):
                source = str((result.get("from") or {}).get("id") or "")
                targets = [t for t in result.get("to") or [] if isinstance(t, Mapping) and t.get("toObjectId")]
                targets.sort(key=lambda t: 0 if any(a.get("typeId") == primary for a in t.get("associationTypes")
                                                    or [] if isinstance(a, Mapping)) else 1)  # fmt: skip
                found[source] = [str(t["toObjectId"]) for t in targets]
        return found

    def _with_links(self, obj: CrmObject, records: list[CrmRecord]) -> list[CrmRecord]:
        """`parent_id` (the company) and, for tasks, `person_id` (the contact) from the associations."""
        if obj is CrmObject.COMPANY or not records:
            return records
        name = OBJECTS[obj]
        ids = [r.id for r in records]
        companies = self._associated(name, ids, "companies")
        contacts = self._associated(name, ids, "contacts") if obj is CrmObject.ACTIVITY else {}
        return [r.model_copy(update={"parent_id": next(iter(companies.get(r.id, [])), None),
                                     "person_id": next(iter(contacts.get(r.id, [])), None)}) for r in records]

    def _record(
        self, obj: CrmObject, raw: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        name = OBJECTS[obj]
        props = self.properties(name)
        values = _mapping(raw.get("properties"))
        fields = {k: decode(props.get(k), v) for k, v in values.items()}
        record_id = str(raw["id"])
        return CrmRecord(
            object=obj,
            id=record_id,
            fields=fields,
            parent_id=parent_id,
            person_id=person_id,
            updated_at=_datetime(raw.get("updatedAt")),
            created_at=_datetime(raw.get("createdAt")),
            deleted=bool(raw.get("archived")),
            url=self.record_url(obj, record_id),
            stage_kind=self._deal_kind(fields) if obj is CrmObject.DEAL else None,
        )

    def _written(self, obj: CrmObject, record_id: str, properties: Mapping[str, str]) -> CrmRecord:
        props = self.properties(OBJECTS[obj])
        return CrmRecord(object=obj, id=str(record_id), fields={k: decode(props.get(k), v) for k, v in
                                                                properties.items()},
                         url=self.record_url(obj, str(record_id)))  # fmt: skip

    def _deal_kind(self, fields: Mapping[str, Any]) -> StageKind:
        """From HubSpot's own `hs_is_closed` / `hs_is_closed_won` when the deal carries them, else from its stage's
        metadata."""
        if fields.get("hs_is_closed_won") is True:
            return StageKind.WON
        if fields.get("hs_is_closed") is True:
            return StageKind.LOST
        if fields.get("hs_is_closed") is False:
            return StageKind.OPEN
        stage = fields.get("dealstage")
        return next((s.kind for s in self.stages() if s.id == stage), StageKind.OPEN) if stage else StageKind.OPEN


@dataclass(frozen=True)
class _BatchInput:
    """One input of a batch write: `trace` names it in the answer (`objectWriteTraceId`); `parent_id`, the company
    a new record is associated with."""

    trace: int
    body: dict[str, Any]
    parent_id: str | None


def _trace(value: Any) -> int:
    return int(value) if str(value).isdigit() else -1  # -1: not one of ours


def _without(record: RecordWrite, gone: Sequence[str]) -> RecordWrite:
    return replace(record, fields={k: v for k, v in record.fields.items() if k not in gone})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _results(answer: Any) -> list[dict[str, Any]]:
    results = answer.get("results") if isinstance(answer, Mapping) else None
    return [r for r in results or [] if isinstance(r, dict)]


def _errors(answer: Any) -> list[dict[str, Any]]:
    errors = answer.get("errors") if isinstance(answer, Mapping) else None
    return [e for e in errors or [] if isinstance(e, dict)]


def _next_after(answer: Any) -> str | None:
    paging = answer.get("paging") if isinstance(answer, Mapping) else None
    following = ((paging or {}).get("next") or {}).get("after") if isinstance(paging, Mapping) else None
    return str(following) if following not in (None, "") else None


def _stage_kind(is_closed: Any, probability: float | None) -> StageKind:
    if str(is_closed).lower() != "true":
        return StageKind.OPEN
    return StageKind.WON if probability is not None and probability >= 1.0 else StageKind.LOST


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _modified_millis(raw: Mapping[str, Any], modified: str) -> int | None:
    value = (raw.get("properties") or {}).get(modified) or raw.get("updatedAt")
    if value is None:
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return _millis(parse_datetime(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class _ChangeCursor:
    """Where a change read stands: the instant `at` (ms) it goes on from or, for an instant with more records than a
    page, the last id read at it (`tie`). Bound to the object, the account and the read's `since` (ms): a token of
    another read is refused."""

    obj: str
    account: str
    since: int
    at: int
    tie: int | None

    def encode(self) -> str:
        state = {"o": self.obj, "a": self.account, "s": self.since, "at": self.at, "tie": self.tie}
        raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str, obj: str, account: str, since: int) -> _ChangeCursor:
        """The cursor of a token this connector gave for this read; `InvalidCursor` for anything else."""
        if not token.startswith(TOKEN_PREFIX):
            raise InvalidCursor(f"Not a HubSpot page token: {token[:60]!r}")
        try:
            text = token.removeprefix(TOKEN_PREFIX)
            state = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except ValueError as exc:
            raise InvalidCursor(f"Not a HubSpot page token: {token[:60]!r}") from exc
        if not isinstance(state, dict) or set(state) != {"o", "a", "s", "at", "tie"}:
            raise InvalidCursor(f"The page token is not one of HubSpot {obj}'s change reads")
        if (state["o"], state["a"], state["s"]) != (obj, account, since):
            raise InvalidCursor(f"The page token belongs to another HubSpot read than {obj} of account {account}")
        if not (_is_int(state["at"]) and (state["tie"] is None or _is_int(state["tie"]))):
            raise InvalidCursor(f"The page token of HubSpot {obj}'s change read is damaged")
        return cls(obj, account, since, state["at"], state["tie"])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _hs_id(record_id: str) -> str:
    value = str(record_id).strip()
    if not value.isdigit():
        raise CrmRejected(f"HubSpot record ids are digits, not {record_id!r}")
    return value
