"""Validating a settings document: against the connected CRM's live metadata (`validate_against_crm`), and pydantic's
errors as a 422 naming each field path (`invalid_from_pydantic`)."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from leadbridge.crm.base import SupportsSelections
from leadbridge.crm.defaults import profile
from leadbridge.errors import InvalidInput, RefusedBeforeWrite
from leadbridge.mapping import Metadata, validate_settings
from leadbridge.mapping.validation import ValidationReport
from leadbridge.models.crm import CrmRecord
from leadbridge.models.settings import SettingsDocument
from leadbridge.settings.crm_metadata import metadata_source
from leadbridge.settings.ports import SettingsServices


def validate_against_crm(svc: SettingsServices, tenant_id: str, candidate: SettingsDocument) -> ValidationReport:
    """The report of `candidate` against the connected CRM's metadata for its object choice; raises InvalidInput (422
    naming each path) when the document does not fit the CRM."""
    source = metadata_source(svc, tenant_id, candidate.crm, candidate)
    report = validate_settings(
        candidate, Metadata.for_document(source, candidate), crm_label=profile(candidate.crm).label
    )
    errors = [
        {"loc": ["body", *_loc(e.path)], "path": e.path, "type": e.code, "message": e.reason} for e in report.errors
    ] + _selection_errors(source, candidate)
    if not any(e.path.startswith("matching.") for e in report.errors):
        errors += _matching_errors(source, candidate)
    if errors:
        raise InvalidInput(
            f"The settings do not fit the connected {profile(candidate.crm).label}: "
            + "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]),
            errors=errors,
        )
    return report


def _selection_errors(source: object, candidate: SettingsDocument) -> list[dict[str, object]]:
    """Each configured static selection id the CRM does not list (one CRM call, only when ids are configured)."""
    ids = candidate.selections.static_selection_ids
    if not ids:
        return []
    label = profile(candidate.crm).label
    if not isinstance(source, SupportsSelections):
        return [_selection_error(i, "unsupported", f"{label} has no static selections") for i, _ in enumerate(ids)]
    known = {s.id: s for s in source.selections()}
    choices = ", ".join(f"{s.id} ({s.name})" for s in list(known.values())[:10]) or "none"
    return [
        _selection_error(
            i,
            "unknown_crm_selection",
            f"{sid!r} is not a static selection in {label}; choose one "
            f"of: {choices} (GET /crm/{candidate.crm}/selections)",
        )
        for i, sid in enumerate(ids)
        if sid not in known
    ]


@runtime_checkable
class _SearchesCompanies(Protocol):
    """The part of `Connector` that checks the `matching` fields (a live connector is also the metadata source)."""

    def search_companies(
        self, *, org_nr_field: str | None = None, domain_field: str | None = None
    ) -> list[CrmRecord]: ...


def _matching_errors(source: object, candidate: SettingsDocument) -> list[dict[str, object]]:
    """What only the connector knows about the `matching` fields (a SuperOffice extra field is no archive column):
    a search given the field names and no value checks them and searches nothing."""
    wanted = candidate.matching
    if (wanted.org_nr_field is None and wanted.domain_field is None) or not isinstance(source, _SearchesCompanies):
        return []
    try:
        source.search_companies(org_nr_field=wanted.org_nr_field, domain_field=wanted.domain_field)
    except RefusedBeforeWrite as exc:
        out: list[dict[str, object]] = []
        for error in exc.errors:
            loc = ["body", *error["loc"][1:]]  # ["settings", "matching", key] → the request body's path
            out.append({"loc": loc, "path": ".".join(loc[1:]), "type": error["type"], "message": error["message"]})
        return out
    return []


def _selection_error(index: int, code: str, message: str) -> dict[str, object]:
    path = f"selections.static_selection_ids[{index}]"
    return {"loc": ["body", *_loc(path)], "path": path, "type": code, "message": message}


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
