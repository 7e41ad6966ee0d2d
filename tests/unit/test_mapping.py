"""The mapping engine: app record → CRM fields (the payload export writes), transforms, and back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.mapping import SkipReason, apply, apply_inbound, plan_lead
from leadbridge.mapping.conflicts import winner
from leadbridge.mapping.transforms import TransformError, convert, map_country, split_name, web_domain
from leadbridge.models.crm import CrmObject, FieldType, PicklistValue
from leadbridge.models.lead import Lead
from leadbridge.models.settings import ConflictPolicy, CountryMapping, SettingsDocument
from tests.support.crm_metadata import COMPANY_FIELDS, DEAL_FIELDS, PERSON_FIELDS, fi

F = FieldType


META = {CrmObject.COMPANY: COMPANY_FIELDS, CrmObject.PERSON: PERSON_FIELDS, CrmObject.DEAL: DEAL_FIELDS}


def lead(**kw: Any) -> Lead:
    base: dict[str, Any] = {
        "id": "L-1",
        "stage": "Lead",
        "companyName": "Nordisk Fiskeeksport Aktieselskab",  # 33 chars, Name holds 20
        "website": "https://nfe.dk",
        "industry": "Fishing",
        "location": "Oslo, Norge",
        "cvr": "12345678",
        "reasonForFit": "Growing fast.",
        "description": "Exports fish.",
        "score": 87,
        "revenue": "1500000",
        "createdDate": "2024-05-01",
        "contacts": [{"name": "Anne Marie Hansen", "title": "CEO", "email": "amh@nfe.dk", "phone": "+45 1234"}],
    }
    base.update(kw)
    return Lead.model_validate(base)


def test_default_superoffice_mapping_of_a_lead_writes_the_seed_fields() -> None:
    settings = default_settings("superoffice")
    out = apply(settings, CrmObject.COMPANY, lead().company(), COMPANY_FIELDS)
    assert out.crm_object == "Contact"
    assert out.fields == {
        "Name": "Nordisk Fiskeeksport",  # cut to the CRM's 20 characters
        "Url": "https://nfe.dk",
        "Department": "Fishing",
        "CountryId": "578",  # "Oslo, Norge" → Norway → SuperOffice country id
        "OrgNr": "12345678",
        "Description": "Growing fast.\n\nExports fish.",
        "RabitIQ:1": 87,
        "RabitIQ:3": "Fishing",
        "RabitIQ:16": 1500000,
        "RabitIQ:35": "2024-05-01",
    }
    assert out.truncated == ["Name"]
    reasons = {s.crm_field: s.reason for s in out.skipped}
    assert reasons["RabitIQ:2"] is SkipReason.MISSING_IN_CRM  # not created in this CRM: skipped, never sent
    assert reasons["Email"] is SkipReason.EMPTY_VALUE
    assert "RabitIQ:2" not in out.fields


def test_read_only_target_is_skipped_not_sent() -> None:
    settings = _with_company_mappings([{"app_fields": ["website"], "crm_field": "Domain"}])
    out = apply(settings, CrmObject.COMPANY, lead().company(), COMPANY_FIELDS)
    assert out.fields == {}
    assert out.skipped[0].reason is SkipReason.READ_ONLY


def test_unconvertible_value_is_skipped_with_the_reason() -> None:
    settings = _with_company_mappings(
        [{"app_fields": ["size"], "crm_field": "RabitIQ:1", "transforms": [{"kind": "convert", "to": "integer"}]}]
    )
    out = apply(settings, CrmObject.COMPANY, lead(size="51-200").company(), COMPANY_FIELDS)
    assert out.fields == {}
    assert out.skipped[0].reason is SkipReason.INVALID_VALUE
    assert "'51-200' is not a valid integer" in out.skipped[0].detail


def test_transforms_split_join_default_truncate() -> None:
    settings = _with_company_mappings(
        [
            {
                "app_fields": ["company_name"],
                "crm_field": "StreetCity",
                "transforms": [{"kind": "split_name", "part": "last"}],
            },
            {
                "app_fields": ["industry", "size", "location"],
                "crm_field": "Department",
                "transforms": [{"kind": "join", "separator": " | "}],
            },
            {"app_fields": ["phone"], "crm_field": "Phone", "transforms": [{"kind": "default", "value": "n/a"}]},
            {
                "app_fields": ["reason_for_fit"],
                "crm_field": "StreetAddress",
                "transforms": [{"kind": "truncate", "length": 6}],
            },
        ]
    )
    out = apply(settings, CrmObject.COMPANY, lead(size=None).company(), COMPANY_FIELDS)
    assert out.fields == {
        "StreetCity": "Aktieselskab",
        "Department": "Fishing | Oslo, Norge",  # the empty size is left out, not joined as ""
        "Phone": "n/a",
        "StreetAddress": "Growin",
    }
    assert out.truncated == ["StreetAddress"]


def test_picklist_label_is_written_as_its_value_and_restricted_lists_reject_others() -> None:
    fields = [
        fi("Category", F.PICKLIST, picklist=[PicklistValue(value="4", label="Prospect")], restricted_picklist=True)
    ]
    settings = _with_company_mappings([{"app_fields": ["industry"], "crm_field": "Category"}])
    assert apply(settings, CrmObject.COMPANY, lead(industry="prospect").company(), fields).fields == {"Category": "4"}
    out = apply(settings, CrmObject.COMPANY, lead(industry="Fishing").company(), fields)
    assert out.fields == {} and "not an allowed value" in out.skipped[0].detail


def test_country_mapping_table_and_default() -> None:
    table = CountryMapping(names={"Norge": "Norway", "UK": "United Kingdom"}, default="Denmark")
    assert map_country("norge", table) == "Norway"
    assert map_country("London, UK", table) == "United Kingdom"
    assert map_country("United Kingdom", table) == "United Kingdom"  # already a CRM name
    assert map_country("Atlantis", table) == "Denmark"
    assert map_country(None, table) == "Denmark"
    assert map_country("Atlantis", CountryMapping(names={})) == "Atlantis"


def test_unknown_country_id_is_skipped_with_what_to_do() -> None:
    settings = default_settings("superoffice")
    settings.country_mapping.names["Finland"] = "Finland"
    out = apply(settings, CrmObject.COMPANY, lead(location="Finland").company(), COMPANY_FIELDS)
    skipped = next(s for s in out.skipped if s.crm_field == "CountryId")
    assert skipped.reason is SkipReason.INVALID_VALUE and "country_mapping.crm_values" in skipped.detail


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("https://www.Fjord-Analytics.dk/om-os?x=1", "fjord-analytics.dk"),
        ("http://user:pw@shop.acme.example:8080/", "shop.acme.example"),
        ("www.acme.dk", "acme.dk"),
        ("acme.dk", "acme.dk"),
        ("  ", None),
        (None, None),
    ],
)
def test_domain_transform_keeps_the_bare_host(address: str | None, domain: str | None) -> None:
    assert web_domain(address) == domain
    settings = _with_company_mappings(
        [{"app_fields": ["website"], "crm_field": "Department", "transforms": [{"kind": "domain"}]}]
    )
    out = apply(settings, CrmObject.COMPANY, lead(website=address).company(), COMPANY_FIELDS)
    assert out.fields.get("Department") == domain


def test_split_name_and_conversions() -> None:
    assert split_name("Anne Marie Hansen", "first") == "Anne Marie"
    assert split_name("Anne Marie Hansen", "last") == "Hansen"
    assert split_name("Cher", "first") == "Cher" and split_name("Cher", "last") is None
    assert convert("1.234,50", "decimal") == Decimal("1234.50")
    assert convert("42", "integer") == 42
    assert convert("ja", "boolean") is True
    assert convert("2024-05-01T10:00:00", "date") == date(2024, 5, 1)
    with pytest.raises(TransformError):
        convert("soon", "date")


def test_inbound_maps_crm_values_back_to_app_types_for_two_way_fields() -> None:
    settings = _with_company_mappings(
        [
            {"app_fields": ["score"], "crm_field": "RabitIQ:1", "direction": "both", "conflict_policy": "crm_wins"},
            {"app_fields": ["industry"], "crm_field": "Department", "direction": "from_crm"},
            {"app_fields": ["company_name"], "crm_field": "Name"},  # to_crm only: never read back
        ]
    )
    out = apply_inbound(settings, CrmObject.COMPANY, {"RabitIQ:1": "91", "Department": "", "Name": "X"})
    assert out.values == {"score": 91, "industry": None}
    assert out.policies["score"] is ConflictPolicy.CRM_WINS


def test_conflict_policies() -> None:
    from datetime import UTC, datetime

    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    assert winner(ConflictPolicy.LATEST_WINS, app_changed_at=late, crm_changed_at=early) == "app"
    assert winner(ConflictPolicy.LATEST_WINS, app_changed_at=early, crm_changed_at=late) == "crm"
    assert winner(ConflictPolicy.APP_WINS, app_changed_at=early, crm_changed_at=late) == "app"
    assert winner(ConflictPolicy.CRM_WINS, app_changed_at=late, crm_changed_at=early) == "crm"


def test_lead_plan_sends_company_persons_and_deal_with_stage_status_and_owner() -> None:
    settings = default_settings("superoffice")
    settings.owners.default_crm_user = "5"
    settings.status_mapping.stages.append(
        settings.status_mapping.stages[0].model_copy(
            update={"app_stage": "Qualified", "crm_stage": "3", "crm_status": "Open"}
        )
    )
    plan = plan_lead(settings, lead(stage="Qualified", dealAmount="2500.5"), META)
    assert plan.send
    assert plan.company is not None and plan.company.fields["Owner"] == "5"
    assert [p.fields for p in plan.persons] == [
        {
            "Firstname": "Anne Marie",
            "Lastname": "Hansen",
            "Title": "CEO",
            "Email": "amh@nfe.dk",
            "OfficePhone": "+45 1234",
            "Owner": "5",
        }
    ]
    assert plan.deal is not None
    assert plan.deal.fields == {
        "Heading": "Nordisk Fiskeeksport Aktieselskab",
        "Amount": 2500.5,
        "Description": "Growing fast.",
        "Owner": "5",
        "Stage": "3",
        "Status": "Open",
    }


def test_lead_in_a_stage_before_create_at_stage_is_not_sent_unless_already_linked() -> None:
    settings = default_settings("superoffice")  # create_at_stage "Lead": "New" is not sent (seed 000)
    plan = plan_lead(settings, lead(stage="New"), META)
    assert not plan.send and plan.company is None
    assert plan.not_sent[0].reason is SkipReason.STAGE_NOT_SENT
    assert plan_lead(settings, lead(stage="New"), META, linked=True).send


def _with_company_mappings(mappings: list[dict[str, Any]]) -> SettingsDocument:
    doc = default_settings("superoffice").model_dump()
    doc["field_mappings"]["company"] = mappings
    return SettingsDocument.model_validate(doc)
