"""Optional connector capability: write several related records all or none, in one request.

A first export creates a company, its persons and, on a lead event, the deal. Written one by one, a refusal of a
later record leaves the earlier ones in the CRM (a company without its persons, an Account without its Opportunity).
A CRM that can write them in one transaction (Salesforce `POST /composite` with `allOrNone: true`) implements
`SupportsWriteTogether`; the export checks `isinstance` and otherwise writes one by one, as before.

A bulk export goes further: each lead's writes (new records, and the changes to records it is linked to) are held
back and the writes of a window of leads go in as few requests as the CRM allows (`SupportsWriteBatches`), each
lead's all or none where the CRM can (Salesforce Composite Graph). A CRM that writes each record on its own (HubSpot's
batch endpoints) says of each lead what it wrote and what it refused (`PartlyWritten`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from leadbridge.errors import CrmError
from leadbridge.models.crm import CrmObject, CrmRecord


@dataclass(frozen=True)
class NewRecord:
    """One record to create. `ref` names it in this batch (and in errors: "person_1"); `parent_ref` / `person_ref`
    link it to another record of the same batch, whose id the CRM fills in."""

    ref: str
    obj: CrmObject
    fields: Mapping[str, Any]
    parent_ref: str | None = None
    person_ref: str | None = None
    label: str = field(default="", compare=False)  # what to call it in a refusal ("person 2 (ann@acme.dk)")
    parent_id: str | None = None  # the parent when it exists in the CRM already (a new person of a linked company)


@dataclass(frozen=True)
class RecordUpdate:
    """Changed fields of an existing record; `ref` names it in its batch, as `NewRecord.ref` does."""

    ref: str
    obj: CrmObject
    crm_id: str
    fields: Mapping[str, Any]
    label: str = field(default="", compare=False)


RecordWrite = NewRecord | RecordUpdate


@dataclass(frozen=True)
class PartlyWritten:
    """What a CRM that writes each record on its own made of one batch: the records written and the ones refused, by
    `ref`. A record whose parent (`parent_ref`) was refused is in neither: it was not sent."""

    written: dict[str, CrmRecord]
    refused: dict[str, CrmError]


BatchAnswer = dict[str, CrmRecord] | CrmError | PartlyWritten  # all written; nothing written; some of it


@runtime_checkable
class SupportsWriteBatches(Protocol):
    """Write the held-back writes of many leads (a bulk export's window) in as few requests as the CRM allows."""

    def can_write_together(self, records: Sequence[RecordWrite]) -> bool:
        """Whether these writes (a bulk export's lead) fit one batch of `write_batches_together`; False → the export
        writes them as a single export does."""
        ...

    def write_batches_together(self, batches: Sequence[Sequence[RecordWrite]]) -> Sequence[BatchAnswer]:
        """Several such batches (a bulk export's leads) in as few requests as the CRM allows: per batch, its records
        as written (by `ref`), the error that left nothing of it, or (a CRM without transactions) `PartlyWritten`.
        Records of one batch are written parents first: a record whose parent was refused is not sent."""
        ...


@runtime_checkable
class SupportsWriteTogether(SupportsWriteBatches, Protocol):
    """Write related records in one all-or-none request; a batch of `write_batches_together` is all or none too
    (never `PartlyWritten`)."""

    def can_create_together(self, records: Sequence[NewRecord]) -> bool:
        """Whether this batch fits one request (object kinds, counts); False → the caller writes one by one."""
        ...

    def create_together(self, records: Sequence[NewRecord]) -> dict[str, CrmRecord]:
        """The created records by `ref`. On any refusal nothing is left in the CRM and the error names the record
        (`details.record`, its `ref`) and the fields refused."""
        ...
