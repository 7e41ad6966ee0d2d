"""The SuperOffice connector's incremental reads: changes since a time, soft deletions, and every live id for
reconciliation.

Changes are keyset paged on the primary key (`pk gt last`, ordered by it), one archive query per page. Companies,
persons and sales are built from that page's rows (`archive_records`: every standard field with a column and every
published custom field, in `$mode=Full`), so a page of 1,000 changed records costs one request. Activities have no
archive columns for their title, times and type, so their page lists ids and each is read with `GET` (`read_concurrency`
at a time)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from leadbridge.crm.paging import Page, check_next_token, pages
from leadbridge.crm.superoffice import archive_records, odata
from leadbridge.crm.superoffice.core import SuperOfficeCore, rows_of
from leadbridge.crm.superoffice.mapping import (
    ENTITIES,
)
from leadbridge.errors import CrmRejected, InvalidCursor
from leadbridge.models.crm import (
    ChangePage,
    CrmObject,
    CrmRecord,
)

log = logging.getLogger(__name__)


def _parse_token(token: str | None) -> int:
    if not token:
        return 0
    kind, _, value = token.partition(":")
    if kind != "id" or not value.isdigit():
        raise InvalidCursor(f"Not a SuperOffice page token: {token!r}")
    return int(value)


class IncrementalReads(SuperOfficeCore):
    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        spec = ENTITIES[obj]
        after_id = _parse_token(page_token)
        filter = odata.all_of(
            odata.after_time(spec.updated_column, since - timedelta(seconds=1)),
            odata.greater_than(spec.pk_column, after_id) if after_id else None,
        )
        if archive_records.is_archive_object(obj):
            rows = self._change_rows(obj, filter)
            ids = [i for i in (archive_records.record_id(row, obj) for row in rows) if i]
            records = [self._archive_record(obj, row) for row in rows if archive_records.record_id(row, obj)]
        else:
            rows = self._archive_rows(
                spec.entity,
                f"{spec.entity.lower()}.changes",
                select=[spec.pk_column, spec.updated_column],
                filter=filter,
                order_by=spec.pk_column,
                top=self.page_size,
            )
            ids = [int(row[spec.pk_column]) for row in rows if str(row.get(spec.pk_column) or "").isdigit()]
            records = self._read_each(obj, ids)
        next_token = f"id:{ids[-1]}" if len(rows) >= self.page_size and ids else None
        next_token = check_next_token("SuperOffice", f"{spec.entity.lower()}.changes", page_token, next_token)
        return ChangePage(records=records, next_page_token=next_token)

    def _change_rows(self, obj: CrmObject, filter: str) -> list[dict[str, Any]]:
        """One page of change rows with every column a record needs. A custom field deleted in the tenant since its
        metadata was cached is an unknown column to the archive: the metadata is read again and the page asked once
        more."""
        spec = archive_records.ARCHIVES[obj]
        for attempt in (1, 2):
            params = odata.archive_params(
                select=archive_records.select_columns(obj, self.custom_fields(obj)),
                filter=filter,
                order_by=spec.pk,
                top=self.page_size,
            )
            params["$mode"] = "Full"  # list columns as ids (Slim shows their display text)
            try:
                op = f"{ENTITIES[obj].entity.lower()}.changes"
                data = self.client.request(op, "GET", spec.archive, params=params)
            except CrmRejected:
                if attempt == 2 or not self.custom_fields(obj):
                    raise
                log.info("superoffice %s archive refused a column; reading the custom fields again", obj.value)
                self._forget_metadata(obj)
                continue
            return rows_of(data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _archive_record(self, obj: CrmObject, row: dict[str, Any]) -> CrmRecord:
        record = archive_records.row_to_record(
            obj, row, self.custom_fields(obj), our_associate=self.context.crm_user_id
        )
        record.url = self.record_url(obj, record.id)
        return record

    def _read_each(self, obj: CrmObject, ids: list[int]) -> list[CrmRecord]:
        if self.read_concurrency > 1 and len(ids) > 1:
            # No archive carries these records' fields: overlap the per-record GETs so a page costs about
            # len(ids) / read_concurrency round trips of time instead of len(ids).
            with ThreadPoolExecutor(max_workers=min(self.read_concurrency, len(ids))) as pool:
                found = list(pool.map(lambda record_id: self._get_if_exists(obj, str(record_id)), ids))
        else:
            found = [self._get_if_exists(obj, str(record_id)) for record_id in ids]
        return [record for record in found if record is not None]

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

