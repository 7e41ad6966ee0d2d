"""Settings documents in the one table: an immutable item per version plus a `current` pointer.

Items (`T#{tenant}` / `SET#{crm}#v{n:08d}` and `SET#{crm}#current`) carry the document as JSON text, so it reads
back exactly as written. A save writes version n+1 and moves `current` in one transaction, on condition that
`current` is still at the version the caller read (the ETag): a stale write raises `PreconditionFailed`.
The version items are the audit trail: who changed which sections when.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.errors import PreconditionFailed
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.table import ITEM_NOT_EXISTS, SK, Condition, Table, settings_key, tenant_pk


class SettingsChange(BaseModel):
    """One saved version: who, when, what."""

    model_config = ConfigDict(defer_build=True)

    version: int
    updated_by: str
    updated_at: datetime
    sections: list[str] = Field(default_factory=list)  # top-level sections that differ from the previous version
    operation: str = "put"  # "put" or "patch"


class DynamoSettingsStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def current(self, tenant_id: str, crm: str) -> SettingsDocument | None:
        item = self._table.get(settings_key(tenant_id, crm), consistent=True)
        return None if item is None else SettingsDocument.model_validate_json(item["document"])

    def version(self, tenant_id: str, crm: str, version: int) -> SettingsDocument | None:
        item = self._table.get(settings_key(tenant_id, crm, version))
        return None if item is None else SettingsDocument.model_validate_json(item["document"])

    def save(self, tenant_id: str, document: SettingsDocument, change: SettingsChange) -> None:
        crm = document.crm
        body = document.model_dump_json()
        audit = {
            "version": change.version,
            "updated_by": change.updated_by,
            "updated_at": change.updated_at,
            "sections": change.sections,
            "operation": change.operation,
        }
        previous = change.version - 1
        pointer_condition = (
            ITEM_NOT_EXISTS
            if previous == 0
            else Condition("#v = :expected", names={"#v": "version"}, values={":expected": previous})
        )
        self._table.transact(
            [
                self._table.tx_put(
                    {**settings_key(tenant_id, crm, change.version), **audit, "document": body}, ITEM_NOT_EXISTS
                ),
                self._table.tx_put({**settings_key(tenant_id, crm), **audit, "document": body}, pointer_condition),
            ],
            on_conflict=PreconditionFailed,
            conflict_message=f"The settings changed meanwhile (version {previous} is no longer current); reload them "
            "and apply your change again.",
        )

    def history(self, tenant_id: str, crm: str, *, limit: int = 50) -> list[SettingsChange]:
        page = self._table.query(
            tenant_pk(tenant_id),
            sk_prefix=settings_key(tenant_id, crm, 0)[SK][: -len("00000000")],
            newest_first=True,
            limit=limit,
        )
        return [
            SettingsChange(
                version=item["version"],
                updated_by=item["updated_by"],
                updated_at=item["updated_at"],
                sections=item.get("sections") or [],
                operation=item.get("operation", "put"),
            )
            for item in page.items
        ]
