"""The SuperOffice connector's record writes (create, partial update, delete) and a company's persons."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.core import SuperOfficeCore, int_id
from leadbridge.crm.superoffice.mapping import (
    ENTITIES,
    FieldValueError,
    build_create_body,
    build_patch,
    needs_current_entity,
    patch_paths_to_fields,
)
from leadbridge.errors import CrmRejected
from leadbridge.models.crm import (
    CrmObject,
    CrmRecord,
)

log = logging.getLogger(__name__)


class RecordWrites(SuperOfficeCore):
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
        self._note_skipped(obj, plan.skipped + self._custom_fields_gone(obj, fields, entity))
        return self._record(obj, entity)

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        spec = ENTITIES[obj]
        path = f"{spec.entity}/{int_id(record_id)}"
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
        self._note_skipped(obj, plan.skipped + self._custom_fields_gone(obj, fields, entity))
        return self._record(obj, entity)

    def delete(self, obj: CrmObject, record_id: str) -> None:
        spec = ENTITIES[obj]
        self.client.request(f"{spec.entity.lower()}.delete", "DELETE", f"{spec.entity}/{int_id(record_id)}")

    def list_persons(self, company_id: str) -> list[CrmRecord]:
        rows = self._archive_rows(
            "Person",
            "person.list",
            select=["personId"],
            filter=odata.eq("contactId", int_id(company_id)),
            order_by="personId",
            top=self.page_size,
        )
        return [self.get(CrmObject.PERSON, str(row["personId"])) for row in rows if row.get("personId")]

    def _write(
        self, obj: CrmObject, op: str, method: str, path: str, body: Any, content_type: str = "application/json"
    ) -> Any:
        try:
            return self.client.request(op, method, path, json_body=body, content_type=content_type)
        except CrmRejected as exc:
            self._forget_metadata(obj)
            # Name fields in our vocabulary, not SuperOffice's JSON keys.
            raise CrmRejected(exc.reason, fields=patch_paths_to_fields(obj, exc.fields), status=exc.status) from exc

    def _custom_fields_gone(self, obj: CrmObject, sent: Mapping[str, Any], entity: Any) -> list[str]:
        """Schema drift: SuperOffice ignores a custom field it no longer has (deleted since its metadata was cached)
        and answers without it. Those fields are reported as skipped, and the metadata is read again next time."""
        answered = entity.get("CustomFields") if isinstance(entity, Mapping) else None
        if not isinstance(answered, Mapping):
            return []
        meta = self.custom_fields(obj)
        gone = [k for k in sent if k in meta and not k.startswith("x_") and not meta[k].read_only and k not in answered]
        if gone:
            log.info("superoffice %s: custom fields deleted in the tenant were ignored: %s", obj.value, gone)
            self._forget_metadata(obj)
        return gone

    def _note_skipped(self, obj: CrmObject, skipped: list[str]) -> None:
        self._note_skipped_fields(skipped)  # not published / read-only in this tenant
        if skipped:
            log.info("superoffice %s write skipped fields not available in this tenant: %s", obj.value, skipped)
