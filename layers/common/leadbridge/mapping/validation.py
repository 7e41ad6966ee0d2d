"""Validation of a settings document against the CRM's live metadata.

Errors are precise (a path such as `field_mappings.company[3].crm_field` and a reason a user can act on). Custom fields
that do not exist in the CRM (yet) are not errors: they are listed in `missing` and skipped when mapping (seed 002:
"fields not created are skipped").

`refuse_before_write` is the other half: what one write (an export's company and persons, a deal, an activity) would
be refused for by the CRM, judged from the same metadata before the first CRM write of the operation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.defaults import profile
from leadbridge.errors import CrmNotFound, RefusedBeforeWrite
from leadbridge.mapping import transforms as t
from leadbridge.mapping.engine import TEXT_TYPES, MappedRecord, Refusal, fields_by_name
from leadbridge.mapping.lead import LeadPlan
from leadbridge.models.crm import CrmObject, CrmObjectInfo, CrmUser, FieldInfo, FieldType, Stage
from leadbridge.models.lead import AppFieldKind, app_fields
from leadbridge.models.settings import FieldMapping, RuleOp, SettingsDocument


class MetadataSource(Protocol):
    """The metadata half of `leadbridge.crm.base.Connector`: all settings validation needs from a CRM."""

    crm: str

    def objects(self) -> list[CrmObjectInfo]: ...

    def fields(self, obj: CrmObject) -> list[FieldInfo]: ...

    def stages(self) -> list[Stage]: ...

    def users(self) -> list[CrmUser]: ...


class Metadata(BaseModel):
    """A snapshot of the CRM's metadata, read once per validation/preview."""

    model_config = ConfigDict(defer_build=True)

    objects: list[CrmObjectInfo] = Field(default_factory=list)
    fields: dict[CrmObject, list[FieldInfo]] = Field(default_factory=dict)
    stages: list[Stage] = Field(default_factory=list)
    users: list[CrmUser] = Field(default_factory=list)

    @classmethod
    def read(
        cls,
        source: MetadataSource,
        objects: Sequence[CrmObject] | None = None,
        *,
        stages: bool = True,
        users: bool = True,
    ) -> Metadata:
        """Read what validation needs; leave out stages/users when the document names none (fewer CRM calls)."""
        wanted = list(objects) if objects is not None else list(CrmObject)
        fields: dict[CrmObject, list[FieldInfo]] = {}
        for obj in wanted:
            try:
                fields[obj] = source.fields(obj)
            except CrmNotFound:
                continue  # the CRM has no such object; mappings on it are reported against `objects`
        return cls(
            objects=source.objects(),
            fields=fields,
            stages=source.stages() if stages else [],
            users=source.users() if users else [],
        )

    @classmethod
    def for_document(cls, source: MetadataSource, doc: SettingsDocument) -> Metadata:
        """The metadata validating `doc` needs: fields of the objects in use, stages and users only when mapped."""
        active = [o for o in CrmObject if doc.objects.for_object(o).direction.value != "off"]
        needs_stages = any(m.crm_stage or m.crm_status for m in doc.status_mapping.stages)
        needs_users = bool(doc.owners.default_crm_user or doc.owners.user_map)
        return cls.read(source, active, stages=needs_stages, users=needs_users)


class Problem(BaseModel):
    model_config = ConfigDict(defer_build=True)

    path: str
    reason: str
    code: str


class MissingField(BaseModel):
    model_config = ConfigDict(defer_build=True)

    path: str
    object: CrmObject
    crm_field: str
    reason: str


class ValidationReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    errors: list[Problem] = Field(default_factory=list)
    missing: list[MissingField] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# Which app value kinds a CRM field type accepts without a `convert` transform.
_ACCEPTS: dict[FieldType, set[AppFieldKind]] = {
    **{ft: set(AppFieldKind) for ft in TEXT_TYPES},  # anything renders as text
    FieldType.INTEGER: {AppFieldKind.INTEGER, AppFieldKind.DECIMAL},
    FieldType.DECIMAL: {AppFieldKind.INTEGER, AppFieldKind.DECIMAL},
    FieldType.BOOLEAN: {AppFieldKind.BOOLEAN},
    FieldType.DATE: {AppFieldKind.DATE, AppFieldKind.DATETIME},
    FieldType.DATETIME: {AppFieldKind.DATE, AppFieldKind.DATETIME},
    FieldType.REFERENCE: set(),
}
# And which CRM field types an app field of a kind can be read from.
_APP_ACCEPTS: dict[AppFieldKind, set[FieldType]] = {
    AppFieldKind.TEXT: set(FieldType) - {FieldType.REFERENCE},
    AppFieldKind.INTEGER: {FieldType.INTEGER, FieldType.DECIMAL},
    AppFieldKind.DECIMAL: {FieldType.INTEGER, FieldType.DECIMAL},
    AppFieldKind.BOOLEAN: {FieldType.BOOLEAN},
    AppFieldKind.DATE: {FieldType.DATE, FieldType.DATETIME},
    AppFieldKind.DATETIME: {FieldType.DATE, FieldType.DATETIME},
}
_CONVERT_KIND = {
    "string": AppFieldKind.TEXT,
    "integer": AppFieldKind.INTEGER,
    "decimal": AppFieldKind.DECIMAL,
    "boolean": AppFieldKind.BOOLEAN,
    "date": AppFieldKind.DATE,
    "datetime": AppFieldKind.DATETIME,
}


def validate_settings(doc: SettingsDocument, meta: Metadata, *, crm_label: str = "the CRM") -> ValidationReport:
    report = ValidationReport()
    _check_objects(doc, meta, report, crm_label)
    for obj in CrmObject:
        # Mappings of an object that is off are checked against the CRM when it is switched on.
        fields = meta.fields.get(obj) if doc.objects.for_object(obj).direction.value != "off" else None
        for index, mapping in enumerate(doc.field_mappings.for_object(obj)):
            _check_mapping(obj, index, mapping, fields, report, crm_label)
        if fields is not None and doc.objects.for_object(obj).direction.outbound:
            _check_required(doc, obj, fields, report)
    _check_matching(doc, meta, report, crm_label)
    _check_inbound_sources(doc, report)
    _check_status_mapping(doc, meta, report)
    _check_owners(doc, meta, report)
    _check_rules(doc, report)
    _check_inbound_filter(doc, meta, report, crm_label)
    if any(x.kind == "country" for m in _all_mappings(doc) for x in m.transforms) and not (
        doc.country_mapping.names or doc.country_mapping.default
    ):
        report.warnings.append(
            Problem(
                path="country_mapping",
                code="empty",
                reason="a mapping uses the country transform but "
                "country_mapping is empty, so countries are sent as the app has them",
            )
        )
    return report


def _all_mappings(doc: SettingsDocument) -> list[FieldMapping]:
    return [m for obj in CrmObject for m in doc.field_mappings.for_object(obj)]


def _check_objects(doc: SettingsDocument, meta: Metadata, report: ValidationReport, crm_label: str) -> None:
    for obj in CrmObject:
        setting = doc.objects.for_object(obj)
        if setting.direction.value == "off":
            continue  # an unused object need not exist in this CRM
        choices = [o.crm_name for o in meta.objects if o.object == obj]
        if setting.crm_object not in choices:
            hint = f"choose one of: {', '.join(choices)}" if choices else f"{crm_label} has no object for {obj.value}"
            report.errors.append(
                Problem(
                    path=f"objects.{obj.value}.crm_object",
                    code="unknown_crm_object",
                    reason=f"{setting.crm_object!r} is not a {crm_label} object for {obj.value}; {hint}",
                )
            )


def _check_mapping(
    obj: CrmObject,
    index: int,
    mapping: FieldMapping,
    fields: list[FieldInfo] | None,
    report: ValidationReport,
    crm_label: str,
) -> None:
    base = f"field_mappings.{obj.value}[{index}]"
    known_app = app_fields(obj)
    for j, name in enumerate(mapping.app_fields):
        if name not in known_app:
            report.errors.append(
                Problem(
                    path=f"{base}.app_fields[{j}]",
                    code="unknown_app_field",
                    reason=f"{name!r} is not an app field of {obj.value}; known fields: {', '.join(sorted(known_app))}",
                )
            )
    if fields is None:
        return  # object not read (off and unmapped by the CRM); nothing to check against
    by_name = {f.name: f for f in fields}
    info = by_name.get(mapping.crm_field)
    path = f"{base}.crm_field"
    if info is None:
        if mapping.custom:
            report.missing.append(
                MissingField(
                    path=path,
                    object=obj,
                    crm_field=mapping.crm_field,
                    reason=f"custom field {mapping.crm_field!r} does not exist in {crm_label}; it is skipped until "
                    "it is created",
                )
            )
        else:
            report.errors.append(
                Problem(
                    path=path,
                    code="unknown_crm_field",
                    reason=f"{mapping.crm_field!r} is not a field of {obj.value} in {crm_label}"
                    + _suggest(mapping.crm_field, by_name),
                )
            )
        return
    if info.type is FieldType.REFERENCE and any(x.kind == "country" for x in mapping.transforms):
        if mapping.inbound:
            report.errors.append(
                Problem(
                    path=path,
                    code="wrong_type",
                    reason=f"{info.name!r} is a country reference; it can only be written (direction 'to_crm')",
                )
            )
        return
    if info.type is FieldType.REFERENCE:
        report.errors.append(
            Problem(
                path=path,
                code="reference_field",
                reason=f"{info.name!r} is a reference field; leadbridge sets links and owners itself (see 'owners'); "
                "a country reference needs a 'country' transform",
            )
        )
        return
    if mapping.outbound and not info.updateable:
        report.errors.append(
            Problem(
                path=path,
                code="read_only",
                reason=f"{info.name!r} is read-only in {crm_label}; it cannot be written (use direction 'from_crm')",
            )
        )
    if mapping.outbound:
        kind = _outbound_kind(mapping, known_app)
        if kind is not None and kind not in _ACCEPTS[info.type]:
            report.errors.append(
                Problem(
                    path=path,
                    code="wrong_type",
                    reason=f"{info.name!r} holds {info.type.value} values but the app value is {kind.value}; add a "
                    f"'convert' transform to {info.type.value} or map a {info.type.value} app field",
                )
            )
    if mapping.inbound:
        app_kind = known_app.get(mapping.app_fields[0])
        if app_kind is not None and info.type not in _APP_ACCEPTS[app_kind]:
            report.errors.append(
                Problem(
                    path=path,
                    code="wrong_type",
                    reason=f"{info.name!r} holds {info.type.value} values, which cannot be stored in the app field "
                    f"{mapping.app_fields[0]!r} ({app_kind.value})",
                )
            )
    for j, transform in enumerate(mapping.transforms):
        if transform.kind == "truncate" and transform.length and info.length and transform.length > info.length:
            report.warnings.append(
                Problem(
                    path=f"{base}.transforms[{j}].length",
                    code="longer_than_crm",
                    reason=f"{info.name!r} holds at most {info.length} characters; text is cut to that",
                )
            )


def _outbound_kind(mapping: FieldMapping, known_app: Mapping[str, AppFieldKind]) -> AppFieldKind | None:
    """The kind of the value a mapping produces (after transforms), None when unknown app fields make it moot."""
    kinds = [known_app.get(name) for name in mapping.app_fields]
    if any(k is None for k in kinds):
        return None
    kind: AppFieldKind | None = kinds[0]
    for transform in mapping.transforms:
        if transform.kind in ("join", "split_name", "country"):
            kind = AppFieldKind.TEXT
        elif transform.kind == "convert":
            kind = _CONVERT_KIND[transform.to]
    return kind


def _suggest(name: str, by_name: Mapping[str, FieldInfo]) -> str:
    close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
    lowered = [n for n in by_name if n.casefold() == name.casefold()]
    hints = lowered or close
    return f"; did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""


def filled_by_leadbridge(doc: SettingsDocument, obj: CrmObject) -> set[str]:
    """CRM fields of `obj` leadbridge writes itself, not through field mappings (`CrmProfile`): the deal's stage,
    status and probability while the status mapping names them, a record's own status (Salesforce Lead `Status`),
    the owner while default owners are set, an activity's done-state. Fields a connector fills on create (Salesforce
    Lead `LastName`) already come from its `fields()` as not required."""
    prof = profile(doc.crm)
    stages, statuses = (any(getattr(m, a) for m in doc.status_mapping.stages) for a in ("crm_stage", "crm_status"))
    filled: set[str | None] = set()
    if obj is CrmObject.DEAL:
        filled |= {prof.stage_field, prof.probability_field} if stages else set()
        filled |= {prof.status_field} if statuses else set()
    if statuses:
        filled.add(prof.record_status_fields.get(doc.objects.for_object(obj).crm_object))
    if doc.owners.default_crm_user or doc.owners.user_map:
        filled.add(prof.owner_field)
    if obj is CrmObject.ACTIVITY and prof.activity_status_values:
        filled.add(prof.activity_status_field)
    return {f for f in filled if f}


def _check_required(doc: SettingsDocument, obj: CrmObject, fields: list[FieldInfo], report: ValidationReport) -> None:
    mapped = {m.crm_field for m in doc.field_mappings.for_object(obj) if m.outbound} | filled_by_leadbridge(doc, obj)
    for f in fields:
        if f.required and f.updateable and f.type is not FieldType.REFERENCE and f.name not in mapped:
            report.warnings.append(
                Problem(
                    path=f"field_mappings.{obj.value}",
                    code="required_not_mapped",
                    reason=f"{f.name!r} is required in the CRM but not mapped; creating {obj.value} records may fail",
                )
            )


# Field types a company search compares as text (SOQL `=`/`LIKE`, SuperOffice archive `begins`/`contains`).
SEARCHABLE_TYPES = {FieldType.STRING, FieldType.EMAIL, FieldType.PHONE, FieldType.URL}


def searchable(info: FieldInfo) -> bool:
    """Whether a company search can look a value up in this field (what `matching` may name)."""
    return info.type in SEARCHABLE_TYPES and info.filterable


def _check_matching(doc: SettingsDocument, meta: Metadata, report: ValidationReport, crm_label: str) -> None:
    """`matching` names company fields the CRM has and can search by text. What only the connector knows (a
    SuperOffice extra field is no archive column) is checked by `settings.validation` through the connector."""
    fields = meta.fields.get(CrmObject.COMPANY)
    if fields is None:
        return
    by_name = {f.name: f for f in fields}
    company = doc.objects.company.crm_object
    for key in ("org_nr_field", "domain_field"):
        name = getattr(doc.matching, key)
        if name is None:
            continue
        info = by_name.get(name)
        if info is None:
            report.errors.append(
                Problem(
                    path=f"matching.{key}",
                    code="unknown_crm_field",
                    reason=f"{name!r} is not a field of {company} in {crm_label}{_suggest(name, by_name)}",
                )
            )
        elif not searchable(info):
            report.errors.append(
                Problem(
                    path=f"matching.{key}",
                    code="unsearchable_field",
                    reason=f"{name!r} ({info.type.value}) cannot be searched in {crm_label}; choose a text, e-mail, "
                    "phone or URL field the CRM can filter by",
                )
            )


def _check_inbound_sources(doc: SettingsDocument, report: ValidationReport) -> None:
    """One app field fed from the CRM by several CRM fields is ambiguous (a CRM user's edit of one would be lost to
    the other) unless each of them says its `precedence` (distinct numbers; 1 is asked first)."""
    for obj in CrmObject:
        if not doc.objects.for_object(obj).direction.inbound:
            continue
        feeding: dict[str, list[int]] = {}
        mappings = doc.field_mappings.for_object(obj)
        for index, mapping in enumerate(mappings):
            if mapping.inbound:
                feeding.setdefault(mapping.app_fields[0], []).append(index)
        for app_field, indexes in feeding.items():
            if len(indexes) < 2:
                continue
            names = " and ".join(
                f"field_mappings.{obj.value}[{i}] ({mappings[i].crm_field!r}, {mappings[i].direction})" for i in indexes
            )
            ranks = [mappings[i].precedence for i in indexes]
            if any(r is None for r in ranks):
                report.errors.append(
                    Problem(
                        path=f"field_mappings.{obj.value}[{indexes[1]}].precedence",
                        code="duplicate_inbound_source",
                        reason=f"{names} all bring CRM values into the app field {app_field!r}; set 'precedence' "
                        "on each (1 is asked first, the first non-empty value wins) or make all but one 'to_crm'",
                    )
                )
            elif len(set(ranks)) != len(ranks):
                report.errors.append(
                    Problem(
                        path=f"field_mappings.{obj.value}[{indexes[1]}].precedence",
                        code="duplicate_precedence",
                        reason=f"{names} feed the app field {app_field!r} with the same 'precedence'; give each "
                        "a different number",
                    )
                )


def _check_status_mapping(doc: SettingsDocument, meta: Metadata, report: ValidationReport) -> None:
    by_group: dict[str, dict[str, Stage]] = {}
    for stage in meta.stages:
        by_group.setdefault(stage.group, {})[stage.id] = stage
    for i, m in enumerate(doc.status_mapping.stages):
        for attr, group in (("crm_stage", "stage"), ("crm_status", "status")):
            value = getattr(m, attr)
            if value is None:
                continue
            known = by_group.get(group, {})
            if value not in known:
                choices = ", ".join(f"{s.id} ({s.name})" for s in sorted(known.values(), key=lambda s: s.rank))
                report.errors.append(
                    Problem(
                        path=f"status_mapping.stages[{i}].{attr}",
                        code=f"unknown_{attr}",
                        reason=f"{value!r} is not a CRM {group} id; choose one of: {choices or 'none offered'}",
                    )
                )


def _check_owners(doc: SettingsDocument, meta: Metadata, report: ValidationReport) -> None:
    users = {u.id: u for u in meta.users}
    targets = [("owners.default_crm_user", doc.owners.default_crm_user)] + [
        (f"owners.user_map.{app_user}", crm_user) for app_user, crm_user in doc.owners.user_map.items()
    ]
    for path, user_id in targets:
        if user_id is None:
            continue
        user = users.get(user_id)
        if user is None:
            report.errors.append(
                Problem(path=path, code="unknown_crm_user", reason=f"{user_id!r} is not a user in the CRM")
            )
        elif not user.active:
            report.errors.append(
                Problem(path=path, code="inactive_crm_user", reason=f"CRM user {user.name!r} ({user_id}) is inactive")
            )


def _check_inbound_filter(doc: SettingsDocument, meta: Metadata, report: ValidationReport, crm_label: str) -> None:
    """Inbound filter conditions name CRM fields of objects that sync from the CRM."""
    for i, c in enumerate(doc.inbound_filter.conditions):
        base = f"inbound_filter.conditions[{i}]"
        if not doc.objects.for_object(c.object).direction.inbound:
            report.errors.append(
                Problem(
                    path=f"{base}.object",
                    code="not_inbound",
                    reason=f"{c.object.value} does not sync from the CRM (objects.{c.object.value}.direction); "
                    "a filter on it would never apply",
                )
            )
            continue
        fields = meta.fields.get(c.object)
        if fields is None:
            continue
        by_name = {f.name: f for f in fields}
        if c.crm_field not in by_name:
            report.errors.append(
                Problem(
                    path=f"{base}.crm_field",
                    code="unknown_crm_field",
                    reason=f"{c.crm_field!r} is not a field of {c.object.value} in {crm_label}"
                    f"{_suggest(c.crm_field, by_name)}",
                )
            )


def _check_rules(doc: SettingsDocument, report: ValidationReport) -> None:
    for i, c in enumerate(doc.selective_sync.conditions):
        base = f"selective_sync.conditions[{i}]"
        known = app_fields(c.object)
        if c.field not in known:
            report.errors.append(
                Problem(
                    path=f"{base}.field",
                    code="unknown_app_field",
                    reason=f"{c.field!r} is not an app field of {c.object.value}",
                )
            )
        if c.op is RuleOp.AT_OR_AFTER_STAGE and c.value not in doc.status_mapping.app_stages:
            report.errors.append(
                Problem(
                    path=f"{base}.value",
                    code="unknown_stage",
                    reason=f"{c.value!r} is not one of status_mapping.app_stages",
                )
            )


# --- before a write -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteCheck:
    """One record an operation is about to write: where it sits in the answer (`loc`, e.g. `["crm", "person", 1]`),
    its planned fields, the CRM's metadata of its object, and whether it will be created (required fields apply)."""

    loc: list[str | int]
    record: MappedRecord
    crm_fields: Iterable[FieldInfo] | Mapping[str, FieldInfo] | None
    creating: bool


def refusals(
    record: MappedRecord, crm_fields: Iterable[FieldInfo] | Mapping[str, FieldInfo] | None, *, creating: bool
) -> list[Refusal]:
    """What the CRM would refuse in `record`: the values the engine found it would refuse, and (when creating) each
    required field without a value. Reference fields (links, owner) are filled by the connector, not by mappings."""
    found = list(record.refused)
    meta = fields_by_name(crm_fields)
    if not creating or meta is None:
        return found
    named = {r.crm_field for r in found}
    for info in meta.values():
        if not info.required or not info.updateable or info.type is FieldType.REFERENCE or info.name in named:
            continue
        if not t.is_empty(record.fields.get(info.name)):
            continue
        feeding = next((s for s in record.skipped if s.crm_field == info.name), None)
        if feeding is not None and feeding.app_fields:
            message = (
                f"{info.name!r} ({info.label}) is required in the CRM and the lead has no value for it "
                f"({', '.join(feeding.app_fields)}: {feeding.detail})"
            )
            app = list(feeding.app_fields)
        else:
            message = f"{info.name!r} ({info.label}) is required in the CRM and no field mapping fills it"
            app = []
        found.append(Refusal(crm_field=info.name, app_fields=app, type="required", message=message))
    return found


def refuse_before_write(checks: Iterable[WriteCheck], *, what: str) -> None:
    """Raise `RefusedBeforeWrite` (422) naming every field of every record the CRM would refuse; nothing is written
    then. `what` names the operation in the message ("the export", "the deal", "the activity")."""
    errors: list[dict[str, Any]] = []
    for check in checks:
        for refusal in refusals(check.record, check.crm_fields, creating=check.creating):
            errors.append(
                {
                    "loc": [*check.loc, refusal.crm_field],
                    "type": refusal.type,
                    "message": refusal.message,
                    "app_fields": refusal.app_fields,
                }
            )
    if not errors:
        return
    listed = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    exc = RefusedBeforeWrite(
        f"The CRM would refuse {what}, so nothing was written: {listed}{more}. Correct the lead or the field "
        "mapping and send it again.",
        errors=errors,
    )
    exc.details["fields"] = list(dict.fromkeys(str(e["loc"][-1]) for e in errors))
    raise exc


def refuse_unknown_objects(
    doc: SettingsDocument, offered: Iterable[CrmObjectInfo], objects: Iterable[CrmObject]
) -> None:
    """Raise `RefusedBeforeWrite` (422) when the settings name a CRM object the CRM does not offer for one of
    `objects` (e.g. `objects.company.crm_object: "Acount"`), before anything is written."""
    errors: list[dict[str, Any]] = []
    for obj in objects:
        name = doc.objects.for_object(obj).crm_object
        choices = [o.crm_name for o in offered if o.object == obj]
        if name not in choices:
            errors.append(
                {
                    "loc": ["settings", "objects", obj.value, "crm_object"],
                    "type": "unknown_crm_object",
                    "message": f"{name!r} is not a CRM object for {obj.value}; choose one of: {', '.join(choices)}",
                }
            )
    if errors:
        raise RefusedBeforeWrite(
            "The settings name CRM objects the CRM does not have, so nothing was written: "
            + "; ".join(e["message"] for e in errors)
            + ". An admin can correct them in the integration settings.",
            errors=errors,
        )


def plan_warnings(
    plan: LeadPlan, crm_fields: Mapping[CrmObject, Iterable[FieldInfo]], *, creating: bool
) -> list[str]:
    """The settings preview's words for what the plan would meet: the warnings export gives (in its words: a value
    the CRM changes, rounded or cut to length), each refusal of the company or a person (export answers 422 and
    writes nothing) and of the deal (a lead event would be refused)."""
    out: list[str] = []
    if plan.company is not None:
        out += [f"{name} was cut to the CRM's length" for name in plan.company.truncated] + plan.company.warnings
    for record in plan.persons:
        out += [f"person {record.app_id}: {name} was cut to the CRM's length" for name in record.truncated]
        out += [f"person {record.app_id}: {w}" for w in record.warnings]
    labelled: list[tuple[str, MappedRecord | None]] = [("company", plan.company)]
    labelled += [(f"person {i}", person) for i, person in enumerate(plan.persons)]
    labelled.append(("deal", plan.deal))
    for label, planned in labelled:
        if planned is None:
            continue
        what = "a lead event would be refused" if planned.object is CrmObject.DEAL else "export would be refused"
        out += [
            f"{what}: {label} {refusal.crm_field}: {refusal.message}"
            for refusal in refusals(planned, crm_fields.get(planned.object), creating=creating)
        ]
    return out
