"""`Connector` for one SuperOffice tenant (CRM Online, REST WebAPI v1).

Objects: company = Contact, person = Person, deal = Sale, activity = Appointment (follow-ups and tasks).
Field names and encodings: see `fields.py`. Every HTTP call goes through `SuperOfficeClient` and is counted in
`connector.calls` by operation name (`contact.get`, `contact.create`, `archive.query`, `tenant.state`, ...).

Incremental reads use the OData archives ordered by primary key with keyset paging (`pk gt last`), which avoids the
O(N²) cost of deep `$skip`; the page token is the last primary key seen. `since` is inclusive (the filter starts one
second earlier: `afterTime` is strict). Each page's rows are then read in full with `GET /{Entity}/{id}`, so change
records carry the same fields as `get()` (custom fields included) at the cost of one call per changed record. The
REST API has no bulk entity read (the spec's only multi-record reads are the archives, whose columns differ from the
entity's), so those GETs run `read_concurrency` (default 4) at a time: a page takes ~1/4 of the round trips' time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

from leadbridge.crm.base import ConnectionContext, TokenSource
from leadbridge.crm.http import RetryingSender
from leadbridge.crm.metadata_cache import MetadataCache
from leadbridge.crm.paging import Page, check_next_token, pages
from leadbridge.crm.reporting import TransportReporting
from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.client import SuperOfficeClient
from leadbridge.crm.superoffice.fields import (
    SALE_STATUSES,
    STANDARD_FIELDS,
    STATUS_KINDS,
    UDEF_TEXT_LENGTHS,
    UDEF_TYPES,
    Kind,
)
from leadbridge.crm.superoffice.mapping import (
    BY_EVENT_ENTITY,
    ENTITIES,
    CustomFieldMeta,
    EntitySpec,
    FieldValueError,
    build_create_body,
    build_patch,
    entity_to_record,
    needs_current_entity,
    patch_paths_to_fields,
)
from leadbridge.crm.transport import CrmTransport
from leadbridge.errors import CrmNotFound, CrmRejected, CrmUnavailable, InvalidCursor
from leadbridge.models.crm import (
    ChangePage,
    CrmObject,
    CrmObjectInfo,
    CrmRecord,
    CrmUser,
    FieldInfo,
    FieldType,
    PicklistValue,
    Stage,
    StageKind,
    WebhookRegistration,
)

log = logging.getLogger(__name__)

_M = TypeVar("_M")

DEFAULT_WEBHOOK_EVENTS = [
    f"{entity}.{action}"
    for entity in ("contact", "person", "sale", "appointment")
    for action in ("created", "changed", "deleted")
] + ["sale.sold", "sale.lost"]

OBJECT_LABELS = {
    CrmObject.COMPANY: "Company",
    CrmObject.PERSON: "Contact person",
    CrmObject.DEAL: "Sale",
    CrmObject.ACTIVITY: "Follow-up",
}


class SuperOfficeConnector(TransportReporting):
    crm = "superoffice"

    def __init__(
        self,
        *,
        context: ConnectionContext,
        tokens: TokenSource,
        login_base: str,
        sender: RetryingSender,
        page_size: int = 1000,
        date_format: str = "%m/%d/%Y",
        read_concurrency: int = 4,
    ) -> None:
        self.context = context
        self.client = SuperOfficeClient(
            api_base=context.api_base,
            account_id=context.account_id,
            login_base=login_base,
            tokens=tokens,
            sender=sender,
        )
        self.page_size = page_size
        self.date_format = date_format
        self.read_concurrency = max(1, read_concurrency)
        self._custom: dict[CrmObject, dict[str, CustomFieldMeta]] = {}
        self._lengths: dict[CrmObject, dict[str, int]] = {}
        # Shared across connectors of this container (exports set it); None: metadata lives as long as this connector.
        self.metadata_cache: MetadataCache | None = None

    @property
    def api_base(self) -> str:
        """Current tenant API base; differs from `context.api_base` after a host move (persist it)."""
        return self.client.api_base

    def _transport(self) -> CrmTransport:
        return self.client.transport

    # --- metadata -------------------------------------------------------------------------------------------------

    def objects(self) -> list[CrmObjectInfo]:
        return [CrmObjectInfo(object=o, crm_name=ENTITIES[o].entity, label=OBJECT_LABELS[o]) for o in ENTITIES]

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        lengths = self._field_lengths(obj)
        infos = [
            FieldInfo(
                name=f.name,
                label=f.label,
                type=f.type,
                length=lengths.get(f.name, f.length),
                required=f.required,
                updateable=f.updateable,
                picklist=[PicklistValue(value=v, label=v) for v in f.picklist],
                restricted_picklist=bool(f.picklist),
            )
            for f in STANDARD_FIELDS[obj].values()
        ]
        infos += [
            FieldInfo(
                name=m.key,
                label=m.label,
                type=m.type,
                length=m.length,
                required=m.mandatory,
                updateable=not m.read_only,
                custom=True,
            )
            for m in self.custom_fields(obj).values()
        ]
        return infos

    def custom_fields(self, obj: CrmObject) -> dict[str, CustomFieldMeta]:
        """Published udefs (by prog id) and extra fields (`x_...`), cached for this connector's life (and in
        `metadata_cache` when set)."""
        if obj not in self._custom:
            self._custom[obj] = self._shared_metadata("custom_fields", obj, lambda: self._read_custom_fields(obj))
        return self._custom[obj]

    def _metadata_key(self, obj: CrmObject | None = None) -> tuple[str, ...]:
        # The account and the API host, not only the tenant: a reconnect to another account must not see these.
        key = (self.crm, self.context.tenant_id, self.context.account_id, self.client.api_base)
        return key if obj is None else (*key, obj.value)

    def _shared_metadata(self, kind: str, obj: CrmObject, load: Callable[[], _M]) -> _M:
        if self.metadata_cache is None:
            return load()
        return self.metadata_cache.get((*self._metadata_key(obj), kind), load)

    def _forget_metadata(self, obj: CrmObject) -> None:
        """After a rejected write: the admin may have changed the fields, so the retry reads them again."""
        self._custom.pop(obj, None)
        self._lengths.pop(obj, None)
        if self.metadata_cache is not None:
            self.metadata_cache.invalidate(self._metadata_key(obj))

    def _read_custom_fields(self, obj: CrmObject) -> dict[str, CustomFieldMeta]:
        entity = ENTITIES[obj].entity
        meta: dict[str, CustomFieldMeta] = {}
        published = self.client.request(f"{entity.lower()}.udeflayout", "GET", f"{entity}/UdefLayout/Published")
        for udef in published or []:
            key = str(udef.get("ProgId") or "") or f"SuperOffice:{udef.get('UdefIdentity')}"
            kind = str(udef.get("FieldType") or "ShortText")
            length = udef.get("TextLength") or UDEF_TEXT_LENGTHS.get(kind)
            meta[key] = CustomFieldMeta(
                key=key,
                label=str(udef.get("FieldLabel") or key),
                type=UDEF_TYPES.get(kind, FieldType.STRING),
                length=int(length) if length and kind in UDEF_TEXT_LENGTHS else None,
                read_only=bool(udef.get("IsReadOnly")),
                mandatory=bool(udef.get("IsMandatory")),
            )
        for extra in self.client.request(f"{entity.lower()}.customfield", "GET", f"{entity}/CustomField") or []:
            name = str(extra.get("FieldName") or "")
            if not name.startswith("x_") or name in meta:
                continue  # udefs are already listed from UdefLayout, with their lengths
            meta[name] = CustomFieldMeta(
                key=name,
                label=str(extra.get("DisplayName") or name),
                type=UDEF_TYPES.get(str(extra.get("FieldType")), FieldType.STRING),
                read_only=bool(extra.get("IsReadOnly")),
                mandatory=bool(extra.get("IsMandatory")),
            )
        return meta

    def _field_lengths(self, obj: CrmObject) -> dict[str, int]:
        """Tenant column lengths from the template entity's FieldProperties, for plain text fields."""
        if obj not in self._lengths:
            self._lengths[obj] = self._shared_metadata("lengths", obj, lambda: self._read_field_lengths(obj))
        return self._lengths[obj]

    def _read_field_lengths(self, obj: CrmObject) -> dict[str, int]:
        entity = ENTITIES[obj].entity
        template = self.client.request(f"{entity.lower()}.default", "GET", f"{entity}/default") or {}
        props = template.get("FieldProperties") or {}
        lengths: dict[str, int] = {}
        for name, f in STANDARD_FIELDS[obj].items():
            prop = props.get(f.path[0]) if f.kind == Kind.SCALAR else None
            if isinstance(prop, Mapping) and isinstance(prop.get("FieldLength"), int) and prop["FieldLength"] > 0:
                lengths[name] = prop["FieldLength"]
        return lengths

    def stages(self) -> list[Stage]:
        items = self.client.request("list.salestage", "GET", "List/Rating/Items") or []
        stages = [
            Stage(
                id=str(item["SaleStageId"]),
                name=str(item.get("Value") or ""),
                kind=StageKind.OPEN,
                probability=item.get("Probability"),
                rank=int(item.get("Rank") or 0),
                group="stage",
            )
            for item in items
            if not item.get("Deleted") and item.get("SaleStageId") is not None
        ]
        stages += [
            Stage(id=status, name=status, kind=STATUS_KINDS[status], rank=rank, group="status")
            for rank, status in enumerate(SALE_STATUSES, start=1)
        ]
        return stages

    def users(self) -> list[CrmUser]:
        """Associates from the `associate` MDO list. Where the e-mail sits in an item (ExtraInfo/ToolTip) is not
        documented: take whichever looks like an address."""
        items = self.client.request("list.associate", "GET", "MDOList/associate", params={"flat": "true"}) or []
        users = []
        for item in items:
            user_id = item.get("Id")
            if user_id in (None, 0):
                continue
            email = next((str(v) for v in (item.get("ExtraInfo"), item.get("ToolTip")) if v and "@" in str(v)), None)
            users.append(
                CrmUser(
                    id=str(user_id),
                    name=str(item.get("FullName") or item.get("Name") or user_id),
                    email=email,
                    active=not item.get("Deleted"),
                )
            )
        return users

    # --- records --------------------------------------------------------------------------------------------------

    def get(self, obj: CrmObject, record_id: str) -> CrmRecord:
        spec = ENTITIES[obj]
        entity = self.client.request(f"{spec.entity.lower()}.get", "GET", f"{spec.entity}/{_int_id(record_id)}")
        return self._record(obj, entity)

    def create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        spec = ENTITIES[obj]
        try:
            plan = build_create_body(
                obj,
                fields,
                self.custom_fields(obj),
                parent_id=parent_id,
                person_id=person_id,
                lengths=self._lengths.get(obj),
                date_format=self.date_format,
            )
        except FieldValueError as exc:
            raise CrmRejected(str(exc), fields=[name for name, _ in exc.errors]) from exc
        except ValueError as exc:  # parent/person ids that are not numbers
            raise CrmRejected(f"SuperOffice ids are numbers: {exc}") from exc
        self._note_skipped(obj, plan.skipped)
        entity = self._write(obj, f"{spec.entity.lower()}.create", "POST", spec.entity, plan.body)
        return self._record(obj, entity)

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        spec = ENTITIES[obj]
        path = f"{spec.entity}/{_int_id(record_id)}"
        current = (
            self.client.request(f"{spec.entity.lower()}.get", "GET", path)
            if needs_current_entity(obj, fields)
            else None
        )
        try:
            plan = build_patch(
                obj,
                fields,
                self.custom_fields(obj),
                current=current,
                lengths=self._lengths.get(obj),
                date_format=self.date_format,
            )
        except FieldValueError as exc:
            raise CrmRejected(str(exc), fields=[name for name, _ in exc.errors]) from exc
        self._note_skipped(obj, plan.skipped)
        if not plan.body:
            return self._record(obj, current) if current else self.get(obj, record_id)
        entity = self._write(
            obj, f"{spec.entity.lower()}.patch", "PATCH", path, plan.body, content_type="application/json-patch+json"
        )
        return self._record(obj, entity)

    def delete(self, obj: CrmObject, record_id: str) -> None:
        spec = ENTITIES[obj]
        self.client.request(f"{spec.entity.lower()}.delete", "DELETE", f"{spec.entity}/{_int_id(record_id)}")

    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
    ) -> list[CrmRecord]:
        """Companies matching any criterion, org-number matches first, then name, then domain; at most `limit`.

        One archive query ORs the criteria (`orgnr begins` compared exactly here, `name begins`, `email contains
        '@host'`, `url contains host`). When that answer may be cut short (it fills `$top`) or the API refuses the
        combined filter (remembered in `metadata_cache`), one query per criterion is run instead, each with its own
        `$top`."""
        wanted = _Criteria.of(org_nr, name, domain)
        if not wanted.clauses():
            return []
        refused_key = (*self._metadata_key(), "or_filter_refused")
        refused = self.metadata_cache is not None and self.metadata_cache.get(refused_key, lambda: False)
        if len(wanted.clauses()) > 1 and not refused:
            top = limit * _COMBINED_TOP_FACTOR
            try:
                rows = self._archive_rows(
                    "Contact", "contact.search", select=_SEARCH_COLUMNS, filter=" or ".join(wanted.clauses()), top=top
                )
            except CrmRejected:
                # `or` is valid OData but has no SuperOffice doc example: remember a refusal (for the cache's TTL).
                if self.metadata_cache is not None:
                    self.metadata_cache.put(refused_key, True)
                log.info("superoffice refused an OR-ed archive filter; searching one criterion at a time")
            else:
                if len(rows) < top:
                    return self._ranked_companies(wanted, rows, limit)
        return self._search_each(wanted, limit)

    def _ranked_companies(self, wanted: _Criteria, rows: list[dict[str, Any]], limit: int) -> list[CrmRecord]:
        """Rows of the combined query in the order the per-criterion queries would have found them."""
        ranked: list[tuple[int, int, dict[str, Any]]] = []
        for position, row in enumerate(rows):
            rank = wanted.rank(row)
            if rank is not None:
                ranked.append((rank, position, row))
        found: dict[str, CrmRecord] = {}
        for _rank, _position, row in sorted(ranked, key=lambda r: (r[0], r[1])):
            record = self._company_from_row(row)
            if record and record.id not in found and len(found) < limit:
                found[record.id] = record
        return list(found.values())

    def _search_each(self, wanted: _Criteria, limit: int) -> list[CrmRecord]:
        found: dict[str, CrmRecord] = {}
        select = _SEARCH_COLUMNS

        def add(rows: list[dict[str, Any]]) -> None:
            for row in rows:
                record = self._company_from_row(row)
                if record and record.id not in found and len(found) < limit:
                    found[record.id] = record

        if wanted.org_nr:
            org = wanted.org_nr
            try:
                add(
                    self._archive_rows(
                        "Contact", "contact.search", select=select, filter=odata.eq("orgnr", org), top=limit
                    )
                )
            except CrmRejected:
                # `eq` on orgnr is not documented; the documented string operator is `begins`: compare exactly here.
                rows = self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins("orgnr", org), top=limit * 5
                )
                add([r for r in rows if str(r.get("orgnr") or "").strip() == org])
        if wanted.name:
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins("name", wanted.name), top=limit
                )
            )
        if wanted.host:
            host = wanted.host
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.contains("email", "@" + host), top=limit
                )
            )
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.contains("url", host), top=limit
                )
            )
        return list(found.values())

    def list_persons(self, company_id: str) -> list[CrmRecord]:
        rows = self._archive_rows(
            "Person",
            "person.list",
            select=["personId"],
            filter=odata.eq("contactId", _int_id(company_id)),
            order_by="personId",
            top=self.page_size,
        )
        return [self.get(CrmObject.PERSON, str(row["personId"])) for row in rows if row.get("personId")]

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        base = self.api_base.removesuffix("/api")  # https://sod2.superoffice.com/Cust12345
        return f"{base}/default.aspx?{ENTITIES[obj].ui_param}={url_quote(str(record_id))}"

    # --- incremental reads ----------------------------------------------------------------------------------------

    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        spec = ENTITIES[obj]
        after_id = _parse_token(page_token)
        rows = self._archive_rows(
            spec.entity,
            f"{spec.entity.lower()}.changes",
            select=[spec.pk_column, spec.updated_column],
            filter=odata.all_of(
                odata.after_time(spec.updated_column, since - timedelta(seconds=1)),
                odata.greater_than(spec.pk_column, after_id) if after_id else None,
            ),
            order_by=spec.pk_column,
            top=self.page_size,
        )
        ids = [int(row[spec.pk_column]) for row in rows if str(row.get(spec.pk_column) or "").isdigit()]
        if self.read_concurrency > 1 and len(ids) > 1:
            # The API has no bulk read of entities: overlap the per-record GETs so a page costs about
            # len(ids) / read_concurrency round trips of time instead of len(ids).
            with ThreadPoolExecutor(max_workers=min(self.read_concurrency, len(ids))) as pool:
                found = list(pool.map(lambda record_id: self._get_if_exists(obj, str(record_id)), ids))
        else:
            found = [self._get_if_exists(obj, str(record_id)) for record_id in ids]
        records = [record for record in found if record is not None]
        next_token = f"id:{ids[-1]}" if len(rows) >= self.page_size and ids else None
        next_token = check_next_token("SuperOffice", f"{spec.entity.lower()}.changes", page_token, next_token)
        return ChangePage(records=records, next_page_token=next_token)

    def _get_if_exists(self, obj: CrmObject, record_id: str) -> CrmRecord | None:
        try:
            return self.get(obj, record_id)
        except CrmNotFound:
            return None  # deleted between the archive query and the read: deletion detection will see it

    def deleted_since(self, obj: CrmObject, since: datetime) -> list[str]:
        spec = ENTITIES[obj]
        if spec.deleted_column is None:
            return []  # only the contact archive exposes a soft-delete time; others rely on webhooks + all_ids()
        deleted_column, pk = spec.deleted_column, spec.pk_column

        def fetch(after_id: int | None) -> Page[str, int]:
            rows = self._archive_rows(
                spec.entity,
                f"{spec.entity.lower()}.deleted",
                select=[pk],
                filter=odata.all_of(
                    odata.after_time(deleted_column, since - timedelta(seconds=1)),
                    odata.greater_than(pk, after_id) if after_id else None,
                ),
                order_by=pk,
                top=self.page_size,
            )
            page = [str(r[pk]) for r in rows if r.get(pk) not in (None, "")]
            return Page(page, int(page[-1]) if len(rows) >= self.page_size and page else None)

        return [i for page in pages(fetch, crm="SuperOffice", op=f"{spec.entity.lower()}.deleted") for i in page]

    def all_ids(self, obj: CrmObject) -> Iterable[str]:
        spec = ENTITIES[obj]
        return self._keyset_ids(spec.entity, f"{spec.entity.lower()}.ids", spec.pk_column)

    def _keyset_ids(self, archive: str, op: str, pk: str, base_filter: str | None = None) -> Iterator[str]:
        def fetch(after_id: int | None) -> Page[str, int]:
            rows = self._archive_rows(
                archive,
                op,
                select=[pk],
                filter=odata.all_of(base_filter, odata.greater_than(pk, after_id) if after_id else None) or None,
                order_by=pk,
                top=self.page_size,
            )
            page = [str(r[pk]) for r in rows if str(r.get(pk) or "").isdigit()]
            return Page(page, int(page[-1]) if len(rows) >= self.page_size and page else None)

        for page in pages(fetch, crm="SuperOffice", op=op):
            yield from page

    # --- SuperOffice-only reads (selections, favourites) ----------------------------------------------------------

    def selection_person_ids(self, selection_id: str) -> list[str]:
        """Persons in a static selection (person-based selections list persons; company-based ones list companies
        whose persons are not included here)."""
        data = self.client.request(
            "selection.members",
            "GET",
            f"Selection/{_int_id(selection_id)}/Members",
            params={"$select": "personId,contactId"},
        )
        return _unique(row.get("personId") for row in _rows(data))

    def selection_company_ids(self, selection_id: str) -> list[str]:
        data = self.client.request(
            "selection.members",
            "GET",
            f"Selection/{_int_id(selection_id)}/Members",
            params={"$select": "personId,contactId"},
        )
        return _unique(row.get("contactId") for row in _rows(data))

    def favourite_company_ids(self) -> list[str]:
        rows = self._archive_rows("Archive/contactfavourites", "archive.contactfavourites", select=["contactId"])
        return _unique(row.get("contactId") for row in rows)

    def favourite_person_ids(self) -> list[str]:
        rows = self._archive_rows("Archive/personfavourites", "archive.personfavourites", select=["personId"])
        return _unique(row.get("personId") for row in rows)

    def company_person_ids(self, company_id: str, *, include_retired: bool = False) -> list[str]:
        """Persons of one company; former employees (`Retired`) are left out unless asked for."""
        rows = self._archive_rows(
            "Person",
            "person.list",
            select=["personId", "retired"],
            filter=odata.eq("contactId", _int_id(company_id)),
            order_by="personId",
            top=self.page_size,
        )
        return _unique(row.get("personId") for row in rows if include_retired or not _truthy_cell(row.get("retired")))

    def favourite_company_person_ids(self) -> list[str]:
        """Current (not retired) persons at the signed-in user's favourite companies."""
        ids: list[str] = []
        for company_id in self.favourite_company_ids():
            ids += self.company_person_ids(company_id)
        return list(dict.fromkeys(ids))

    # --- webhooks -------------------------------------------------------------------------------------------------

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        body = {
            "Name": f"leadbridge {self.context.tenant_id}"[:100],
            "Events": events or DEFAULT_WEBHOOK_EVENTS,
            "TargetUrl": url,
            "Secret": secret,
            "State": "Active",
            "Type": "webhook",
        }
        return _webhook(self.client.request("webhook.create", "POST", "Webhook", json_body=body))

    def list_webhooks(self) -> list[WebhookRegistration]:
        return [_webhook(w) for w in self.client.request("webhook.list", "GET", "Webhook") or []]

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration:
        patch = [{"op": "replace", "path": "/State", "value": "Active"}]
        return _webhook(
            self.client.request(
                "webhook.patch",
                "PATCH",
                f"Webhook/{_int_id(webhook_id)}",
                json_body=patch,
                content_type="application/json-patch+json",
            )
        )

    def unregister_webhook(self, webhook_id: str) -> None:
        self.client.request("webhook.delete", "DELETE", f"Webhook/{_int_id(webhook_id)}")

    # --- helpers --------------------------------------------------------------------------------------------------

    def _record(self, obj: CrmObject, entity: Any) -> CrmRecord:
        if not isinstance(entity, Mapping) or ENTITIES[obj].id_key not in entity:
            raise CrmUnavailable(f"SuperOffice returned no {ENTITIES[obj].entity} entity")
        record = entity_to_record(obj, entity, self.custom_fields(obj))
        record.url = self.record_url(obj, record.id)
        return record

    def _write(
        self, obj: CrmObject, op: str, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> Any:
        try:
            return self.client.request(op, method, path, json_body=body, content_type=content_type)
        except CrmRejected as exc:
            self._forget_metadata(obj)
            # Name fields in our vocabulary, not SuperOffice's JSON keys.
            raise CrmRejected(exc.reason, fields=patch_paths_to_fields(obj, exc.fields), status=exc.status) from exc

    def _note_skipped(self, obj: CrmObject, skipped: list[str]) -> None:
        self._note_skipped_fields(skipped)  # not published / read-only in this tenant
        if skipped:
            log.info("superoffice %s write skipped fields not available in this tenant: %s", obj.value, skipped)

    def _archive_rows(
        self,
        archive: str,
        op: str,
        *,
        select: list[str],
        filter: str | None = None,
        order_by: str | None = None,
        top: int | None = None,
    ) -> list[dict[str, Any]]:
        params = odata.archive_params(select=select, filter=filter, order_by=order_by, top=top)
        return _rows(self.client.request(op, "GET", archive, params=params))

    def _company_from_row(self, row: Mapping[str, Any]) -> CrmRecord | None:
        company_id = row.get("contactId")
        if company_id in (None, ""):
            return None
        return CrmRecord(
            object=CrmObject.COMPANY,
            id=str(company_id),
            fields={
                "Name": row.get("name"),
                "Department": row.get("department") or None,
                "OrgNr": row.get("orgnr") or None,
                # Website and e-mail let export matching explain a domain match without reading each candidate.
                "Url": row.get("url") or None,
                "Email": row.get("email") or None,
            },
            url=self.record_url(CrmObject.COMPANY, str(company_id)),
        )


_SEARCH_COLUMNS = ["contactId", "name", "department", "orgnr", "url", "email", "updatedDate"]
# The combined match query asks for this many rows per wanted candidate: fewer back means nothing was cut off.
_COMBINED_TOP_FACTOR = 5


@dataclass(frozen=True)
class _Criteria:
    """What `search_companies` looks for, trimmed; `host` without `www.`."""

    org_nr: str | None
    name: str | None
    host: str | None

    @classmethod
    def of(cls, org_nr: str | None, name: str | None, domain: str | None) -> _Criteria:
        host = domain.strip().lower().removeprefix("www.") if domain and domain.strip() else None
        return cls((org_nr or "").strip() or None, (name or "").strip() or None, host)

    def clauses(self) -> list[str]:
        clauses = []
        if self.org_nr:
            clauses.append(odata.begins("orgnr", self.org_nr))  # `eq` on orgnr is undocumented; exact check in rank
        if self.name:
            clauses.append(odata.begins("name", self.name))
        if self.host:
            clauses += [odata.contains("email", "@" + self.host), odata.contains("url", self.host)]
        return clauses

    def rank(self, row: Mapping[str, Any]) -> int | None:
        """0 org number, 1 name, 2 domain (the per-criterion order); None for a row only an org-number prefix
        matched (another company's longer number)."""
        orgnr = str(row.get("orgnr") or "").strip()
        if self.org_nr and orgnr == self.org_nr:
            return 0
        if self.name and str(row.get("name") or "").casefold().startswith(self.name.casefold()):
            return 1
        if self.host and (
            "@" + self.host in str(row.get("email") or "").casefold()
            or self.host in str(row.get("url") or "").casefold()
        ):
            return 2
        if self.org_nr and orgnr.startswith(self.org_nr):
            return None
        return 3  # the CRM matched it by a rule looser than ours (e.g. accents): let the ranking judge it


def spec_for_event_entity(entity: str) -> EntitySpec | None:
    return BY_EVENT_ENTITY.get(entity.lower())


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, Mapping) and isinstance(data.get("value"), list):
        return [r for r in data["value"] if isinstance(r, dict)]
    raise CrmUnavailable("SuperOffice archive answer has no value list")


def _unique(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "", 0, "0")))


def _truthy_cell(value: Any) -> bool:
    return value in (True, 1, "1", "True", "true")


def _int_id(record_id: str | int) -> int:
    try:
        return int(str(record_id).strip())
    except ValueError as exc:
        raise CrmRejected(f"SuperOffice ids are numbers, not {record_id!r}") from exc


def _parse_token(token: str | None) -> int:
    if not token:
        return 0
    kind, _, value = token.partition(":")
    if kind != "id" or not value.isdigit():
        raise InvalidCursor(f"Not a SuperOffice page token: {token!r}")
    return int(value)


def _webhook(data: Any) -> WebhookRegistration:
    if not isinstance(data, Mapping) or data.get("WebhookId") in (None, 0):
        raise CrmUnavailable("SuperOffice returned no webhook")
    state = str(data.get("State") or "Unknown")
    return WebhookRegistration(
        id=str(data["WebhookId"]),
        url=str(data.get("TargetUrl") or ""),
        events=[str(e) for e in data.get("Events") or []],
        active=state == "Active",
        state=state,
    )
