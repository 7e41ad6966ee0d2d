"""What every step of one started sync run works with (`RunScope`): the services, the run, its connector, settings and
sync marks, its budget and recorder; and the two ways a step brings CRM data in: a page of records, or a deletion,
through the inbound kernel, with the outcome tallied in the run; and `slices`, how a step goes through a long list with
a time check every `WorkerConfig.apply_slice` items."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from leadbridge.crm.base import Connector
from leadbridge.inbound.jobs import WorkerConfig
from leadbridge.inbound.kernel import Applied, InboundContext, apply_deletion, apply_records
from leadbridge.inbound.ports import WorkerServices
from leadbridge.inbound.run_budget import RunBudget
from leadbridge.inbound.run_recorder import RunRecorder
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.runs import SyncRun
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.checkpoints import SyncMarks

T = TypeVar("T")


@dataclass(frozen=True)
class RunScope:
    """One started run: built by the worker once the connection, settings, connector and marks are read."""

    svc: WorkerServices
    config: WorkerConfig
    run: SyncRun
    connector: Connector
    settings: SettingsDocument
    marks: SyncMarks
    context: InboundContext
    budget: RunBudget
    recorder: RunRecorder

    def apply_page(self, obj: CrmObject, records: list[CrmRecord]) -> None:
        """One page: a record that cannot be brought in fails alone (logged by the kernel); a store failure
        raises, and the page is read again from the checkpoint."""
        counts = self.run.counts_for(obj)
        counts.read += len(records)
        for record, result in zip(records, apply_records(self.svc.inbound, self.context, records), strict=True):
            if result.outcome is Applied.FAILED:
                counts.failed += 1
                self.recorder.error(result.code or "internal_error", result.reason or "", obj, record.id)
            else:
                self.recorder.tally(obj, result)

    def slices(self, items: Sequence[T], *, check_first: bool = True) -> Iterator[Sequence[T]]:
        """`items` in slices of `config.apply_slice`, the budget checked before each (before the first only with
        `check_first`): a long list is cut off between two slices (`RunStopped`), never in the middle of one."""
        size = max(1, self.config.apply_slice)
        for start in range(0, len(items), size):
            if start > 0 or check_first:
                self.budget.check_room()
            yield items[start : start + size]

    def delete(self, obj: CrmObject, crm_id: str) -> None:
        self.recorder.tally(obj, apply_deletion(self.svc.inbound, self.context, obj, crm_id))
