"""Saving the settings: replace (PUT) or merge-patch (PATCH) with optimistic concurrency (If-Match against the
version's ETag), validate, save a new version with its audit record, log the change, and schedule the next run."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import Conflict, InvalidInput, PreconditionFailed, StoreUnavailable
from leadbridge.mapping.validation import Problem, ValidationReport
from leadbridge.models.settings import SECTIONS, SettingsDocument, SettingsInput
from leadbridge.models.synclog import Action, Direction, Outcome, SyncLogEntry, Trigger
from leadbridge.settings.contracts import SaveResult
from leadbridge.settings.ports import SettingsServices, require_supported
from leadbridge.settings.reading import get_settings
from leadbridge.settings.schedule import next_run
from leadbridge.settings.validation import invalid_from_pydantic, validate_against_crm
from leadbridge.store.settings import SettingsChange

log = logging.getLogger(__name__)


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
    check_patch(patch)
    current = get_settings(svc, tenant_id, crm)
    _check_version(current, if_match)
    return _save(svc, tenant_id, current, patched(current, patch), actor=actor, operation="patch")


def check_patch(patch: Mapping[str, Any], *, loc: tuple[str, ...] = ("body",)) -> None:
    """A merge patch names one or more sections and nothing else; InvalidInput naming each unknown key."""
    unknown = [k for k in patch if k not in SECTIONS]
    if unknown or not patch:
        raise InvalidInput(
            "A settings patch names one or more sections: " + ", ".join(SECTIONS),
            errors=[
                {"loc": [*loc, k], "path": k, "type": "unknown_section", "message": f"{k!r} is not a section"}
                for k in unknown
            ]
            or [{"loc": list(loc), "path": "", "type": "empty_patch", "message": "the patch is empty"}],
        )


def patched(current: SettingsDocument, patch: Mapping[str, Any]) -> dict[str, Any]:
    """The sections of `current` with the merge patch applied (a section set to null goes back to its default)."""
    data = current.model_dump(mode="json", include=set(SECTIONS))
    for section, value in patch.items():
        data[section] = merge_patch(data.get(section), value)
        if data[section] is None:
            data.pop(section)  # null resets the whole section to its default
    return data


SWITCHED_SECTIONS = ("field_mappings", "status_mapping")


def follow_object_switch(current: SettingsDocument, data: dict[str, Any]) -> dict[str, Any] | None:
    """A save that switches CRM objects (Salesforce Account → Lead): the field mappings (per object) and the status
    mapping still at the old choice's defaults become the new choice's defaults, in `data`; mappings changed by hand
    stay. Returns the new choice's defaults (the proposal a refusal shows), or None when nothing was switched."""
    old = {name: spec.crm_object for name, spec in current.objects}
    raw = data.get("objects")
    new = {name: str(spec.get("crm_object")) for name, spec in (raw if isinstance(raw, dict) else {}).items()
           if isinstance(spec, dict)}  # fmt: skip
    if not new or new == old:
        return None
    before = default_settings(current.crm, old).model_dump(mode="json", include=set(SWITCHED_SECTIONS))
    after = default_settings(current.crm, new).model_dump(mode="json", include=set(SWITCHED_SECTIONS))
    if before == after:
        return None
    mappings = data.get("field_mappings")
    if isinstance(mappings, dict):
        for obj, default in before["field_mappings"].items():
            if mappings.get(obj) == default:
                mappings[obj] = after["field_mappings"][obj]
    if data.get("status_mapping") == before["status_mapping"]:
        data["status_mapping"] = after["status_mapping"]
    return after


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
    candidate, report = candidate_settings(svc, tenant_id, current, data, actor=actor, now=now)

    # Server-owned values: the next run and the moment the selective-sync rules took effect.
    candidate.schedule.next_run_at = next_run(candidate.schedule, now)
    if candidate.selective_sync.model_dump(exclude={"effective_from"}) != current.selective_sync.model_dump(
        exclude={"effective_from"}
    ) or (candidate.selective_sync.enabled and current.selective_sync.effective_from is None):
        candidate.selective_sync.effective_from = now
    else:
        candidate.selective_sync.effective_from = current.selective_sync.effective_from

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


def candidate_settings(
    svc: SettingsServices,
    tenant_id: str,
    current: SettingsDocument,
    data: dict[str, Any],
    *,
    actor: str | None,
    now: datetime,
) -> tuple[SettingsDocument, ValidationReport]:
    """The next version of the settings from `data` (sections; the missing ones at their defaults), with an object
    switch followed (`follow_object_switch`), validated as a whole and against the connected CRM. A save stores it;
    a preview of unsaved changes plans with it. Raises InvalidInput naming each path (with `details.proposal` when
    the objects were switched)."""
    defaults = default_settings(current.crm).model_dump(mode="json", include=set(SECTIONS))
    merged = {**defaults, **data}
    proposal = follow_object_switch(current, merged)
    try:
        try:
            candidate = SettingsDocument.model_validate(
                {**merged, "crm": current.crm, "version": current.version + 1, "updated_by": actor, "updated_at": now}
            )
        except ValidationError as exc:
            raise invalid_from_pydantic(exc) from None
        return candidate, validate_against_crm(svc, tenant_id, candidate)
    except InvalidInput as exc:
        if proposal is not None:  # a switch of objects whose mappings were changed by hand: say what would fit
            exc.details["proposal"] = proposal
            exc.message += (" The CRM objects were switched: `details.proposal` holds the default field mappings and "
                            "status mapping for the new objects.")  # fmt: skip
        raise


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
