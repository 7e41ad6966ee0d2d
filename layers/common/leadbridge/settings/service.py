"""Integration settings (issue 5): read with defaults, replace or patch with optimistic concurrency, validate against
the CRM's live metadata, version and audit every change, schedule the next run, and preview an export.

Every function takes its ports in `SettingsServices`; nothing here imports boto3 or httpx.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from leadbridge.crm.base import Connector, CrmProvider, TokenSource
from leadbridge.crm.defaults import default_settings, profile
from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    InvalidInput,
    NeedsReauth,
    NotFound,
    PreconditionFailed,
    StoreUnavailable,
)
from leadbridge.mapping import LeadPlan, Metadata, MetadataSource, plan_lead, validate_settings
from leadbridge.mapping.phones import prepare_lead
from leadbridge.mapping.validation import MissingField, Problem
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SECTIONS, SettingsDocument, SettingsInput
from leadbridge.models.synclog import Action, Direction, Outcome, SyncLogEntry, Trigger
from leadbridge.settings.schedule import next_run
from leadbridge.store.ports import SettingsStore
from leadbridge.store.settings import SettingsChange

log = logging.getLogger(__name__)


class SyncLogWriter(Protocol):
    def write(self, entry: SyncLogEntry) -> None: ...


class Scheduler(Protocol):
    """Where the next run time goes for the dispatcher (the connections store)."""

    def set_next_run(self, tenant_id: str, crm: str, next_run_at: datetime | None) -> None: ...


@dataclass
class SettingsServices:
    store: SettingsStore
    metadata: Callable[[str, str], MetadataSource]  # (tenant, crm) → the connector; raises ConnectionMissing
    scheduler: Scheduler
    supported_crms: Callable[[], list[str]]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sync_log: SyncLogWriter | None = None  # every saved change is also a `settings_changed` sync log entry
    # (tenant, crm, objects) → the connector for a document's object choice (Salesforce: Account or Lead); when
    # None, `metadata` serves every document.
    metadata_for: Callable[[str, str, Mapping[str, str]], MetadataSource] | None = None


class SaveResult(BaseModel):
    settings: SettingsDocument
    missing_fields: list[MissingField] = Field(
        default_factory=list, description="Mapped custom fields the CRM does not have (yet): skipped, not fatal."
    )
    warnings: list[Problem] = Field(default_factory=list)


class PreviewRequest(BaseModel):
    lead: dict[str, Any] = Field(description="A sample app lead, as the app would export it.")
    linked: bool = Field(default=False, description="Preview as if the lead already had a CRM record.")


class PreviewResult(BaseModel):
    settings_version: int
    plan: LeadPlan
    warnings: list[str] = Field(
        default_factory=list, description="What export would warn about, e.g. a phone number it cannot normalise."
    )


# --- connections → connector --------------------------------------------------------------------------------------


class Connections(Protocol):
    def get(self, tenant_id: str, crm: str) -> Connection | None: ...


class Vault(Protocol):
    def tokens(self, connection: Connection) -> TokenSource: ...


def object_names(doc: SettingsDocument) -> dict[str, str]:
    """The CRM object chosen per app object (`{"company": "Account", ...}`), as `CrmProvider.connector` takes it."""
    return {obj.value: doc.objects.for_object(obj).crm_object for obj in CrmObject}


def connector_for(
    connections: Connections,
    vault: Vault,
    providers: Callable[[str], CrmProvider],
    tenant_id: str,
    crm: str,
    objects: Mapping[str, str] | None = None,
) -> Connector:
    """The live connector of the tenant's connection, or a clear 409 saying what to do. `objects`: the settings'
    object choice (see `object_names`)."""
    connection = connections.get(tenant_id, crm)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        raise ConnectionMissing(
            f"No {crm} account is connected; an admin must connect one before the settings can read the CRM.",
            details={"crm": crm},
        )
    if connection.status is ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauth(f"The {crm} connection must be re-authorised by an admin.", details={"crm": crm})
    if objects is None:
        return providers(crm).connector(connection.context(), vault.tokens(connection))
    return providers(crm).connector(connection.context(), vault.tokens(connection), objects)


def _metadata(svc: SettingsServices, tenant_id: str, crm: str, doc: SettingsDocument) -> MetadataSource:
    return svc.metadata_for(tenant_id, crm, object_names(doc)) if svc.metadata_for else svc.metadata(tenant_id, crm)


# --- read ---------------------------------------------------------------------------------------------------------


def require_supported(svc: SettingsServices, crm: str) -> None:
    if crm not in svc.supported_crms():
        raise NotFound(
            f"CRM {crm!r} is not supported; supported: {', '.join(svc.supported_crms())}", details={"crm": crm}
        )


def get_settings(svc: SettingsServices, tenant_id: str, crm: str) -> SettingsDocument:
    """The stored document, or the CRM's defaults (version 0) when nothing was saved yet."""
    require_supported(svc, crm)
    return svc.store.current(tenant_id, crm) or default_settings(crm)


def settings_history(svc: SettingsServices, tenant_id: str, crm: str, *, limit: int = 50) -> list[SettingsChange]:
    require_supported(svc, crm)
    return svc.store.history(tenant_id, crm, limit=limit)


# --- write --------------------------------------------------------------------------------------------------------


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str) -> int | None:
    """The version an If-Match header names; None for `*` (any version). Raises InvalidInput when malformed."""
    if value.strip() == "*":
        return None
    match = _ETAG.match(value)
    if match is None:
        raise InvalidInput(
            'If-Match must be the ETag of the settings you read, e.g. "3"',
            errors=[{"loc": ["header", "if-match"], "path": "If-Match", "type": "invalid_etag", "message": value[:50]}],
        )
    return int(match.group(1))


def replace_settings(
    svc: SettingsServices, tenant_id: str, crm: str, body: SettingsInput, *, if_match: str, actor: str
) -> SaveResult:
    """PUT: replace every section."""
    require_supported(svc, crm)
    current = get_settings(svc, tenant_id, crm)
    _check_version(current, if_match)
    data = body.model_dump(include=set(SECTIONS))
    return _save(svc, tenant_id, current, data, actor=actor, operation="put")


def patch_settings(
    svc: SettingsServices, tenant_id: str, crm: str, patch: Mapping[str, Any], *, if_match: str, actor: str
) -> SaveResult:
    """PATCH: a JSON merge patch (RFC 7396) over top-level sections, e.g. `{"schedule": {"frequency": "daily"}}`.
    Objects merge, lists and scalars replace, null resets a key to its default."""
    require_supported(svc, crm)
    unknown = [k for k in patch if k not in SECTIONS]
    if unknown or not patch:
        raise InvalidInput(
            "A settings patch names one or more sections: " + ", ".join(SECTIONS),
            errors=[
                {"loc": ["body", k], "path": k, "type": "unknown_section", "message": f"{k!r} is not a section"}
                for k in unknown
            ]
            or [{"loc": ["body"], "path": "", "type": "empty_patch", "message": "the patch is empty"}],
        )
    current = get_settings(svc, tenant_id, crm)
    _check_version(current, if_match)
    data = current.model_dump(mode="json", include=set(SECTIONS))
    for section, value in patch.items():
        data[section] = merge_patch(data.get(section), value)
        if data[section] is None:
            data.pop(section)  # null resets the whole section to its default
    return _save(svc, tenant_id, current, data, actor=actor, operation="patch")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _check_version(current: SettingsDocument, if_match: str) -> None:
    wanted = parse_if_match(if_match)
    if wanted is not None and wanted != current.version:
        raise PreconditionFailed(
            f"The settings are at version {current.version}, not {wanted}; reload them and apply your change again.",
            details={"current_version": current.version, "etag": etag(current.version)},
        )


def _save(
    svc: SettingsServices,
    tenant_id: str,
    current: SettingsDocument,
    data: dict[str, Any],
    *,
    actor: str,
    operation: str,
) -> SaveResult:
    now = svc.clock()
    defaults = default_settings(current.crm).model_dump(mode="json", include=set(SECTIONS))
    merged = {**defaults, **data}
    try:
        candidate = SettingsDocument.model_validate(
            {**merged, "crm": current.crm, "version": current.version + 1, "updated_by": actor, "updated_at": now}
        )
    except ValidationError as exc:
        raise invalid_from_pydantic(exc) from None

    # Server-owned values: the next run and the moment the selective-sync rules took effect.
    candidate.schedule.next_run_at = next_run(candidate.schedule, now)
    if candidate.selective_sync.model_dump(exclude={"effective_from"}) != current.selective_sync.model_dump(
        exclude={"effective_from"}
    ) or (candidate.selective_sync.enabled and current.selective_sync.effective_from is None):
        candidate.selective_sync.effective_from = now
    else:
        candidate.selective_sync.effective_from = current.selective_sync.effective_from

    source = _metadata(svc, tenant_id, current.crm, candidate)
    report = validate_settings(
        candidate, Metadata.for_document(source, candidate), crm_label=profile(current.crm).label
    )
    if report.errors:
        raise InvalidInput(
            f"The settings do not fit the connected {profile(current.crm).label}: "
            + "; ".join(f"{e.path}: {e.reason}" for e in report.errors[:5]),
            errors=[
                {"loc": ["body", *_loc(e.path)], "path": e.path, "type": e.code, "message": e.reason}
                for e in report.errors
            ],
        )

    changed = [s for s in SECTIONS if _section_json(candidate, s) != _section_json(current, s)]
    svc.store.save(
        tenant_id,
        candidate,
        SettingsChange(
            version=candidate.version, updated_by=actor, updated_at=now, sections=changed, operation=operation
        ),
    )
    _log_change(svc, tenant_id, candidate, changed, operation=operation, actor=actor)
    warnings = list(report.warnings)
    try:
        svc.scheduler.set_next_run(tenant_id, current.crm, candidate.schedule.next_run_at)
    except Conflict:
        warnings.append(
            Problem(
                path="schedule",
                code="not_scheduled",
                reason="the connection is no longer active; the schedule takes effect once the CRM is connected again",
            )
        )
    return SaveResult(settings=candidate, missing_fields=report.missing, warnings=warnings)


def _log_change(
    svc: SettingsServices,
    tenant_id: str,
    saved: SettingsDocument,
    sections: list[str],
    *,
    operation: str,
    actor: str,
) -> None:
    if svc.sync_log is None:
        return
    entry = SyncLogEntry(
        time=saved.updated_at or svc.clock(),
        tenant=tenant_id,
        crm=saved.crm,
        direction=Direction.TO_CRM,
        trigger=Trigger.SETTINGS,
        action=Action.SETTINGS_CHANGED,
        outcome=Outcome.SUCCESS,
        actor=actor,
        details={"version": saved.version, "operation": operation, "sections": sections},
    )
    try:
        svc.sync_log.write(entry)
    except StoreUnavailable:
        # The change is saved and versioned (GET /settings/{crm}/history); only its copy in the sync log is missing.
        log.warning("settings change not written to the sync log", extra={"tenant_id": tenant_id, "crm": saved.crm})


def _section_json(doc: SettingsDocument, section: str) -> Any:
    value = getattr(doc, section)
    if section == "schedule":
        return value.model_dump(mode="json", exclude={"next_run_at"})
    if section == "selective_sync":
        return value.model_dump(mode="json", exclude={"effective_from"})
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


_INDEX = re.compile(r"\[(\d+)\]")


def _loc(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.split("."):
        name, *indexes = _INDEX.split(part)
        if name:
            out.append(name)
        out.extend(int(i) for i in indexes if i)
    return out


def _path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or part.startswith(("function-", "tagged-union")):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text


def invalid_from_pydantic(exc: ValidationError) -> InvalidInput:
    """A pydantic error as a 422 naming each field path (`field_mappings.company[3].crm_field`) and reason."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p in _DISCRIMINATOR_TAGS)]
        path = _path(loc)
        problems.append({"loc": ["body", *loc], "path": path, "type": error["type"], "message": error["msg"]})
    summary = "; ".join(f"{p['path'] or 'body'}: {p['message']}" for p in problems[:5])
    return InvalidInput(f"Invalid settings: {summary}", errors=problems)


# Discriminated-union tags pydantic inserts into error locations (the transform kinds).
_DISCRIMINATOR_TAGS = {"truncate", "country", "split_name", "join", "convert", "default"}


# --- preview ------------------------------------------------------------------------------------------------------


def preview(svc: SettingsServices, tenant_id: str, crm: str, request: PreviewRequest) -> PreviewResult:
    """Exactly what exporting the sample lead would write under the current settings; writes nothing."""
    settings = get_settings(svc, tenant_id, crm)
    try:
        lead = Lead.model_validate(request.lead)
    except ValidationError as exc:
        error = invalid_from_pydantic(exc)
        for problem in error.errors:
            problem["loc"] = ["body", "lead", *problem["loc"][1:]]
            problem["path"] = "lead." + problem["path"] if problem["path"] else "lead"
        raise InvalidInput(
            error.message.replace("Invalid settings", "Invalid sample lead"), errors=error.errors
        ) from None
    # The same preparation export does (phones to E.164 for the lead's country), so preview == export.
    lead, warnings = prepare_lead(lead, settings)
    source = _metadata(svc, tenant_id, crm, settings)
    outbound = [
        o
        for o in (CrmObject.COMPANY, CrmObject.PERSON, CrmObject.DEAL)
        if settings.objects.for_object(o).direction.outbound
    ]
    fields = {obj: source.fields(obj) for obj in outbound}
    return PreviewResult(
        settings_version=settings.version,
        plan=plan_lead(settings, lead, fields, linked=request.linked),
        warnings=warnings,
    )


# --- lookups for the settings screen ------------------------------------------------------------------------------


def crm_source(svc: SettingsServices, tenant_id: str, crm: str) -> MetadataSource:
    """The connected CRM's metadata (objects, fields, stages, users), read live."""
    require_supported(svc, crm)
    return svc.metadata(tenant_id, crm)
