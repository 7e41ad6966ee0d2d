"""The sync log: one entry per record-level operation (what was written to or read from which CRM, why, and how
it went), queryable per tenant and per lead. Entries are also the API's output model for `GET /sync-log`."""

from __future__ import annotations

import random
import time as _time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from leadbridge.errors import LeadbridgeError
from leadbridge.models.base import DeferredModel
from leadbridge.models.crm import CrmObject

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two digits per 10 bits, looked up: a sync writes an entry per changed record, and the digit-by-digit loop was 3 % of
# an inbound run.
_DIGIT_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def new_entry_id(at: datetime | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits in Crockford base32; sorts by time, unique without
    coordination."""
    ms = int(at.timestamp() * 1000) if at else _time.time_ns() // 1_000_000
    # Unique, not secret: Python's generator (seeded from the OS, again in a forked child) instead of a system call
    # per entry.
    value = (ms << 80) | random.getrandbits(80)
    # 26 digits: 130 bits, the top two zero.
    return "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def stable_entry_id(at: datetime, seed: bytes) -> str:
    """A ULID whose 80 random bits come from `seed`: the same entry id for the same event, however often it is
    logged (a conditional write then keeps one)."""
    value = (int(at.timestamp() * 1000) << 80) | int.from_bytes(seed[:10], "big")
    return "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


class Direction(StrEnum):
    TO_CRM = "to_crm"
    FROM_CRM = "from_crm"


class Trigger(StrEnum):
    EXPORT = "export"  # a user exported a lead
    LEAD_EVENT = "lead_event"  # the app reported a lead lifecycle event (won, lost, deleted, ...)
    SCHEDULE = "schedule"  # a scheduled sync run (the dispatcher queued it)
    MANUAL = "manual"  # a sync run an admin started (`POST /sync-runs`), as `/sync-runs` names it
    WEBHOOK = "webhook"  # the CRM notified us of a change
    CONNECTION = "connection"  # connect, token refresh, disconnect
    SETTINGS = "settings"  # an admin changed the integration settings


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    LINK = "link"  # matched an existing CRM record and linked it to the lead
    CONVERT = "convert"  # converted the lead's CRM lead (Salesforce Lead mode); `match`: what it became
    UNLINK = "unlink"
    SKIP = "skip"
    DELETE = "delete"
    READ = "read"  # pulled a CRM change into the app
    REFRESH_TOKEN = "refresh_token"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    SETTINGS_CHANGED = "settings_changed"  # `details`: version, operation, sections; `actor`: who
    SYNC_RUN = "sync_run"  # a sync run as a whole failed (or was dead-lettered); `run_id`, `details.attempt`
    SYNC_SELECTION = "sync_selection"  # one selection of a run could not be read; `details.selection_id`
    PUBLISH_EVENTS = "publish_events"  # changes on the feed whose bus events were not delivered; `details.change_ids`


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


class LogError(DeferredModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(description="leadbridge error code, e.g. `crm_rejected`, `needs_reauth`.")
    message: str
    cause: str | None = Field(default=None, description="The CRM's own reason or status, when there is one.")
    hint: str | None = Field(default=None, description="What an admin can do about it, when there is something.")

    @classmethod
    def of(cls, exc: LeadbridgeError) -> LogError:
        """A failure as the sync log shows it: its code and message, and the CRM's own reason or status when the
        CRM refused it."""
        cause = getattr(exc, "reason", None) or exc.details.get("crm_status")
        return cls(code=exc.code, message=exc.message, cause=None if cause is None else str(cause))


class SkippedField(DeferredModel):
    model_config = ConfigDict(frozen=True)

    field: str
    reason: str = Field(description="Why the field was not written, e.g. `not in CRM`, `owned by CRM`, `unchanged`.")


class SyncLogEntry(DeferredModel):
    """One record-level operation."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_entry_id, description="Time-sortable unique id (ULID).")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant: str
    crm: str = Field(description="The CRM of the connection, e.g. `superoffice`.")
    direction: Direction
    trigger: Trigger
    action: Action
    outcome: Outcome
    object: CrmObject | None = Field(default=None, description="The CRM object kind; none for connection events.")
    app_id: str | None = Field(default=None, description="The lead id in the app.")
    crm_id: str | None = Field(default=None, description="The record id in the CRM.")
    error: LogError | None = None
    fields_written: list[str] = Field(default_factory=list)
    fields_skipped: list[SkippedField] = Field(default_factory=list)
    match: dict[str, Any] | None = Field(default=None, description="How the CRM record was matched, when it was.")
    crm_calls: int = Field(default=0, ge=0, description="CRM API calls spent on this operation.")
    correlation_id: str | None = None
    run_id: str | None = None
    actor: str | None = Field(default=None, description="Who did it, when a person did (e.g. a settings change).")
    details: dict[str, Any] | None = Field(
        default=None, description="Operation-specific facts, e.g. the version and sections of a settings change."
    )


class SyncLogPage(DeferredModel):
    """A page of the sync log, newest first."""

    items: list[SyncLogEntry]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null when there are no more entries."
    )
