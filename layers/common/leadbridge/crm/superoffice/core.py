"""What every part of the SuperOffice connector shares: the tenant's client (through the shared transport), field
metadata (published custom fields, column lengths; cached per connector and in the container's `MetadataCache`),
reading one record, the archive query, and the encodings of ids and archive cells."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

from leadbridge.crm.base import ConnectionContext, TokenSource
from leadbridge.crm.http import RetryingSender
from leadbridge.crm.metadata_cache import MetadataCache
from leadbridge.crm.reporting import TransportReporting
from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.archive_records import same_associate
from leadbridge.crm.superoffice.client import SuperOfficeClient
from leadbridge.crm.superoffice.fields import (
    STANDARD_FIELDS,
    UDEF_TEXT_LENGTHS,
    UDEF_TYPES,
    Kind,
)
from leadbridge.crm.superoffice.mapping import (
    ENTITIES,
    CustomFieldMeta,
    entity_to_record,
)
from leadbridge.crm.transport import CrmTransport
from leadbridge.errors import CrmNotFound, CrmRejected, CrmUnavailable
from leadbridge.models.crm import (
    CrmObject,
    CrmRecord,
    FieldType,
)

log = logging.getLogger(__name__)


_M = TypeVar("_M")


class SuperOfficeCore(TransportReporting):
    """The state of one SuperOffice connector and the reads every job of it builds on."""

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

    def get(self, obj: CrmObject, record_id: str) -> CrmRecord:
        spec = ENTITIES[obj]
        entity = self.client.request(f"{spec.entity.lower()}.get", "GET", f"{spec.entity}/{int_id(record_id)}")
        return self._record(obj, entity)

    def _get_if_exists(self, obj: CrmObject, record_id: str) -> CrmRecord | None:
        try:
            return self.get(obj, record_id)
        except CrmNotFound:
            return None  # deleted between the archive query and the read: deletion detection will see it

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        base = self.api_base.removesuffix("/api")  # https://sod2.superoffice.com/Cust12345
        return f"{base}/default.aspx?{ENTITIES[obj].ui_param}={url_quote(str(record_id))}"

    def _record(self, obj: CrmObject, entity: Any) -> CrmRecord:
        if not isinstance(entity, Mapping) or ENTITIES[obj].id_key not in entity:
            raise CrmUnavailable(f"SuperOffice returned no {ENTITIES[obj].entity} entity")
        record = entity_to_record(obj, entity, self.custom_fields(obj))
        record.url = self.record_url(obj, record.id)
        updated_by = entity.get("UpdatedBy")
        updated_by_id = updated_by.get("AssociateId") if isinstance(updated_by, Mapping) else None
        record.modified_by_us = same_associate(
            str(updated_by_id) if updated_by_id not in (None, 0) else None, self.context.crm_user_id
        )
        return record

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
        return rows_of(self.client.request(op, "GET", archive, params=params))


def rows_of(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, Mapping) and isinstance(data.get("value"), list):
        return [r for r in data["value"] if isinstance(r, dict)]
    raise CrmUnavailable("SuperOffice archive answer has no value list")


def unique_ids(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "", 0, "0")))


def truthy_cell(value: Any) -> bool:
    return value in (True, 1, "1", "True", "true")


def int_id(record_id: str | int) -> int:
    try:
        return int(str(record_id).strip())
    except ValueError as exc:
        raise CrmRejected(f"SuperOffice ids are numbers, not {record_id!r}") from exc
