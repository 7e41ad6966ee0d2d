"""Applying one CRM change to the app side: the one path shared by the scheduled sync (incremental pulls, housekeeping,
initial import) and the webhook processor.

For each CRM record: skip it if its object does not sync from the CRM; drop it if it is older than what the app
already has (out of order); map its values to app fields; let the app keep fields whose conflict policy says so;
suppress it when the mapped values are what the app already got (including the echo of leadbridge's own export);
hold back records the app has never seen that the inbound filter excludes (`inbound.filtering`; the outbound
selective-sync rules decide what is created in the CRM and never filter what comes in); then report the change on the
change feed (the outbox of the app's bus: `inbound.change_relay`), remember what was reported, and log it. A deletion
unlinks the record and reports `RecordDeleted`.

A page of records (the scheduled sync) goes through `apply_records`, which makes the same decisions with the store
calls batched: a few reads and writes per page instead of several per record, so a run's speed is set by the CRM,
not by round trips to DynamoDB. A single record (a webhook) is a page of one.

Delivery to the app is at least once: a retried change carries the same event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from leadbridge.concurrency import together
from leadbridge.errors import code_and_message
from leadbridge.inbound.filtering import held_back
from leadbridge.inbound.ports import InboundServices as InboundServices
from leadbridge.mapping.conflicts import winner
from leadbridge.mapping.engine import InboundPlan, apply_inbound, inbound_plan
from leadbridge.mapping.hashing import canonical, canonical_record, canonical_texts, field_hashes, is_flat
from leadbridge.models.changes import ChangeAction, ChangeEvent, ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject, CrmRecord, StageKind
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SkippedField, SyncLogEntry, Trigger
from leadbridge.models.time import as_utc
from leadbridge.store.links import RecordLink, deal_link_from_conversion, moved_by_conversion
from leadbridge.store.records import PARENT_KEY, STAGE_KIND_KEY, RecordState, StateKey, state_hashes_of

# The kernel's ports live in `inbound.ports`; `InboundServices` is re-exported above (`X as X`) for callers of the
# kernel.

# Hash keys for facts that are not app fields but still make a change worth reporting (shared with the record states
# outbound writes store).
_PARENT = PARENT_KEY
_STAGE_KIND = STAGE_KIND_KEY
_EMPTY = field_hashes({"v": None})["v"]


@dataclass(frozen=True)
class InboundContext:
    """Who is syncing and why; the same for every record of one run or one webhook delivery."""

    tenant: str
    crm: str
    settings: SettingsDocument
    source: ChangeSource
    run_id: str | None = None
    correlation_id: str | None = None
    manual: bool = False  # a run an admin started: its log entries say `manual`, as `/sync-runs` does

    @property
    def holds_run_lease(self) -> bool:
        """A scheduled run applies records only while it holds the connection's run lease (`inbound.worker`): no
        other run writes this connection's feed pointers and record states meanwhile, so they are written in batches."""
        return self.source is ChangeSource.SCHEDULE and self.run_id is not None

    @property
    def trigger(self) -> Trigger:
        if self.source is ChangeSource.WEBHOOK:
            return Trigger.WEBHOOK
        return Trigger.MANUAL if self.manual else Trigger.SCHEDULE


class Applied(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    STALE = "stale"  # older than what the app already has
    SKIPPED = "skipped"  # direction or selective-sync rules exclude it
    FAILED = "failed"  # this record could not be brought in (logged); the others of its page were


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What became of one CRM record (a plain dataclass: one per record read, never validated or serialized)."""

    outcome: Applied
    events: list[ChangeEvent] = field(default_factory=list)
    reason: str | None = None
    code: str | None = None  # FAILED: the error code


def syncs_from_crm(settings: SettingsDocument, obj: CrmObject) -> bool:
    return settings.objects.for_object(obj).direction.inbound


def apply_record(svc: InboundServices, ctx: InboundContext, record: CrmRecord) -> InboundResult:
    """Bring one CRM record (as the CRM has it now) to the app. Raises store errors (the caller retries; a
    retry is safe), and anything that kept the record from being mapped."""
    [result] = _apply_page(svc, ctx, [record], isolate=False)
    return result


def apply_records(svc: InboundServices, ctx: InboundContext, records: Sequence[CrmRecord]) -> list[InboundResult]:
    """`apply_record` for a page of records, results in the same order. A record that cannot be mapped fails alone
    (FAILED, logged); store errors raise for the page, and applying the page again is safe."""
    return _apply_page(svc, ctx, records, isolate=True)


@dataclass(frozen=True)
class _Decision:
    """What to do with one record: the result (with the events to report), the log entry and the state to store."""

    result: InboundResult
    new_state: RecordState | None = None
    entry: SyncLogEntry | None = None


def _apply_page(
    svc: InboundServices, ctx: InboundContext, records: Sequence[CrmRecord], *, isolate: bool
) -> list[InboundResult]:
    results: list[InboundResult] = []
    batch: list[CrmRecord] = []
    keys: set[StateKey] = set()
    for record in records:
        key = (record.object, record.id)
        if record.deleted or key in keys:
            # A repeat of a record in one page is applied after the first (the order guard sees the first).
            results += _apply_batch(svc, ctx, batch, isolate=isolate)
            batch, keys = [], set()
        if record.deleted:
            results.append(apply_deletion(svc, ctx, record.object, record.id, occurred_at=record.updated_at))
            continue
        batch.append(record)
        keys.add(key)
    results += _apply_batch(svc, ctx, batch, isolate=isolate)
    return results


def _apply_batch(
    svc: InboundServices, ctx: InboundContext, records: Sequence[CrmRecord], *, isolate: bool
) -> list[InboundResult]:
    """Records with distinct keys: read their states and links in batches, decide each, report and log the changes,
    then store their states (each write guarded by the CRM time)."""
    if not records:
        return []
    syncing = [r for r in records if syncs_from_crm(ctx.settings, r.object)]
    states: dict[StateKey, RecordState] = {}
    links: dict[StateKey, RecordLink] = {}

    def read_states() -> None:
        if syncing:
            states.update(svc.states.get_many(ctx.tenant, ctx.crm, [(r.object, r.id) for r in syncing]))

    def read_links(obj: CrmObject) -> None:
        found = svc.links.by_crm_ids(ctx.tenant, ctx.crm, obj, [r.id for r in syncing if r.object is obj])
        links.update({(obj, crm_id): link for crm_id, link in found.items()})

    # The states and each object's links are independent reads: overlapped, they cost about the slowest of them.
    together(read_states, *(lambda obj=obj: read_links(obj) for obj in dict.fromkeys(r.object for r in syncing)))
    # The inbound filter (never the outbound selective-sync rules) holds back records the app has not heard of.
    held = held_back(svc, ctx.tenant, ctx.crm, ctx.settings.inbound_filter, syncing, states, links)

    decisions: list[_Decision] = []
    plans: dict[CrmObject, InboundPlan] = {}  # the mapping worked out once per object, not per record
    for record in records:
        key = (record.object, record.id)
        if not syncs_from_crm(ctx.settings, record.object):
            reason = f"{record.object.value} does not sync from the CRM (direction setting)"
            decisions.append(_Decision(_skipped(reason), entry=_skip_entry(ctx, record.object, record.id, reason)))
            continue
        if key in held:
            reason = held[key]
            decisions.append(_Decision(_skipped(reason), entry=_skip_entry(ctx, record.object, record.id, reason)))
            continue
        if record.converted_into:
            decisions.append(_follow_conversion(svc, ctx, record, links.get(key)))
            continue
        try:
            if record.object not in plans:
                plans[record.object] = inbound_plan(ctx.settings, record.object)
            plan = plans[record.object]
            decisions.append(_decide(ctx, record, states.get(key), links.get(key), plan))
        except Exception as exc:
            if not isolate:
                raise
            code, message = code_and_message(exc)
            failed = InboundResult(outcome=Applied.FAILED, code=code, reason=message)
            decisions.append(_Decision(failed, entry=_failure_entry(ctx, record.object, record.id, code, message)))

    # Report, log (a success is logged only once reported), then remember: a run killed in between reports again
    # (same event ids) rather than never.
    _report(svc, [event for d in decisions for event in d.result.events], exclusive=ctx.holds_run_lease)
    entries = [d.entry for d in decisions if d.entry is not None]
    if entries:
        svc.log.write_many(entries)
    new_states = [d.new_state for d in decisions if d.new_state is not None]
    if new_states:
        # Guarded: a newer change stored meanwhile (a webhook racing this run) keeps its state; the app orders the
        # two by `crm_updated_at`.
        svc.states.save_many(new_states, exclusive=ctx.holds_run_lease)
    return [d.result for d in decisions]


def _decide(
    ctx: InboundContext,
    record: CrmRecord,
    state: RecordState | None,
    link: RecordLink | None,
    plan: InboundPlan | None = None,
) -> _Decision:
    obj = record.object
    if _older(record.updated_at, state):
        return _Decision(InboundResult(outcome=Applied.STALE, reason="an equal or newer change was already applied"))
    values, kept_by_app, notes = _mapped_values(ctx.settings, record, link, plan)
    texts = canonical_texts(values)  # each value's canonical text, once: for its hash and for the change's id
    hashes = state_hashes_of(texts, parent_id=record.parent_id, stage_kind=record.stage_kind)
    known = state is not None and not state.deleted
    outcome = _deal_outcome(record, state)
    echo = False  # the CRM names leadbridge as the writer of what the state does not hold yet
    changed, facts = sorted(values), True  # a record the app never heard of: all of it is news
    if known:
        assert state is not None
        changed = _changed(values, hashes, state.field_hashes)
        facts = any(state.field_hashes.get(k) != hashes.get(k) for k in (_PARENT, _STAGE_KIND))
        # Second line: the CRM says leadbridge wrote last, and the record holds what it wrote (the record state of
        # that write was lost): its own write coming back, not a change.
        if (changed or facts or outcome) and link is not None and record.modified_by_us and not (
            _changed_since_export(ctx.settings, record, link, values) or _written_differs(record, link)
        ):
            changed, facts, outcome, echo = [], False, None, True
    elif link is not None:
        # Known to the app through its export but never read back (no record state: an export made before record
        # states were written on export): compared with what the export wrote, in CRM field terms.
        changed = _changed_since_export(ctx.settings, record, link, values)
        facts = False
        outcome = outcome if _written_differs(record, link) else None
    if not changed and not facts and outcome is None:
        # Nothing the app does not know; a first sight (or a state with fields missing) is remembered.
        fill = echo or state is None or state.deleted or any(k not in state.field_hashes for k in hashes)
        reason = "no mapped value changed" if known else "the CRM holds what the app exported"
        unchanged = InboundResult(outcome=Applied.UNCHANGED, reason=reason)
        return _Decision(unchanged, new_state=_next_state(ctx, record, hashes) if fill else None)
    # A record the app knows through a link is an update, even on its first sight.
    action = ChangeAction.UPDATED if known or link is not None else ChangeAction.CREATED
    digest = _content_digest(record, values, texts)
    events = [_event(ctx, ChangeType.changed(obj), action, record, link, values, changed, digest)]
    if outcome is not None:
        events.append(_event(ctx, *outcome, record, link, values, changed, digest))
    entry = _entry(
        ctx,
        obj,
        record.id,
        link,
        Action.READ,
        Outcome.SUCCESS,
        written=changed,
        skipped=[SkippedField(field=f, reason="app wins (conflict policy)") for f in kept_by_app] + notes,
    )
    return _Decision(
        InboundResult(outcome=Applied(action.value), events=events),
        new_state=_next_state(ctx, record, hashes),
        entry=entry,
    )


def _follow_conversion(
    svc: InboundServices, ctx: InboundContext, record: CrmRecord, link: RecordLink | None
) -> _Decision:
    """A record the CRM converted (a Salesforce Lead converted by a user): the app record it is linked to follows
    what it became (its link, and a deal link when the conversion made a deal the app lead has none of). Not news:
    the records it became are read on their own and compared with what the app knows."""
    became = record.converted_into
    target = became.get(record.object)
    if link is None or target is None or link.crm_id == target:
        reason = f"converted in the CRM into {', '.join(became.values())}; those records are read on their own"
        return _Decision(_skipped(reason))
    now = _now()
    moved = [moved_by_conversion(link, target, url=None, now=now)]
    deal_id = became.get(CrmObject.DEAL)
    lead_id = link.lead_id
    if record.object is CrmObject.COMPANY and deal_id and lead_id and not svc.links.get(
        ctx.tenant, ctx.crm, CrmObject.DEAL, lead_id
    ):
        moved.append(deal_link_from_conversion(ctx.tenant, ctx.crm, lead_id, deal_id, url=None, now=now))
    svc.links.save_many(moved)
    entry = _entry(ctx, record.object, target, link, Action.CONVERT, Outcome.SUCCESS).model_copy(
        update={"match": {"converted_from": record.id, **{obj.value: crm_id for obj, crm_id in became.items()}}}
    )
    reason = f"converted in the CRM into {target}; the app record now follows it"
    return _Decision(InboundResult(outcome=Applied.UNCHANGED, reason=reason), entry=entry)


def apply_deletion(
    svc: InboundServices,
    ctx: InboundContext,
    obj: CrmObject,
    crm_id: str,
    *,
    occurred_at: datetime | None = None,
) -> InboundResult:
    """A record was deleted in the CRM: unlink it and report `RecordDeleted`, once."""
    if not syncs_from_crm(ctx.settings, obj):
        return _skip(svc, ctx, obj, crm_id, f"{obj.value} does not sync from the CRM (direction setting)")
    state = svc.states.get(ctx.tenant, ctx.crm, obj, crm_id)
    if state is not None and state.deleted:
        return InboundResult(outcome=Applied.UNCHANGED, reason="already reported as deleted")
    link = svc.links.by_crm_id(ctx.tenant, ctx.crm, obj, crm_id)
    if state is None and link is None:
        return InboundResult(outcome=Applied.UNCHANGED, reason="never reported to the app")
    when = max(t for t in (occurred_at, state.crm_updated_at if state else None, _now()) if t is not None)
    tombstone = RecordState(
        tenant=ctx.tenant,
        crm=ctx.crm,
        object=obj,
        crm_id=crm_id,
        crm_updated_at=when,
        parent_crm_id=state.parent_crm_id if state else None,
        deleted=True,
    )
    event = ChangeEvent(
        id=ChangeEvent.stable_id(ctx.tenant, ctx.crm, obj.value, crm_id, "deleted"),
        type=ChangeType.RECORD_DELETED,
        action=ChangeAction.DELETED,
        tenant=ctx.tenant,
        crm=ctx.crm,
        object=obj,
        crm_id=crm_id,
        app_id=link.app_id if link else None,
        lead_id=link.lead_id if link else None,
        parent_crm_id=tombstone.parent_crm_id,
        source=ctx.source,
        run_id=ctx.run_id,
        correlation_id=ctx.correlation_id,
    )
    _report(svc, [event])
    svc.log.write(_entry(ctx, obj, crm_id, link, Action.DELETE, Outcome.SUCCESS))
    svc.states.save(tombstone)
    if link is not None:
        svc.links.delete(ctx.tenant, ctx.crm, obj, link.app_id)
    return InboundResult(outcome=Applied.DELETED, events=[event])


def _failure_entry(ctx: InboundContext, obj: CrmObject, crm_id: str | None, code: str, message: str) -> SyncLogEntry:
    """A record that could not be brought in (a value could not be mapped, a bug...)."""
    entry = _entry(ctx, obj, crm_id, None, Action.READ, Outcome.FAILED)
    return entry.model_copy(update={"error": LogError(code=code, message=message)})


# --- steps ---------------------------------------------------------------------------------------------------------


def _older(updated_at: datetime | None, state: RecordState | None) -> bool:
    """Strictly older only: CRMs stamp changes to the second, so two changes in one second must both get through
    (the content hash drops the repeat)."""
    if state is None or state.crm_updated_at is None or updated_at is None:
        return False
    return as_utc(updated_at) < as_utc(state.crm_updated_at)


def _mapped_values(
    settings: SettingsDocument, record: CrmRecord, link: RecordLink | None, plan: InboundPlan | None = None
) -> tuple[dict[str, Any], list[str], list[SkippedField]]:
    inbound = apply_inbound(settings, record.object, record.fields, plan)
    # What the mapping could not bring across (e.g. a CRM stage no status mapping covers), for the sync log.
    notes = [SkippedField(field=", ".join(s.app_fields) or s.crm_field or "?", reason=f"{s.reason.value}: {s.detail}")
             for s in inbound.skipped]  # fmt: skip
    values = dict(inbound.values)
    kept_by_app: list[str] = []
    if link is not None:
        # The app's copy counts as changed when leadbridge last wrote it to the CRM.
        for app_field, policy in inbound.policies.items():
            wrote = inbound.sources.get(app_field) in link.field_hashes  # for `fill_empty`
            when = {"app_changed_at": link.updated_at, "crm_changed_at": record.updated_at}
            if winner(policy, **when, app_wrote=wrote) == "app":
                values.pop(app_field, None)
                kept_by_app.append(app_field)
    return values, sorted(kept_by_app), notes


def _changed(values: Mapping[str, Any], hashes: Mapping[str, str], previous: Mapping[str, str]) -> list[str]:
    """App fields whose value differs from the stored state; a field the state does not hold (written by an outbound
    write that did not set it, or newly mapped) counts as empty."""
    return sorted(k for k in values if previous.get(k, _EMPTY) != hashes.get(k))


def _changed_since_export(
    settings: SettingsDocument, record: CrmRecord, link: RecordLink, values: Mapping[str, Any]
) -> list[str]:
    """App fields whose CRM source field no longer holds what leadbridge wrote (the link's CRM-field hashes); a
    mapped CRM field leadbridge did not write counts when it has a value."""
    changed: set[str] = set()
    for mapping in settings.field_mappings.for_object(record.object):
        app_field = mapping.app_fields[0] if mapping.app_fields else None
        if not mapping.inbound or mapping.crm_field not in record.fields or app_field not in values:
            continue
        value = record.fields[mapping.crm_field]
        written = link.field_hashes.get(mapping.crm_field)
        if written is None:
            if value not in (None, "", [], 0, False):
                changed.add(str(app_field))
        elif field_hashes({mapping.crm_field: value})[mapping.crm_field] != written:
            changed.add(str(app_field))
    return sorted(changed)


def _written_differs(record: CrmRecord, link: RecordLink) -> bool:
    """Whether any CRM field leadbridge wrote (mapped or not, e.g. a deal's status) holds something else now."""
    return any(
        name in record.fields and field_hashes({name: record.fields[name]})[name] != written
        for name, written in link.field_hashes.items()
    )


def _deal_outcome(record: CrmRecord, state: RecordState | None) -> tuple[ChangeType, ChangeAction] | None:
    if record.object is not CrmObject.DEAL or record.stage_kind not in (StageKind.WON, StageKind.LOST):
        return None
    if state is not None and not state.deleted and state.stage_kind is record.stage_kind:
        return None
    if record.stage_kind is StageKind.WON:
        return ChangeType.LEAD_WON, ChangeAction.WON
    return ChangeType.LEAD_LOST, ChangeAction.LOST


def _next_state(ctx: InboundContext, record: CrmRecord, hashes: Mapping[str, str]) -> RecordState:
    return RecordState(
        tenant=ctx.tenant,
        crm=ctx.crm,
        object=record.object,
        crm_id=record.id,
        crm_updated_at=record.updated_at,
        field_hashes=dict(hashes),
        parent_crm_id=record.parent_id,
        stage_kind=record.stage_kind,
    )


def _report(svc: InboundServices, events: Sequence[ChangeEvent], *, exclusive: bool = False) -> None:
    """On the change feed, the outbox of the app's bus (`inbound.change_relay` puts what it appends on the bus).
    Before the record states are stored, so that a failure or a kill makes the retry report again (same event ids,
    which the feed de-duplicates): at least once, never lost."""
    if events:
        svc.feed.append(events, exclusive=exclusive)


def _content_digest(record: CrmRecord, values: Mapping[str, Any], texts: Mapping[str, str]) -> str:
    """What a change's id is made from besides the record's key: the canonical text of the values with the parent
    and stage kind. Built from the values' texts when every value is one whose text is the same inside a dict (most
    records); else encoded whole, as before. The same text either way, so ids stay what retries and the feed expect."""
    if not all(is_flat(v) for v in values.values()):
        return canonical({**values, _PARENT: record.parent_id, _STAGE_KIND: record.stage_kind})
    stage = record.stage_kind
    return canonical_record(
        {**texts, _PARENT: canonical(record.parent_id), _STAGE_KIND: canonical(stage.value if stage else None)}
    )


def _event(
    ctx: InboundContext,
    change_type: ChangeType,
    action: ChangeAction,
    record: CrmRecord,
    link: RecordLink | None,
    values: Mapping[str, Any],
    changed: list[str],
    digest: str,
) -> ChangeEvent:
    return ChangeEvent(
        id=ChangeEvent.stable_id(ctx.tenant, ctx.crm, record.object.value, record.id, change_type.value, digest),
        type=change_type,
        action=action,
        tenant=ctx.tenant,
        crm=ctx.crm,
        object=record.object,
        crm_id=record.id,
        app_id=link.app_id if link else None,
        lead_id=(link.lead_id or (link.app_id if record.object is CrmObject.DEAL else None)) if link else None,
        parent_crm_id=record.parent_id,
        fields=dict(values),
        changed_fields=changed,
        crm_updated_at=record.updated_at,
        url=record.url,
        source=ctx.source,
        run_id=ctx.run_id,
        correlation_id=ctx.correlation_id,
    )


def _skip(svc: InboundServices, ctx: InboundContext, obj: CrmObject, crm_id: str, reason: str) -> InboundResult:
    svc.log.write(_skip_entry(ctx, obj, crm_id, reason))
    return _skipped(reason)


def _skipped(reason: str) -> InboundResult:
    return InboundResult(outcome=Applied.SKIPPED, reason=reason)


def _skip_entry(ctx: InboundContext, obj: CrmObject, crm_id: str, reason: str) -> SyncLogEntry:
    entry = _entry(ctx, obj, crm_id, None, Action.SKIP, Outcome.SKIPPED)
    return entry.model_copy(update={"error": LogError(code="skipped", message=reason)})


def _entry(
    ctx: InboundContext,
    obj: CrmObject,
    crm_id: str | None,
    link: RecordLink | None,
    action: Action,
    outcome: Outcome,
    *,
    written: list[str] | None = None,
    skipped: list[SkippedField] | None = None,
) -> SyncLogEntry:
    return SyncLogEntry(
        tenant=ctx.tenant,
        crm=ctx.crm,
        direction=Direction.FROM_CRM,
        trigger=ctx.trigger,
        action=action,
        outcome=outcome,
        object=obj,
        app_id=(link.lead_id or link.app_id) if link else None,
        crm_id=crm_id,
        fields_written=written or [],
        fields_skipped=skipped or [],
        correlation_id=ctx.correlation_id,
        run_id=ctx.run_id,
    )


def _now() -> datetime:
    return datetime.now(UTC)
