"""Validation of settings against live CRM metadata (through an in-memory MetadataSource)."""

from __future__ import annotations

from typing import Any

from leadbridge.crm.defaults import default_settings
from leadbridge.mapping import Metadata, validate_settings
from leadbridge.models.crm import CrmObject, FieldInfo
from leadbridge.models.settings import SettingsDocument
from tests.support.crm_metadata import F, InMemoryMetadata, fi

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


def test_matching_fields_must_be_searchable_company_fields() -> None:
    assert errors(doc_with(matching={"org_nr_field": "OrgNr", "domain_field": "Url"})) == {}
    found = errors(doc_with(matching={"org_nr_field": "Orgnr", "domain_field": "RabitIQ:1"}))
    assert found["matching.org_nr_field"] == "'Orgnr' is not a field of Contact in SuperOffice; did you mean 'OrgNr'?"
    assert found["matching.domain_field"].startswith("'RabitIQ:1' (integer) cannot be searched in SuperOffice")
    company = [fi("Code", filterable=False), *META.fields[CrmObject.COMPANY]]
    unfilterable = META.model_copy(update={"fields": {**META.fields, CrmObject.COMPANY: company}})
    report = validate_settings(doc_with(matching={"org_nr_field": "Code"}), unfilterable, crm_label="SuperOffice")
    assert [(e.path, e.code) for e in report.errors] == [("matching.org_nr_field", "unsearchable_field")]


# A Salesforce org's describe, reduced to the required-on-create fields (as `SalesforceConnector.fields` gives them:
# Lead mode's LastName is filled by the connector, so not required there).
SF_ACCOUNT = [fi("Name", required=True), fi("AccountNumber"), fi("Website", F.URL), fi("OwnerId", F.REFERENCE)]
SF_OPPORTUNITY = [fi("Name", required=True), fi("StageName", F.PICKLIST, required=True), fi("CloseDate", F.DATE,
                  required=True), fi("Amount", F.DECIMAL), fi("Probability", F.DECIMAL)]  # fmt: skip
SF_CONTACT = [fi("LastName", required=True), fi("FirstName"), fi("Email", F.EMAIL)]
SF_TASK = [fi("Subject"), fi("Status", F.PICKLIST, required=True), fi("ActivityDate", F.DATE)]
SF_LEAD_COMPANY = [fi("Company", required=True), fi("LastName"), fi("Website", F.URL), fi("Status", F.PICKLIST)]


def required_warnings(doc: SettingsDocument, fields: dict[CrmObject, list[FieldInfo]]) -> list[str]:
    report = validate_settings(doc, Metadata(fields=fields), crm_label="Salesforce")
    return [w.reason for w in report.warnings if w.code == "required_not_mapped"]


def test_fields_leadbridge_fills_are_not_reported_as_required_and_unmapped() -> None:
    sf = default_settings("salesforce")
    fields = {CrmObject.COMPANY: SF_ACCOUNT, CrmObject.PERSON: SF_CONTACT, CrmObject.DEAL: SF_OPPORTUNITY,
              CrmObject.ACTIVITY: SF_TASK}  # fmt: skip
    assert any(m.crm_stage for m in sf.status_mapping.stages)
    assert required_warnings(sf, fields) == []  # StageName comes from the status mapping, Task Status from the profile
    without_stages = sf.model_copy(update={"status_mapping": sf.status_mapping.model_copy(update={"stages": []})})
    assert required_warnings(without_stages, fields) == [
        "'StageName' is required in the CRM but not mapped; creating deal records may fail"
    ]
    custom = {**fields, CrmObject.COMPANY: [*SF_ACCOUNT, fi("Region__c", required=True, custom=True)]}
    assert required_warnings(sf, custom) == [
        "'Region__c' is required in the CRM but not mapped; creating company records may fail"
    ]


def test_lead_mode_lastname_filled_by_the_connector_is_not_reported() -> None:
    raw = default_settings("salesforce").model_dump()
    raw["objects"]["company"]["crm_object"] = "Lead"
    raw["field_mappings"]["company"] = [{"app_fields": ["company_name"], "crm_field": "Company", "direction": "both"},
                                        {"app_fields": ["website"], "crm_field": "Website", "direction": "both"}]
    lead_mode = SettingsDocument.model_validate(raw)
    assert required_warnings(lead_mode, {CrmObject.COMPANY: SF_LEAD_COMPANY}) == []
    with_required_last_name = [fi("LastName", required=True) if f.name == "LastName" else f for f in SF_LEAD_COMPANY]
    assert required_warnings(lead_mode, {CrmObject.COMPANY: with_required_last_name}) == [
        "'LastName' is required in the CRM but not mapped; creating company records may fail"
    ]  # what a metadata source that does not say the connector fills it would get
