"""What the CRM's metadata says the CRM would refuse or change, found by the mapping engine and
`mapping.validation.refuse_before_write` before any write (issue 17, finding 7). End to end: tests/e2e/
test_refuse_before_write.py."""

from __future__ import annotations

from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import RefusedBeforeWrite
from leadbridge.mapping import apply
from leadbridge.mapping.validation import WriteCheck, refuse_before_write, refuse_unknown_objects
from leadbridge.models.crm import CrmObject, CrmObjectInfo, FieldInfo, FieldType, PicklistValue
from leadbridge.models.settings import SettingsDocument

F = FieldType


def settings(*mappings: dict[str, Any]) -> SettingsDocument:
    doc = default_settings("superoffice").model_dump(mode="json")
    doc["field_mappings"] = {"company": list(mappings), "person": [], "deal": [], "activity": []}
    return SettingsDocument.model_validate(doc)


def field(name: str, kind: FieldType, **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, label=name, type=kind, **kw)


def test_a_value_outside_a_restricted_picklist_is_refused_not_only_skipped() -> None:
    doc = settings({"app_fields": ["industry"], "crm_field": "Segment", "direction": "to_crm"})
    meta = [field("Segment", F.PICKLIST, picklist=[PicklistValue(value="E", label="Energy")], restricted_picklist=True)]

    mapped = apply(doc, CrmObject.COMPANY, {"industry": "Mining"}, meta)

    assert "Segment" not in mapped.fields and [s.reason.value for s in mapped.skipped] == ["invalid_value"]
    assert [(r.crm_field, r.type, r.app_fields) for r in mapped.refused] == [("Segment", "restricted_picklist",
                                                                              ["industry"])]  # fmt: skip
    assert apply(doc, CrmObject.COMPANY, {"industry": "energy"}, meta).fields == {"Segment": "E"}  # label → value


@pytest.mark.parametrize("address", ["jens at fjord.dk", "a@@b.dk", "a@b", "a b@c.dk", "a@b.c"])
def test_an_invalid_email_is_refused(address: str) -> None:
    doc = settings({"app_fields": ["email"], "crm_field": "Email", "direction": "to_crm"})
    mapped = apply(doc, CrmObject.COMPANY, {"email": address}, [field("Email", F.EMAIL)])
    assert [r.type for r in mapped.refused] == ["invalid_email"]


def test_a_valid_email_is_written_trimmed() -> None:
    doc = settings({"app_fields": ["email"], "crm_field": "Email", "direction": "to_crm"})
    mapped = apply(doc, CrmObject.COMPANY, {"email": " ole.b+x@bolge-b1.dk "}, [field("Email", F.EMAIL)])
    assert mapped.fields == {"Email": "ole.b+x@bolge-b1.dk"} and mapped.refused == []


def test_text_a_number_field_cannot_hold_is_a_wrong_type_refusal() -> None:
    doc = settings({"app_fields": ["industry"], "crm_field": "Size", "direction": "to_crm"})
    mapped = apply(doc, CrmObject.COMPANY, {"industry": "lots"}, [field("Size", F.INTEGER)])
    assert [(r.crm_field, r.type) for r in mapped.refused] == [("Size", "wrong_type")]


@pytest.mark.parametrize(
    ("info", "value", "written", "warning"),
    [
        (field("N", F.INTEGER), "18.5", 19, "N: 18.5 was written as 19 (the CRM field holds whole numbers)"),
        (field("N", F.INTEGER), "18", 18, None),
        (field("N", F.DECIMAL, scale=2), "3.14159", 3.14, "N: 3.14159 was written as 3.14 (the CRM field holds 2 "
                                                            "decimal places)"),
        (field("N", F.DECIMAL, scale=1), "2.25", 2.3, "N: 2.25 was written as 2.3 (the CRM field holds 1 decimal "
                                                        "place)"),
        (field("N", F.DECIMAL), "3.14159", 3.14159, None),  # no scale known: written as it is
    ],
)
def test_a_number_the_field_cannot_hold_exactly_is_rounded_half_up_with_a_warning(
    info: FieldInfo, value: str, written: Any, warning: str | None
) -> None:
    doc = settings({"app_fields": ["revenue"], "crm_field": "N", "direction": "to_crm"})
    mapped = apply(doc, CrmObject.COMPANY, {"revenue": value}, [info])
    assert mapped.fields == {"N": written}
    assert mapped.warnings == ([warning] if warning else [])


def test_refuse_before_write_names_every_field_of_every_record_and_required_only_when_creating() -> None:
    doc = settings(
        {"app_fields": ["industry"], "crm_field": "Name", "direction": "to_crm"},
        {"app_fields": ["email"], "crm_field": "Email", "direction": "to_crm"},
    )
    meta = [field("Name", F.STRING, required=True), field("Email", F.EMAIL), field("Region", F.STRING, required=True),
            field("OwnerId", F.REFERENCE, required=True), field("Calc", F.STRING, required=True, updateable=False)]
    company = apply(doc, CrmObject.COMPANY, {"industry": None, "email": "nope"}, meta)

    with pytest.raises(RefusedBeforeWrite) as caught:
        refuse_before_write([WriteCheck(["crm", "company"], company, meta, True)], what="this lead")

    errors = {tuple(e["loc"]): e for e in caught.value.errors}
    assert set(errors) == {("crm", "company", "Email"), ("crm", "company", "Name"), ("crm", "company", "Region")}
    assert errors[("crm", "company", "Name")]["type"] == "required"
    assert errors[("crm", "company", "Name")]["app_fields"] == ["industry"]
    assert "no field mapping fills it" in errors[("crm", "company", "Region")]["message"]
    assert caught.value.details["fields"] == ["Email", "Name", "Region"]
    with pytest.raises(RefusedBeforeWrite) as updating:  # an update needs no required field, the e-mail still counts
        refuse_before_write([WriteCheck(["crm", "company"], company, meta, False)], what="this lead")
    assert [e["loc"] for e in updating.value.errors] == [["crm", "company", "Email"]]


def test_an_object_the_crm_does_not_offer_is_refused_naming_the_setting() -> None:
    raw = default_settings("salesforce").model_dump(mode="json")
    raw["objects"]["company"]["crm_object"] = "Acount"
    doc = SettingsDocument.model_validate(raw)
    offered = [CrmObjectInfo(object=CrmObject.COMPANY, crm_name=n, label=n) for n in ("Account", "Lead")]

    with pytest.raises(RefusedBeforeWrite) as caught:
        refuse_unknown_objects(doc, offered, [CrmObject.COMPANY])

    assert caught.value.errors == [{
        "loc": ["settings", "objects", "company", "crm_object"], "type": "unknown_crm_object",
        "message": "'Acount' is not a CRM object for company; choose one of: Account, Lead"}]  # fmt: skip
