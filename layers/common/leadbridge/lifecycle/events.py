"""Lead lifecycle events from the app (issue 6, seeds 000/001): created, stage changed, won, lost, deleted,
transferred — applied to the tenant's CRM under the settings of its connection.

`handle_event` (HTTP route and EventBridge consumer):
1. Takes the lead's lease (`export.lead_lease`), so an event and an export of the same lead never run together.
2. A replayed `event_id` returns the first outcome. An event older than the last one applied to the lead's deal
   (`occurred_at` against the deal link's `last_event_at`) is skipped: it never overrides a newer state.
3. Selective-sync rules (`rules.evaluate`) decide whether a lead not yet in the CRM syncs; linked leads keep syncing.
4. created / stage_changed: before `status_mapping.create_at_stage` nothing is sent. At or after it the company and
   persons are exported (`export_lead`, mode `auto`; only possible matches → outcome `needs_decision`) and the deal is
   created once under the company (link: object deal, app id = lead id) with the mapped stage/status; later changes
   write only the deal fields that differ.
   won → the CRM's won status (`on_won`), creating the deal first when the lead never reached the CRM;
   lost / deleted → lost status, delete, or nothing (`on_lost` / `on_deleted`);
   transferred → deal and company owner = the mapped CRM user (`owners.user_map`, else `default_crm_user`).
5. Every event is logged per record with its CRM calls. A retryable CRM failure (RateLimited, CrmUnavailable) stores
   a pending outbound item and answers `queued`; `retry_pending_outbound` (the scheduled worker) applies it later with
   exponential backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadbridge.crm.base import Connector
from leadbridge.crm.defaults import profile
from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    CrmError,
    CrmUnavailable,
    InvalidInput,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.export import (
    CompanyResult,
    ExportRequest,
    ExportResult,
    ExportServices,
    MatchResult,
    PersonResult,
    RecordAction,
    export_lead,
    lead_lease,
    one_call,
)
from leadbridge.mapping import plan_lead
from leadbridge.mapping.hashing import content_hash, field_hashes
from leadbridge.mapping.rules import evaluate
from leadbridge.models.crm import CrmObject, StageKind
from leadbridge.models.lead import Lead
from leadbridge.models.settings import OnLostOrDeleted, OnTransferred, OnWon, SettingsDocument
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SkippedField, SyncLogEntry, Trigger
from leadbridge.models.time import as_utc
from leadbridge.store.links import RecordLink
from leadbridge.store.outbound import PendingOutbound

log = logging.getLogger(__name__)

RETRYABLE = (RateLimited, CrmUnavailable)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 10  # then the event is dropped and logged as failed
DELETED = "deleted"  # `match` of a deal link whose CRM deal leadbridge deleted (kept for event ordering)


# --- ports --------------------------------------------------------------------------------------------------------


class Outbound(Protocol):
    def add(self, item: PendingOutbound) -> None: ...

    def save(self, item: PendingOutbound) -> None: ...

    def remove(self, item: PendingOutbound) -> None: ...

    def pending(self, tenant: str, crm: str, *, limit: int | None = None) -> list[PendingOutbound]: ...


class Processed(Protocol):
    def get(self, tenant: str, crm: str, lead_id: str, event_id: str) -> str | None: ...

    def remember(self, tenant: str, crm: str, lead_id: str, event_id: str, result_json: str) -> str: ...


@dataclass
class LifecycleServices:
    export: ExportServices
    outbound: Outbound
    processed: Processed


# --- API contracts ------------------------------------------------------------------------------------------------


class LeadEventType(StrEnum):
    CREATED = "created"
    STAGE_CHANGED = "stage_changed"
    WON = "won"
    LOST = "lost"
    DELETED = "deleted"
    TRANSFERRED = "transferred"


class LeadEvent(BaseModel):
    """Something that happened to a lead in the app."""

    model_config = ConfigDict(extra="forbid")

    type: LeadEventType
    lead: Lead = Field(description="The lead as it is after the event.")
    stage: str | None = Field(
        default=None, min_length=1, max_length=100, description="The new stage (stage_changed); default `lead.stage`."
    )
    owner: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The new owner's app user id (transferred); default `lead.owner`.",
    )
    occurred_at: datetime | None = Field(
        default=None, description="When it happened in the app (ISO 8601; no zone = UTC). Default: when received."
    )
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[^#]+$",
        description="The app's id of this event: a second delivery returns the first outcome (kept 7 days).",
    )


class LeadEventMessage(BaseModel):
    """`detail` of a `LeadEvent` the app puts on its EventBridge bus (docs/events.md)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(min_length=1, max_length=200, pattern=r"^[^#]+$")
    crm: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    lead_id: str = Field(min_length=1, max_length=200, pattern=r"^[^#~]+$")
    event: LeadEvent


class LeadEventOutcome(StrEnum):
    APPLIED = "applied"
    SKIPPED = "skipped"
    NEEDS_DECISION = "needs_decision"
    QUEUED = "queued"


class DealAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


class DealResult(BaseModel):
    crm_id: str
    url: str | None = None
    action: DealAction
    fields_written: list[str] = Field(default_factory=list)


class RetryInfo(BaseModel):
    attempts: int
    next_attempt_at: datetime
    reason: str


class LeadEventResult(BaseModel):
    outcome: LeadEventOutcome = Field(
        description="`applied`; `skipped` (see `reason`); `needs_decision`: only possible company matches, export the "
        "lead with a choice; `queued`: the CRM is unavailable, leadbridge retries (see `retry`)."
    )
    event_type: LeadEventType
    event_id: str | None = None
    lead_id: str
    crm: str
    reason: str | None = None
    company: CompanyResult | None = None
    persons: list[PersonResult] = Field(default_factory=list)
    deal: DealResult | None = None
    match: MatchResult | None = Field(default=None, description="The candidates, when the outcome is needs_decision.")
    retry: RetryInfo | None = None
    log_entry_id: str | None = None
    crm_calls: int = 0
    replayed: bool = Field(default=False, description="True when this is the stored outcome of an earlier delivery.")


class RetryCounts(BaseModel):
    due: int = 0  # items whose time had come, up to the budget
    applied: int = 0  # reached the CRM (or turned out to need nothing: skipped, stale)
    rescheduled: int = 0  # failed again, retryably
    dropped: int = 0  # failed for good or ran out of attempts (logged)
    busy: int = 0  # the lead was being exported right now; left for the next run
    remaining: int = 0  # still pending after this run


# --- entry points -------------------------------------------------------------------------------------------------


def check_event(event: LeadEvent, lead_id: str | None = None) -> None:
    """Domain checks pydantic cannot express, as 422s naming the field."""
    errors: list[dict[str, Any]] = []
    if lead_id is not None and event.lead.id != lead_id:
        errors.append(
            {"loc": ["body", "lead", "id"], "type": "mismatch", "message": "must equal the lead id in the path"}
        )
    if event.type is LeadEventType.STAGE_CHANGED and not (event.stage or event.lead.stage):
        errors.append({"loc": ["body", "stage"], "type": "missing", "message": "stage_changed needs the new stage"})
    if event.type is LeadEventType.TRANSFERRED and not (event.owner or event.lead.owner):
        errors.append({"loc": ["body", "owner"], "type": "missing", "message": "transferred needs the new owner"})
    if errors:
        raise InvalidInput("Invalid lead event: " + "; ".join(".".join(e["loc"]) for e in errors), errors=errors)


def handle_event(
    svc: LifecycleServices,
    tenant: str,
    event: LeadEvent,
    *,
    crm: str | None = None,
    correlation_id: str | None = None,
) -> LeadEventResult:
    """Apply one lead event; see the module docstring. Raises ExportInProgress (409) while the lead is busy."""
    check_event(event)
    export = one_call(svc.export)  # the settings and the connection read once for this event
    crm = crm or export.active_crm(tenant)
    lead_id = event.lead.id
    received_at = export.clock()
    if event.occurred_at is None:
        event = event.model_copy(update={"occurred_at": received_at})
    with lead_lease(export, tenant, crm, lead_id):
        if event.event_id:
            first = svc.processed.get(tenant, crm, lead_id, event.event_id)
            if first is not None:
                return LeadEventResult.model_validate_json(first).model_copy(update={"replayed": True})
        try:
            result = _apply(export, tenant, crm, event, correlation_id)
        except RETRYABLE as exc:
            result = defer(svc, tenant, crm, event, exc)
        if event.event_id and result.outcome is not LeadEventOutcome.NEEDS_DECISION:
            # needs_decision is not final: once the user has linked the lead, a redelivery should create the deal.
            kept = svc.processed.remember(tenant, crm, lead_id, event.event_id, result.model_dump_json())
            result = LeadEventResult.model_validate_json(kept)
        return result


def retry_pending_outbound(
    svc: LifecycleServices, tenant: str, crm: str, *, now: datetime, budget: int, correlation_id: str | None = None
) -> RetryCounts:
    """Apply the connection's pending lead events whose time has come, oldest event first, at most `budget`.

    Success (or a skip) removes the item; a retryable failure or a lost connection reschedules it with exponential
    backoff (honouring the CRM's Retry-After); any other failure, or the last attempt, drops it with a failed log
    entry. A lead being exported right now is left for the next run.
    """
    counts = RetryCounts()
    pending = svc.outbound.pending(tenant, crm)
    for item in pending:
        if item.next_attempt_at > now:
            counts.remaining += 1
            continue
        if counts.due >= budget:
            counts.remaining += 1
            continue
        counts.due += 1
        try:
            event = LeadEvent.model_validate(item.event)
        except ValidationError:
            log.warning("dropping an unreadable pending lead event", extra={"lead_id": item.lead_id})
            svc.outbound.remove(item)
            counts.dropped += 1
            continue
        try:
            with lead_lease(svc.export, tenant, crm, item.lead_id):
                _apply(svc.export, tenant, crm, event, correlation_id, attempt=item.attempts + 1)
        except Conflict as exc:
            if exc.code == "export_in_progress":
                counts.busy += 1
                counts.remaining += 1
                continue
            _drop(svc, item, exc, counts)
            continue
        except (*RETRYABLE, ConnectionMissing, NeedsReauth, StoreUnavailable) as exc:
            item.attempts += 1
            item.last_error = LogError(code=exc.code, message=exc.message)
            if item.attempts >= MAX_ATTEMPTS:
                _drop(svc, item, exc, counts)
                continue
            item.next_attempt_at = now + backoff(item.attempts, getattr(exc, "retry_after", None))
            svc.outbound.save(item)
            counts.rescheduled += 1
            counts.remaining += 1
            continue
        except CrmError as exc:
            _drop(svc, item, exc, counts)
            continue
        svc.outbound.remove(item)
        counts.applied += 1
    return counts


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... capped at 1 h; at least the CRM's Retry-After."""
    delay: timedelta = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


# --- applying one event -------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    svc: ExportServices
    tenant: str
    crm: str
    event: LeadEvent
    lead: Lead
    occurred_at: datetime
    settings: SettingsDocument
    connector: Callable[[], Connector]
    correlation_id: str | None
    attempt: int

    def result(self, outcome: LeadEventOutcome, **kw: Any) -> LeadEventResult:
        return LeadEventResult(
            outcome=outcome, event_type=self.event.type, event_id=self.event.event_id, lead_id=self.lead.id,
            crm=self.crm, **kw,
        )  # fmt: skip

    def entry(self, **kw: Any) -> SyncLogEntry:
        match = {
            "event": self.event.type.value,
            "event_id": self.event.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            **({"attempt": self.attempt} if self.attempt else {}),
            **kw.pop("match", {}),
        }
        return SyncLogEntry(
            tenant=self.tenant,
            crm=self.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.LEAD_EVENT,
            app_id=self.lead.id,
            correlation_id=self.correlation_id,
            match=match,
            **kw,
        )

    def skip(self, reason: str, obj: CrmObject | None = CrmObject.DEAL, crm_id: str | None = None) -> LeadEventResult:
        entry = self.entry(
            action=Action.SKIP,
            outcome=Outcome.SKIPPED,
            object=obj,
            crm_id=crm_id,
            fields_skipped=[SkippedField(field="*", reason=reason)],
        )
        self.svc.sync_log.write(entry)
        return self.result(LeadEventOutcome.SKIPPED, reason=reason, log_entry_id=entry.id)


def _apply(
    svc: ExportServices,
    tenant: str,
    crm: str,
    event: LeadEvent,
    correlation_id: str | None,
    *,
    attempt: int = 0,
) -> LeadEventResult:
    svc = one_call(svc)
    settings = svc.settings(tenant, crm)
    lead = event.lead.model_copy(
        update={"stage": event.stage or event.lead.stage, "owner": event.owner or event.lead.owner}
    )
    occurred_at = as_utc(event.occurred_at or svc.clock())
    built: list[Connector] = []

    def connector() -> Connector:  # one connector per event, built only when the CRM is needed
        if not built:
            built.append(svc.connector(tenant, crm))
        return built[0]

    ctx = _Ctx(svc, tenant, crm, event, lead, occurred_at, settings, connector, correlation_id, attempt)
    deal_link = svc.links.get(tenant, crm, CrmObject.DEAL, lead.id)
    if deal_link is not None and deal_link.last_event_at is not None and occurred_at < as_utc(deal_link.last_event_at):
        return ctx.skip(
            f"older than the last event applied to this lead ({deal_link.last_event_at.isoformat()}); "
            "a newer state is never overridden",
            crm_id=deal_link.crm_id,
        )
    live_deal = deal_link if deal_link is not None and deal_link.match != DELETED else None
    company_link = svc.links.get(tenant, crm, CrmObject.COMPANY, lead.id)
    company, deal = lead.company(), lead.deal()
    persons = lead.persons()
    decision = evaluate(
        settings.selective_sync,
        {CrmObject.COMPANY: company.model_dump(), CrmObject.DEAL: deal.model_dump()}
        | ({CrmObject.PERSON: persons[0].model_dump()} if persons else {}),
        status_mapping=settings.status_mapping,
        linked=company_link is not None or live_deal is not None,
    )
    if not decision.sync:
        return ctx.skip("selective sync rules do not match: " + "; ".join(decision.reasons))
    try:
        kind = event.type
        if kind in (LeadEventType.CREATED, LeadEventType.STAGE_CHANGED):
            return _sync_stage(ctx, live_deal, deal_link)
        if kind is LeadEventType.WON:
            return _won(ctx, live_deal, deal_link)
        if kind in (LeadEventType.LOST, LeadEventType.DELETED):
            return _lost_or_deleted(ctx, live_deal)
        return _transferred(ctx, live_deal, company_link)
    except CrmError as exc:
        if "log_entry_id" not in exc.details:  # export_lead logged its own failures; this one is the deal's
            entry = ctx.entry(
                action=Action.UPDATE if live_deal else Action.CREATE,
                outcome=Outcome.FAILED,
                object=CrmObject.DEAL,
                crm_id=live_deal.crm_id if live_deal else None,
                error=LogError(code=exc.code, message=exc.message, cause=_cause(exc)),
                crm_calls=_calls(built),
            )
            _write_quietly(svc, entry)
            exc.details["log_entry_id"] = entry.id
        raise


def _sync_stage(ctx: _Ctx, live_deal: RecordLink | None, deal_link: RecordLink | None) -> LeadEventResult:
    mapping = ctx.settings.status_mapping
    if live_deal is None and not mapping.creates_record(ctx.lead.stage):
        return ctx.skip(f"stage {ctx.lead.stage!r} is before create stage {mapping.create_at_stage!r}")
    return _export_and_deal(ctx, live_deal, deal_link, {})


def _won(ctx: _Ctx, live_deal: RecordLink | None, deal_link: RecordLink | None) -> LeadEventResult:
    if ctx.settings.status_mapping.on_won is OnWon.NOTHING:
        return ctx.skip("status_mapping.on_won is 'nothing'")
    target = _status_field(ctx, StageKind.WON)
    if isinstance(target, str):
        return ctx.skip(target)
    if live_deal is None:
        # Won before it ever reached the CRM (e.g. created while the CRM was down): create it, already won.
        return _export_and_deal(ctx, None, deal_link, target)
    return _write_deal(ctx, live_deal, target)


def _lost_or_deleted(ctx: _Ctx, live_deal: RecordLink | None) -> LeadEventResult:
    lost = ctx.event.type is LeadEventType.LOST
    policy = ctx.settings.status_mapping.on_lost if lost else ctx.settings.status_mapping.on_deleted
    setting = "on_lost" if lost else "on_deleted"
    if policy is OnLostOrDeleted.NOTHING:
        return ctx.skip(f"status_mapping.{setting} is 'nothing'")
    if live_deal is None:
        return ctx.skip("the lead has no deal in the CRM")
    if policy is OnLostOrDeleted.DELETE:
        return _delete_deal(ctx, live_deal)
    target = _status_field(ctx, StageKind.LOST)
    if isinstance(target, str):
        return ctx.skip(target)
    return _write_deal(ctx, live_deal, target)


def _transferred(ctx: _Ctx, live_deal: RecordLink | None, company_link: RecordLink | None) -> LeadEventResult:
    if ctx.settings.status_mapping.on_transferred is OnTransferred.NOTHING:
        return ctx.skip("status_mapping.on_transferred is 'nothing'")
    owners = ctx.settings.owners
    app_user = ctx.lead.owner or ""
    crm_user = owners.user_map.get(app_user) or owners.default_crm_user
    owner_field = profile(ctx.crm).owner_field
    if owner_field is None:
        return ctx.skip(f"{ctx.crm} records have no owner field leadbridge can set")
    if crm_user is None:
        return ctx.skip(
            f"no CRM user for app user {app_user!r}: add it to owners.user_map or set owners.default_crm_user"
        )
    if live_deal is None and company_link is None:
        return ctx.skip("the lead has no record in the CRM")
    result = _write_deal(ctx, live_deal, {owner_field: crm_user}) if live_deal else None
    company = _write_company_owner(ctx, company_link, owner_field, crm_user) if company_link else None
    if result is None:
        assert company is not None
        return ctx.result(LeadEventOutcome.APPLIED, company=company[0], log_entry_id=company[1], crm_calls=company[2])
    if company is not None:
        result.company = company[0]
        result.crm_calls += company[2]
    return result


# --- CRM writes ---------------------------------------------------------------------------------------------------


def _export_and_deal(
    ctx: _Ctx, live_deal: RecordLink | None, deal_link: RecordLink | None, overrides: Mapping[str, Any]
) -> LeadEventResult:
    connector = ctx.connector()
    # The export reuses this event's connector (and its settings and connection reads).
    shared = replace(ctx.svc, connector=lambda _tenant, _crm: connector, for_call=None)
    try:
        exported = export_lead(
            shared,
            ctx.tenant,
            ExportRequest(lead=ctx.lead),
            crm=ctx.crm,
            correlation_id=ctx.correlation_id,
            trigger=Trigger.LEAD_EVENT,
            lock=False,
        )
    except Conflict as exc:
        if "match" not in exc.details:
            raise
        return ctx.result(
            LeadEventOutcome.NEEDS_DECISION,
            reason=exc.message + " " + str(exc.details.get("hint", "")),
            match=MatchResult.model_validate(exc.details["match"]),
            log_entry_id=exc.details.get("log_entry_id"),
        )
    before = _calls([connector])
    deal = _upsert_deal(ctx, connector, exported, live_deal, deal_link, overrides)
    result = ctx.result(
        LeadEventOutcome.APPLIED,
        company=exported.company,
        persons=exported.persons,
        crm_calls=exported.crm_calls + (_calls([connector]) - before),
        log_entry_id=exported.log_entry_id,
    )
    if deal is None:
        result.reason = "deals are not synced to the CRM (objects.deal.direction)"
        return result
    result.deal, result.log_entry_id = deal
    return result


def _upsert_deal(
    ctx: _Ctx,
    connector: Connector,
    exported: ExportResult,
    live_deal: RecordLink | None,
    deal_link: RecordLink | None,
    overrides: Mapping[str, Any],
) -> tuple[DealResult, str] | None:
    if not ctx.settings.objects.deal.direction.outbound:
        return None
    before = _calls([connector])
    plan = plan_lead(ctx.settings, ctx.lead, {CrmObject.DEAL: connector.fields(CrmObject.DEAL)}, linked=True)
    assert plan.deal is not None
    fields = {**plan.deal.fields, **overrides}
    if live_deal is None:
        person_id = exported.persons[0].crm_id if exported.persons else None
        created = connector.create(CrmObject.DEAL, fields, parent_id=exported.company.crm_id, person_id=person_id)
        crm_id, url, action, written = created.id, created.url, DealAction.CREATED, list(fields)
        hashes = field_hashes(fields)
    else:
        hashes = {**live_deal.field_hashes, **field_hashes(fields)}
        changed = {k: v for k, v in fields.items() if live_deal.field_hashes.get(k) != hashes[k]}
        if changed:
            connector.update(CrmObject.DEAL, live_deal.crm_id, changed)
        crm_id, url, written = live_deal.crm_id, live_deal.url, list(changed)
        action = DealAction.UPDATED if changed else DealAction.UNCHANGED
    _save_deal_link(ctx, crm_id, url, hashes, created_at=live_deal.created_at if live_deal else None)
    entry = ctx.entry(
        action={DealAction.CREATED: Action.CREATE, DealAction.UPDATED: Action.UPDATE}.get(action, Action.SKIP),
        outcome=Outcome.SKIPPED if action is DealAction.UNCHANGED else Outcome.SUCCESS,
        object=CrmObject.DEAL,
        crm_id=crm_id,
        fields_written=written,
        fields_skipped=[SkippedField(field=s.crm_field or ", ".join(s.app_fields), reason=s.reason.value)
                        for s in plan.deal.skipped],
        crm_calls=_calls([connector]) - before,
    )  # fmt: skip
    ctx.svc.sync_log.write(entry)
    return DealResult(crm_id=crm_id, url=url, action=action, fields_written=written), entry.id


def _write_deal(ctx: _Ctx, live_deal: RecordLink, fields: Mapping[str, Any]) -> LeadEventResult:
    """Write `fields` to the linked deal, only those whose value differs from what leadbridge last wrote."""
    connector = ctx.connector()
    before = _calls([connector])
    hashes = field_hashes(fields)
    changed = {k: v for k, v in fields.items() if live_deal.field_hashes.get(k) != hashes[k]}
    if changed:
        connector.update(CrmObject.DEAL, live_deal.crm_id, changed)
    _save_deal_link(
        ctx, live_deal.crm_id, live_deal.url, {**live_deal.field_hashes, **hashes}, created_at=live_deal.created_at
    )
    action = DealAction.UPDATED if changed else DealAction.UNCHANGED
    entry = ctx.entry(
        action=Action.UPDATE if changed else Action.SKIP,
        outcome=Outcome.SUCCESS if changed else Outcome.SKIPPED,
        object=CrmObject.DEAL,
        crm_id=live_deal.crm_id,
        fields_written=list(changed),
        fields_skipped=[] if changed else [SkippedField(field="*", reason="unchanged")],
        crm_calls=_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    deal = DealResult(crm_id=live_deal.crm_id, url=live_deal.url, action=action, fields_written=list(changed))
    return ctx.result(LeadEventOutcome.APPLIED, deal=deal, log_entry_id=entry.id, crm_calls=entry.crm_calls)


def _delete_deal(ctx: _Ctx, live_deal: RecordLink) -> LeadEventResult:
    connector = ctx.connector()
    before = _calls([connector])
    connector.delete(CrmObject.DEAL, live_deal.crm_id)
    # The link stays as a tombstone: its event time keeps an older, late event from re-creating the deal.
    ctx.svc.links.save(
        live_deal.model_copy(update={"match": DELETED, "updated_at": ctx.svc.clock(), "last_event_at": ctx.occurred_at})
    )
    entry = ctx.entry(
        action=Action.DELETE,
        outcome=Outcome.SUCCESS,
        object=CrmObject.DEAL,
        crm_id=live_deal.crm_id,
        crm_calls=_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    deal = DealResult(crm_id=live_deal.crm_id, url=live_deal.url, action=DealAction.DELETED)
    return ctx.result(LeadEventOutcome.APPLIED, deal=deal, log_entry_id=entry.id, crm_calls=entry.crm_calls)


def _write_company_owner(
    ctx: _Ctx, link: RecordLink, owner_field: str, crm_user: str
) -> tuple[CompanyResult, str, int]:
    connector = ctx.connector()
    before = _calls([connector])
    hashes = field_hashes({owner_field: crm_user})
    changed = link.field_hashes.get(owner_field) != hashes[owner_field]
    if changed:
        connector.update(CrmObject.COMPANY, link.crm_id, {owner_field: crm_user})
        ctx.svc.links.save(
            link.model_copy(update={"field_hashes": {**link.field_hashes, **hashes}, "updated_at": ctx.svc.clock()})
        )
    entry = ctx.entry(
        action=Action.UPDATE if changed else Action.SKIP,
        outcome=Outcome.SUCCESS if changed else Outcome.SKIPPED,
        object=CrmObject.COMPANY,
        crm_id=link.crm_id,
        fields_written=[owner_field] if changed else [],
        crm_calls=_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    action = RecordAction.UPDATED if changed else RecordAction.UNCHANGED
    return CompanyResult(crm_id=link.crm_id, url=link.url, action=action), entry.id, entry.crm_calls


def _save_deal_link(
    ctx: _Ctx, crm_id: str, url: str | None, hashes: dict[str, str], *, created_at: datetime | None
) -> None:
    now = ctx.svc.clock()
    ctx.svc.links.save(
        RecordLink(
            tenant=ctx.tenant,
            crm=ctx.crm,
            object=CrmObject.DEAL,
            app_id=ctx.lead.id,
            crm_id=crm_id,
            url=url,
            lead_id=ctx.lead.id,
            content_hash=content_hash(hashes),
            field_hashes=hashes,
            match="created",
            created_at=created_at or now,
            updated_at=now,
            synced_at=now,
            last_event_at=ctx.occurred_at,
        )
    )


def _status_field(ctx: _Ctx, kind: StageKind) -> dict[str, str] | str:
    """{field: value} that puts the deal in the CRM's won/lost state, or why that is impossible."""
    prof = profile(ctx.crm)
    stages = ctx.connector().stages()
    # A separate status (SuperOffice Sold/Lost) is preferred; CRMs with closed-won/lost stages use the stage.
    for group, field in (("status", prof.status_field), ("stage", prof.stage_field)):
        found = next((s for s in stages if s.kind is kind and s.group == group), None)
        if found is not None and field:
            return {field: found.id}
    return f"the CRM offers no {kind.value} status or stage"


# --- queueing -----------------------------------------------------------------------------------------------------


def defer(svc: LifecycleServices, tenant: str, crm: str, event: LeadEvent, exc: CrmError) -> LeadEventResult:
    """Store the event as pending outbound (first attempt failed with `exc`); `retry_pending_outbound` applies it."""
    now = svc.export.clock()
    occurred_at = as_utc(event.occurred_at or now)
    item = PendingOutbound(
        tenant=tenant,
        crm=crm,
        lead_id=event.lead.id,
        event=event.model_dump(mode="json"),
        occurred_at=occurred_at,
        attempts=1,
        next_attempt_at=now + backoff(1, getattr(exc, "retry_after", None)),
        last_error=LogError(code=exc.code, message=exc.message, cause=_cause(exc)),
        created_at=now,
    )
    svc.outbound.add(item)
    reason = f"the CRM is unavailable ({exc.message}); leadbridge retries from {item.next_attempt_at.isoformat()}"
    return LeadEventResult(
        outcome=LeadEventOutcome.QUEUED,
        event_type=event.type,
        event_id=event.event_id,
        lead_id=event.lead.id,
        crm=crm,
        reason=reason,
        retry=RetryInfo(attempts=1, next_attempt_at=item.next_attempt_at, reason=exc.message),
        log_entry_id=exc.details.get("log_entry_id"),
    )


def _drop(svc: LifecycleServices, item: PendingOutbound, exc: Exception, counts: RetryCounts) -> None:
    code = getattr(exc, "code", "error")
    message = getattr(exc, "message", str(exc))
    _write_quietly(
        svc.export,
        SyncLogEntry(
            tenant=item.tenant,
            crm=item.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.LEAD_EVENT,
            action=Action.SKIP,
            outcome=Outcome.FAILED,
            object=CrmObject.DEAL,
            app_id=item.lead_id,
            error=LogError(code=code, message=f"gave up after {item.attempts} attempts: {message}"),
            match={"event": item.event.get("type"), "event_id": item.event.get("event_id"), "pending_id": item.id},
        ),
    )
    svc.outbound.remove(item)
    counts.dropped += 1


# --- helpers ------------------------------------------------------------------------------------------------------


def _calls(connectors: list[Connector]) -> int:
    return sum(connector.request_count() for connector in connectors)


def _cause(exc: CrmError) -> str | None:
    cause = getattr(exc, "reason", None) or exc.details.get("crm_status")
    return None if cause is None else str(cause)


def _write_quietly(svc: ExportServices, entry: SyncLogEntry) -> None:
    try:
        svc.sync_log.write(entry)
    except Exception:  # the CRM error is what the caller must see; a log outage must not hide it
        log.warning("could not write the sync log entry of a failed lead event", exc_info=True)
