"""Flat fields ↔ SuperOffice entity JSON: create bodies, JSON Patch documents, records from entities."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from leadbridge.crm.superoffice.mapping import (
    CustomFieldMeta,
    FieldValueError,
    build_create_body,
    build_patch,
    entity_to_record,
    needs_current_entity,
)
from leadbridge.models.crm import CrmObject, FieldType

CUSTOM = {
    "RabitIQ:1": CustomFieldMeta("RabitIQ:1", "Employees", FieldType.INTEGER),
    "RabitIQ:2": CustomFieldMeta("RabitIQ:2", "Industry", FieldType.STRING, length=39),
    "RabitIQ:3": CustomFieldMeta("RabitIQ:3", "Founded", FieldType.DATE),
    "RabitIQ:4": CustomFieldMeta("RabitIQ:4", "Lead grade", FieldType.PICKLIST),
    "SuperOffice:9": CustomFieldMeta("SuperOffice:9", "Locked", FieldType.STRING, read_only=True),
}


def test_create_body_places_fields_where_superoffice_expects_them() -> None:
    plan = build_create_body(
        CrmObject.COMPANY,
        {
            "Name": "Acme AS",
            "OrgNr": "913 456 789",
            "Email": "post@acme.no",
            "Url": "https://acme.no",
            "City": "Oslo",
            "Zipcode": "0150",
            "StreetAddress": "Storgata 1",
            "Category": "4",
            "Owner": 7,
            "RabitIQ:1": 250,
            "RabitIQ:3": date(1999, 12, 31),
            "RabitIQ:4": "3",
        },
        CUSTOM,
    )
    assert plan.skipped == []
    assert plan.body == {
        "Name": "Acme AS",
        "OrgNr": "913 456 789",
        "Emails": [{"Value": "post@acme.no"}],
        "Urls": [{"Value": "https://acme.no"}],
        "Address": {"Postal": {"City": "Oslo", "Zipcode": "0150"}, "Street": {"Address1": "Storgata 1"}},
        "Category": {"Id": 4},
        "Associate": {"AssociateId": 7},
        "CustomFields": {"RabitIQ:1": "[I:250]", "RabitIQ:3": "[D:12/31/1999]", "RabitIQ:4": "[I:3]"},
    }


def test_create_body_skips_unpublished_and_read_only_fields_and_truncates() -> None:
    plan = build_create_body(
        CrmObject.COMPANY,
        {"Name": "N" * 300, "RabitIQ:2": "x" * 60, "RabitIQ:37": "not published", "SuperOffice:9": "ro", "Domain": "a"},
        CUSTOM,
    )
    assert plan.skipped == ["RabitIQ:37", "SuperOffice:9", "Domain"]
    assert plan.body == {"Name": "N" * 219, "CustomFields": {"RabitIQ:2": "x" * 39}}


def test_create_body_links_person_and_deal_to_company_and_person() -> None:
    person = build_create_body(CrmObject.PERSON, {"Lastname": "Nordmann"}, {}, parent_id="5")
    assert person.body == {"Lastname": "Nordmann", "Contact": {"ContactId": 5}}
    deal = build_create_body(
        CrmObject.DEAL,
        {
            "Heading": "Big deal",
            "Amount": "1500.5",
            "Status": "Open",
            "Stage": "2",
            "Saledate": datetime(2025, 1, 31, 12, 0),
        },
        {},
        parent_id="5",
        person_id="9",
    )
    assert deal.body == {
        "Heading": "Big deal",
        "Amount": 1500.5,
        "Status": "Open",
        "Rating": {"Id": 2},
        "Saledate": "2025-01-31T12:00:00",
        "Contact": {"ContactId": 5},
        "Person": {"PersonId": 9},
    }


def test_bad_values_are_reported_per_field_before_anything_is_sent() -> None:
    with pytest.raises(FieldValueError) as exc:
        build_create_body(CrmObject.DEAL, {"Heading": "x", "Status": "Won", "Amount": "lots", "Stage": "first"}, {})
    assert [name for name, _ in exc.value.errors] == ["Status", "Amount", "Stage"]
    assert "'Won' is not one of Open, Sold, Lost, Stalled" in str(exc.value)


def test_patch_replaces_scalars_refs_and_only_the_given_custom_fields() -> None:
    plan = build_patch(
        CrmObject.COMPANY,
        {"Department": "Sales", "Category": 4, "RabitIQ:2": "Retail", "RabitIQ:37": "skip me"},
        CUSTOM,
    )
    assert plan.body == [
        {"op": "replace", "path": "/Department", "value": "Sales"},
        {"op": "replace", "path": "/Category/Id", "value": 4},
        {"op": "replace", "path": "/CustomFields", "value": {"RabitIQ:2": "Retail"}},
    ]
    assert plan.skipped == ["RabitIQ:37"]


def test_patch_replaces_address_objects_whole_and_keeps_other_lines() -> None:
    current = {
        "Address": {
            "Postal": {"Address1": "PB 1", "City": "Bergen", "Zipcode": "5003"},
            "Street": {"Address1": "Bryggen 1", "City": "Bergen", "Zipcode": "5003"},
        },
        "Emails": [
            {"Value": "old@acme.no", "StrippedValue": "old@acme.no", "Description": "Main"},
            {"Value": "second@acme.no"},
        ],
    }
    assert needs_current_entity(CrmObject.COMPANY, {"City": "Oslo"})
    assert not needs_current_entity(CrmObject.COMPANY, {"Name": "Acme"})
    plan = build_patch(CrmObject.COMPANY, {"City": "Oslo", "Email": "new@acme.no"}, {}, current=current)
    assert plan.body == [
        {
            "op": "replace",
            "path": "/Emails",
            "value": [{"Value": "new@acme.no", "Description": "Main"}, {"Value": "second@acme.no"}],
        },
        {"op": "replace", "path": "/Address/Postal", "value": {"Address1": "PB 1", "City": "Oslo", "Zipcode": "5003"}},
    ]


def test_patch_appointment_completed_flag_uses_the_enum() -> None:
    plan = build_patch(CrmObject.ACTIVITY, {"Completed": True, "Type": "inChecklist"}, {})
    assert plan.body == [
        {"op": "replace", "path": "/Completed", "value": "Completed"},
        {"op": "replace", "path": "/Type", "value": "inChecklist"},
    ]


def test_record_from_entity_reads_flat_fields_and_decodes_custom_values() -> None:
    entity = {
        "ContactId": 18,
        "Name": "Acme AS",
        "OrgNr": "913456789",
        "Department": "",
        "Emails": [{"Value": "post@acme.no", "StrippedValue": "post@acme.no"}],
        "Urls": [],
        "Address": {"Postal": {"City": "Oslo"}, "Street": None},
        "Category": {"Id": 4, "Value": "Customer"},
        "Associate": {"AssociateId": 0},
        "Country": {"CountryId": 578, "TwoLetterISOCountry": "NO"},
        "Domains": ["acme.no"],
        "UpdatedDate": "2025-05-14T10:48:07.8912039",
        "CreatedDate": "0001-01-01T00:00:00",
        "Deleted": 0,
        "CustomFields": {
            "RabitIQ:1": "[I:250]",
            "RabitIQ:4": "[I:3]",
            "RabitIQ:4:DisplayText": "A",
            "RabitIQ:3": "[D:12/31/1999]",
            "x_unknown": "raw",
        },
    }
    record = entity_to_record(CrmObject.COMPANY, entity, CUSTOM)
    assert record.id == "18"
    assert record.updated_at == datetime(2025, 5, 14, 10, 48, 7, 891203, tzinfo=UTC)
    assert record.created_at is None
    assert record.parent_id is None
    f = record.fields
    assert (f["Name"], f["OrgNr"], f["Email"], f["Url"], f["City"], f["StreetAddress"]) == (
        "Acme AS",
        "913456789",
        "post@acme.no",
        None,
        "Oslo",
        None,
    )
    assert (f["Category"], f["Owner"], f["CountryId"], f["Country"], f["Domain"]) == ("4", None, "578", "NO", "acme.no")
    assert (f["RabitIQ:1"], f["RabitIQ:4"], f["RabitIQ:3"], f["x_unknown"]) == (250, "3", date(1999, 12, 31), "raw")
    assert "RabitIQ:4:DisplayText" not in f


def test_record_from_sale_carries_company_and_person() -> None:
    sale = {
        "SaleId": 3,
        "Heading": "H",
        "Status": "Sold",
        "Rating": {"Id": 2},
        "Contact": {"ContactId": 5},
        "Person": {"PersonId": 9},
        "Saledate": "2025-02-01T00:00:00",
    }
    record = entity_to_record(CrmObject.DEAL, sale)
    assert (record.parent_id, record.person_id) == ("5", "9")
    assert (record.fields["Status"], record.fields["Stage"]) == ("Sold", "2")
    assert record.fields["Saledate"] == datetime(2025, 2, 1)
