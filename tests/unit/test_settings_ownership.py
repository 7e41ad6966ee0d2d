"""Issue 17 findings 2-4 in the model and the mapping engine: two-way defaults, the stage table used both ways with
the probability of the CRM stage, and field ownership (precedence, conflict policies, `on_existing`, the owner of an
existing record), and the preview's words for each policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from leadbridge.crm.defaults import default_settings, profile
from leadbridge.mapping import Metadata, apply_inbound, plan_lead, validate_settings
from leadbridge.mapping.conflicts import winner
from leadbridge.mapping.lead import for_existing_record
from leadbridge.models.crm import CrmObject, Stage
from leadbridge.models.lead import Lead
from leadbridge.models.settings import ConflictPolicy, SettingsDocument, StatusMapping
from leadbridge.settings.previewing import ownership
from tests.support.crm_metadata import InMemoryMetadata

META = Metadata.read(InMemoryMetadata())
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def settings(crm: str = "superoffice", **sections: Any) -> SettingsDocument:
    raw = default_settings(crm).model_dump(mode="json")
    raw.update(sections)
    return SettingsDocument.model_validate(raw)


def mappings(doc: SettingsDocument, obj: str) -> dict[str, Any]:
    return {m.crm_field: m for m in doc.field_mappings.for_object(CrmObject(obj))}


# --- defaults both ways -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crm", ["superoffice", "salesforce"])
def test_defaults_are_two_way_except_what_cannot_be_written_back(crm: str) -> None:
    doc = default_settings(crm)

    assert [doc.objects.for_object(o).direction.value for o in CrmObject] == ["both", "both", "both", "off"]
    for obj in ("company", "person", "deal"):
        for mapping in doc.field_mappings.for_object(CrmObject(obj)):
            kinds = {t.kind for t in mapping.transforms}
            one_way = len(mapping.app_fields) > 1 or "split_name" in kinds or mapping.crm_field == "CountryId"
            if mapping.app_fields == ["created_date"]:
                one_way = True  # the app's own creation date
            assert mapping.direction == ("to_crm" if one_way else "both"), (obj, mapping.crm_field)
            assert mapping.conflict_policy is ConflictPolicy.LATEST_WINS


def test_superoffice_defaults_validate_with_precedence_where_a_custom_field_shares_an_app_field() -> None:
    doc = default_settings("superoffice")
    company = mappings(doc, "company")

    assert validate_settings(doc, META).errors == []
    assert (company["OrgNr"].precedence, company["RabitIQ:36"].precedence) == (1, 2)
    assert (company["Department"].precedence, company["RabitIQ:3"].precedence) == (1, 2)


# --- precedence -------------------------------------------------------------------------------------------------------


def two_sources(**second: Any) -> SettingsDocument:
    raw = default_settings("superoffice").model_dump(mode="json")
    raw["field_mappings"]["company"] = [
        {"app_fields": ["company_name"], "crm_field": "Name", "direction": "both"},
        {"app_fields": ["company_name"], "crm_field": "Department", "direction": "from_crm", **second},
    ]
    return SettingsDocument.model_validate(raw)


def test_two_crm_fields_into_one_app_field_are_refused_naming_both_mappings() -> None:
    [error] = [e for e in validate_settings(two_sources(), META).errors if e.code == "duplicate_inbound_source"]

    assert error.path == "field_mappings.company[1].precedence"
    assert "field_mappings.company[0] ('Name', both)" in error.reason
    assert "field_mappings.company[1] ('Department', from_crm)" in error.reason
    assert "'company_name'" in error.reason


def test_equal_precedence_is_refused_and_distinct_precedence_is_accepted() -> None:
    raw = two_sources(precedence=1).model_dump(mode="json")
    raw["field_mappings"]["company"][0]["precedence"] = 1
    same = validate_settings(SettingsDocument.model_validate(raw), META).errors
    raw["field_mappings"]["company"][0]["precedence"] = 2
    distinct = validate_settings(SettingsDocument.model_validate(raw), META).errors

    assert [e.code for e in same] == ["duplicate_precedence"]
    assert distinct == []


def test_the_first_non_empty_value_in_precedence_order_comes_in() -> None:
    raw = two_sources(precedence=1).model_dump(mode="json")
    raw["field_mappings"]["company"][0]["precedence"] = 2
    doc = SettingsDocument.model_validate(raw)

    both = apply_inbound(doc, CrmObject.COMPANY, {"Name": "Name value", "Department": "Department value"})
    first_empty = apply_inbound(doc, CrmObject.COMPANY, {"Name": "Name value", "Department": ""})

    assert both.values["company_name"] == "Department value" and both.sources["company_name"] == "Department"
    assert first_empty.values["company_name"] == "Name value" and first_empty.sources["company_name"] == "Name"


# --- stages both ways -------------------------------------------------------------------------------------------------


SO_STAGES = {
    "app_stages": ["New", "Lead", "Qualified", "Demo", "Proposal", "Won", "Lost"],
    "stages": [
        {"app_stage": "Lead", "crm_stage": "1"},
        {"app_stage": "Qualified", "crm_stage": "2"},
        {"app_stage": "Demo", "crm_stage": "2", "inbound": True},
        {"app_stage": "Proposal", "crm_stage": "3"},
        {"app_stage": "Won", "crm_status": "Sold"},
        {"app_stage": "Lost", "crm_status": "Lost"},
    ],
    "create_at_stage": "Lead",
}


def test_a_crm_stage_comes_back_as_the_app_stage_and_won_lost_status_wins_over_the_step() -> None:
    table = StatusMapping.model_validate(SO_STAGES)

    assert table.app_stage_for("1", "Open") == "Lead"
    assert table.app_stage_for("2", "Open") == "Demo"  # two app stages map to 2: the one marked `inbound`
    assert table.app_stage_for("3", "Sold") == "Won"
    assert table.app_stage_for("3", "Lost") == "Lost"
    assert table.app_stage_for("5", "Open") is None


def test_without_an_inbound_mark_the_first_of_several_app_stages_comes_back() -> None:
    raw = {**SO_STAGES, "stages": [{**s, "inbound": False} for s in SO_STAGES["stages"]]}
    assert StatusMapping.model_validate(raw).app_stage_for("2", "Open") == "Qualified"


def test_two_inbound_marks_on_one_crm_stage_are_refused() -> None:
    raw = {
        **SO_STAGES,
        "stages": [{**s, "inbound": s["app_stage"] in ("Qualified", "Demo")} for s in SO_STAGES["stages"]],
    }

    with pytest.raises(ValidationError, match=r"stages\[1\] and stages\[2\] both map to the same CRM stage"):
        StatusMapping.model_validate(raw)


@pytest.mark.parametrize(
    ("crm", "fields", "stage", "unmapped"),
    [
        ("superoffice", {"Heading": "D", "Stage": "3", "Status": "Open"}, "Proposal", None),
        ("superoffice", {"Heading": "D", "Stage": "3", "Status": "Sold"}, "Won", None),
        ("superoffice", {"Heading": "D", "Stage": "5", "Status": "Open"}, None, "5"),
        ("salesforce", {"Name": "D", "StageName": "Negotiation/Review"}, "Negotiation", None),
        ("salesforce", {"Name": "D", "StageName": "Closed Won"}, "Won", None),
        ("salesforce", {"Name": "D", "StageName": "Id. Decision Makers"}, None, "Id. Decision Makers"),
    ],
)
def test_an_inbound_deal_carries_the_app_stage_or_null_with_the_raw_crm_value(
    crm: str, fields: dict[str, Any], stage: str | None, unmapped: str | None
) -> None:
    doc = settings(crm, status_mapping=SO_STAGES) if crm == "superoffice" else default_settings(crm)

    mapped = apply_inbound(doc, CrmObject.DEAL, fields)

    assert mapped.values["stage"] == stage
    assert mapped.values.get("unmapped_crm_stage") == unmapped
    assert [s.reason.value for s in mapped.skipped] == ([] if unmapped is None else ["stage_not_mapped"])


def stage_list() -> list[Stage]:
    steps = [("Lead", 10), ("Qualified", 25), ("Proposal", 50)]
    return [Stage(id=str(i), name=n, probability=p) for i, (n, p) in enumerate(steps, start=1)]


def lead(stage: str) -> Lead:
    return Lead.model_validate({"id": "L-1", "stage": stage, "companyName": "Havblik ApS", "dealTitle": "Havblik"})


def test_a_superoffice_deal_written_with_a_stage_gets_the_stage_probability() -> None:
    doc = settings(status_mapping=SO_STAGES)

    plan = plan_lead(doc, lead("Proposal"), None, linked=True, stages=stage_list())

    assert plan.deal is not None and (plan.deal.fields["Stage"], plan.deal.fields["Probability"]) == ("3", 50)


def test_a_mapping_that_writes_the_probability_itself_wins_over_the_stage_default() -> None:
    raw = settings(status_mapping=SO_STAGES).model_dump(mode="json")
    raw["field_mappings"]["deal"].append({"app_fields": ["amount"], "crm_field": "Probability"})
    doc = SettingsDocument.model_validate(raw)

    plan = plan_lead(doc, lead("Proposal").model_copy(update={"deal_amount": 5}), None, linked=True,
                     stages=stage_list())  # fmt: skip

    assert plan.deal is not None and plan.deal.fields["Probability"] != 50


def test_both_crms_keep_a_per_deal_probability_that_leadbridge_moves_with_the_stage() -> None:
    assert profile("salesforce").probability_field == "Probability"
    assert profile("superoffice").probability_field == "Probability"


# --- field ownership --------------------------------------------------------------------------------------------------


def test_fill_empty_lets_a_crm_value_in_only_where_leadbridge_wrote_nothing() -> None:
    later = {"app_changed_at": T0, "crm_changed_at": T0 + timedelta(hours=1)}

    assert winner(ConflictPolicy.FILL_EMPTY, **later, app_wrote=True) == "app"
    assert winner(ConflictPolicy.FILL_EMPTY, **later, app_wrote=False) == "crm"
    assert winner(ConflictPolicy.LATEST_WINS, **later, app_wrote=True) == "crm"


def test_latest_wins_compares_to_the_second_as_crms_stamp_changes() -> None:
    written = T0 + timedelta(microseconds=600_000)  # leadbridge's write, with microseconds
    same_second = {"app_changed_at": written, "crm_changed_at": T0}  # a CRM edit stamped in that second

    assert winner(ConflictPolicy.LATEST_WINS, **same_second) == "crm"
    assert winner(ConflictPolicy.LATEST_WINS, app_changed_at=T0 + timedelta(seconds=1), crm_changed_at=T0) == "app"


def existing_doc(on_existing: str = "keep") -> SettingsDocument:
    raw = default_settings("superoffice").model_dump(mode="json")
    for mapping in raw["field_mappings"]["company"]:
        mapping["on_existing"] = {"Name": "never", "Url": "fill_empty", "Department": "fill_empty"}.get(
            mapping["crm_field"], "overwrite"
        )
    raw["owners"] = {"default_crm_user": "7", "on_existing": on_existing}
    return SettingsDocument.model_validate(raw)


def test_an_existing_crm_record_keeps_never_fields_filled_fields_and_its_owner() -> None:
    planned = {"Name": "App name", "Url": "https://app.dk", "Department": "App dept", "Phone": "+45 1", "Owner": "7"}
    current = {"Name": "CRM name", "Url": "", "Department": "CRM dept", "Phone": "+45 9", "Owner": "3"}

    kept, left = for_existing_record(existing_doc(), CrmObject.COMPANY, planned, current)

    assert kept == {"Url": "https://app.dk", "Phone": "+45 1"}
    assert {s.crm_field: s.reason.value for s in left} == {
        "Name": "on_existing", "Department": "on_existing", "Owner": "on_existing"}  # fmt: skip


def test_owners_on_existing_overwrite_gives_an_existing_record_the_mapped_owner() -> None:
    kept, _ = for_existing_record(existing_doc("overwrite"), CrmObject.COMPANY, {"Owner": "7"}, {"Owner": "3"})
    assert kept == {"Owner": "7"}


def test_the_preview_says_what_each_policy_does() -> None:
    doc = existing_doc()
    rows = {(r.object.value, r.crm_field): r for r in ownership(doc)}

    name, url, country = rows[("company", "Name")], rows[("company", "Url")], rows[("company", "CountryId")]
    assert name.direction == "both" and name.conflict_policy is ConflictPolicy.LATEST_WINS
    assert "never written" in (name.to_crm or "") and "newer change wins" in (name.from_crm or "")
    assert "only where the CRM record has no value" in (url.to_crm or "")
    assert country.direction == "to_crm" and country.from_crm is None and country.conflict_policy is None
    assert "precedence 1" in (rows[("company", "OrgNr")].from_crm or "")
    assert "keep their owner" in (rows[("company", "Owner")].to_crm or "")
    assert ("activity", "Title") not in rows  # activities are off


def lead_mode(**status: Any) -> SettingsDocument:
    raw = default_settings("salesforce").model_dump(mode="json")
    raw["objects"]["company"] = {"crm_object": "Lead", "direction": "both"}
    raw["field_mappings"]["company"] = [{"app_fields": ["company_name"], "crm_field": "Company", "direction": "both"}]
    raw["status_mapping"]["stages"] = [{"app_stage": app, "crm_status": crm} for app, crm in status.items()]
    return SettingsDocument.model_validate(raw)


def test_a_salesforce_lead_status_goes_out_with_the_stage_and_comes_back_as_the_app_stage() -> None:
    doc = lead_mode(Lead="Open - Not Contacted", Qualified="Working - Contacted")

    plan = plan_lead(doc, lead("Qualified"), None, linked=True)
    back = apply_inbound(doc, CrmObject.COMPANY, {"Company": "Havblik ApS", "Status": "Open - Not Contacted"})
    unknown = apply_inbound(doc, CrmObject.COMPANY, {"Company": "Havblik ApS", "Status": "Closed - Converted"})

    assert plan.company is not None and plan.company.fields["Status"] == "Working - Contacted"
    assert back.values["stage"] == "Lead"
    assert (unknown.values["stage"], unknown.values["unmapped_crm_stage"]) == (None, "Closed - Converted")


def test_a_person_kept_as_a_lead_brings_no_stage() -> None:
    raw = lead_mode(Lead="Open - Not Contacted").model_dump(mode="json")
    raw["objects"]["person"] = {"crm_object": "Lead", "direction": "both"}
    raw["field_mappings"]["person"] = [{"app_fields": ["last_name"], "crm_field": "LastName", "direction": "both"}]
    doc = SettingsDocument.model_validate(raw)

    mapped = apply_inbound(doc, CrmObject.PERSON, {"LastName": "Holm", "Status": "Open - Not Contacted"})

    assert mapped.values == {"last_name": "Holm"}


def test_a_lead_status_is_left_alone_until_the_status_mapping_names_statuses() -> None:
    doc = lead_mode()  # no crm_status entries: Opportunity stages only
    mapped = apply_inbound(doc, CrmObject.COMPANY, {"Company": "Havblik ApS", "Status": "Open - Not Contacted"})
    assert mapped.values == {"company_name": "Havblik ApS"}
