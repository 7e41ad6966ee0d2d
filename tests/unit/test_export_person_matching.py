"""Export's person matching reads the CRM's person fields from the settings, so it works for any CRM's field names."""

from __future__ import annotations

from leadbridge.crm.defaults import default_settings
from leadbridge.export.persons import match_person, person_key_fields
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.settings import FieldMapping


def _person(crm_id: str, **fields: str) -> CrmRecord:
    return CrmRecord(object=CrmObject.PERSON, id=crm_id, fields=fields)


def test_key_fields_follow_each_crms_mapping() -> None:
    so = person_key_fields(default_settings("superoffice"))
    sf = person_key_fields(default_settings("salesforce"))
    assert (so.email, so.name_parts) == ("Email", ("Firstname", "Lastname"))
    assert (sf.email, sf.name_parts) == ("Email", ("FirstName", "LastName"))


def test_salesforce_contacts_match_by_e_mail_then_by_full_name() -> None:
    keys = person_key_fields(default_settings("salesforce"))
    candidates = [
        _person("003A", FirstName="Mette", LastName="Holm", Email="old@fjord.dk"),
        _person("003B", FirstName="Jens", LastName="Bak", Email="jens@fjord.dk"),
    ]
    by_mail = match_person(candidates, {"FirstName": "J", "LastName": "B", "Email": "JENS@fjord.dk"}, set(), keys)
    renamed = {"FirstName": "mette", "LastName": "HOLM", "Email": "new@fjord.dk"}
    by_name = match_person(candidates, renamed, set(), keys)
    taken = match_person(candidates, {"FirstName": "Mette", "LastName": "Holm"}, {"003A"}, keys)
    assert (by_mail[0] and by_mail[0].id, by_mail[1]) == ("003B", "email")
    assert (by_name[0] and by_name[0].id, by_name[1]) == ("003A", "name")
    assert taken == (None, "created")


def test_a_split_full_name_mapping_feeds_the_name_parts() -> None:
    settings = default_settings("salesforce")
    person = [
        FieldMapping(app_fields=["name"], crm_field="FirstName", transforms=[{"kind": "split_name", "part": "first"}]),
        FieldMapping(app_fields=["name"], crm_field="LastName", transforms=[{"kind": "split_name", "part": "last"}]),
        FieldMapping(app_fields=["email"], crm_field="Email"),
    ]
    mappings = settings.field_mappings.model_copy(update={"person": person})
    keys = person_key_fields(settings.model_copy(update={"field_mappings": mappings}))
    assert keys.name_parts == ("FirstName", "LastName")
