"""Validation of settings against live CRM metadata (through an in-memory MetadataSource)."""

from __future__ import annotations

from typing import Any

from leadbridge.crm.defaults import default_settings
from leadbridge.mapping import Metadata, validate_settings
from leadbridge.models.settings import SettingsDocument
from tests.support.crm_metadata import InMemoryMetadata

META = Metadata.read(InMemoryMetadata())


def doc_with(**changes: Any) -> SettingsDocument:
    raw = default_settings("superoffice").model_dump()
    for path, value in changes.items():
        target = raw
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[int(leaf) if leaf.isdigit() else leaf] = value
    return SettingsDocument.model_validate(raw)


def errors(doc: SettingsDocument) -> dict[str, str]:
    return {e.path: e.reason for e in validate_settings(doc, META, crm_label="SuperOffice").errors}


def test_defaults_are_valid_and_list_missing_custom_fields() -> None:
    report = validate_settings(default_settings("superoffice"), META)
    assert report.errors == []
    missing = {m.crm_field for m in report.missing}
    assert "RabitIQ:2" in missing and "RabitIQ:1" not in missing  # RabitIQ:1 exists in this CRM
    assert len(missing) == 33  # 37 catalogue fields, 4 created


def test_unknown_crm_field_names_the_path_and_suggests() -> None:
    doc = doc_with(field_mappings__company__0__crm_field="name")
    assert errors(doc) == {
        "field_mappings.company[0].crm_field": "'name' is not a field of company in SuperOffice; did you mean 'Name'?"
    }


def test_read_only_target_is_rejected() -> None:
    doc = doc_with(field_mappings__company__1__crm_field="Domain")
    assert "read-only" in errors(doc)["field_mappings.company[1].crm_field"]


def test_wrong_type_is_rejected_and_a_convert_transform_fixes_it() -> None:
    doc = doc_with(field_mappings__company__0__crm_field="RabitIQ:1")  # company_name (text) → Number field
    reason = errors(doc)["field_mappings.company[0].crm_field"]
    assert reason.startswith("'RabitIQ:1' holds integer values but the app value is text")
    fixed = doc_with(
        field_mappings__company__0__crm_field="RabitIQ:1",
        field_mappings__company__0__transforms=[{"kind": "convert", "to": "integer"}],
    )
    assert "field_mappings.company[0].crm_field" not in errors(fixed)


def test_unknown_app_field_and_reference_target() -> None:
    doc = doc_with(field_mappings__person__0__app_fields=["firstname"], field_mappings__person__1__crm_field="Owner")
    found = errors(doc)
    assert found["field_mappings.person[0].app_fields[0]"].startswith("'firstname' is not an app field of person")
    assert "reference field" in found["field_mappings.person[1].crm_field"]


def test_unknown_crm_object_stage_status_and_users() -> None:
    doc = doc_with(
        objects__deal__crm_object="Opportunity",
        status_mapping__stages=[{"app_stage": "Lead", "crm_stage": "77"}, {"app_stage": "Won", "crm_status": "Won"}],
        owners__default_crm_user="404",
        owners__user_map={"ann@app": "9"},
    )
    found = errors(doc)
    assert found["objects.deal.crm_object"] == "'Opportunity' is not a SuperOffice object for deal; choose one of: Sale"
    assert found["status_mapping.stages[0].crm_stage"].startswith("'77' is not a CRM stage id; choose one of: 1 (Lead)")
    assert "'Won' is not a CRM status id" in found["status_mapping.stages[1].crm_status"]
    assert found["owners.default_crm_user"] == "'404' is not a user in the CRM"
    assert "inactive" in found["owners.user_map.ann@app"]


def test_missing_standard_field_is_an_error_but_a_missing_custom_field_is_listed() -> None:
    doc = doc_with(field_mappings__company__5__crm_field="Fax")
    assert "field_mappings.company[5].crm_field" in errors(doc)
    doc = doc_with(field_mappings__company__5__crm_field="Fax", field_mappings__company__5__custom=True)
    report = validate_settings(doc, META)
    assert report.errors == [] and any(m.path == "field_mappings.company[5].crm_field" for m in report.missing)


def test_rule_on_unknown_field_and_unknown_stage() -> None:
    doc = doc_with(
        selective_sync={
            "enabled": True,
            "conditions": [
                {"field": "scroe", "op": "gte", "value": 50},
                {"object": "deal", "field": "stage", "op": "at_or_after_stage", "value": "Closing"},
            ],
        }
    )
    found = errors(doc)
    assert "'scroe' is not an app field of company" in found["selective_sync.conditions[0].field"]
    assert "'Closing' is not one of status_mapping.app_stages" in found["selective_sync.conditions[1].value"]
