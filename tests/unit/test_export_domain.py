"""Pure parts of single-lead export: match keys through the mapping, phone normalisation, value hashing, person keys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import ConnectionMissing, InvalidInput
from leadbridge.export import input_fingerprint, only_connected_crm
from leadbridge.export.company import candidate_keys, key_fields, lead_keys, search_domain, search_name
from leadbridge.export.matching import MatchVerdict, rank_candidates
from leadbridge.export.persons import person_ref
from leadbridge.mapping.hashing import canonical, field_hashes
from leadbridge.mapping.phones import e164, normalise_phones, phone_region
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.lead import Lead, LeadContact


def test_match_keys_come_from_the_field_mapping_preferring_standard_fields() -> None:
    fields = key_fields(default_settings("superoffice"))
    # org_number feeds both OrgNr and the custom RabitIQ:36: the standard field identifies.
    assert (fields.name, fields.org_nr, fields.website, fields.email) == ("Name", "OrgNr", "Url", "Email")


def test_a_candidate_read_through_the_mapping_matches_exactly_by_org_number() -> None:
    lead = Lead.model_validate({"id": "L1", "companyName": "Acme ApS", "cvr": "DK-1234 5678"})
    record = CrmRecord(object=CrmObject.COMPANY, id="7", fields={"Name": "ACME A/S", "OrgNr": "12345678"})
    keys = candidate_keys(key_fields(default_settings("superoffice")), record)
    result = rank_candidates(lead_keys(lead), [(record.id, keys, None)])
    assert result.verdict is MatchVerdict.EXACT and result.candidates[0].crm_id == "7"


@pytest.mark.parametrize(
    ("name", "query"),
    [("Acme ApS", "Acme"), ("Nordlys Energi A/S", "Nordlys Energi"), ("ApS", "ApS"), ("  ", None), (None, None)],
)
def test_the_crm_name_search_drops_trailing_legal_forms(name: str | None, query: str | None) -> None:
    assert search_name(name) == query


def test_the_domain_search_uses_the_website_else_a_business_mail_domain() -> None:
    assert search_domain(Lead.model_validate({"id": "L", "website": "https://www.acme.dk/om"})) == "acme.dk"
    free_then_business = Lead.model_validate(
        {"id": "L", "contacts": [{"email": "x@gmail.com"}, {"email": "y@acme.dk"}]}
    )
    assert search_domain(free_then_business) == "acme.dk"
    assert search_domain(Lead.model_validate({"id": "L", "email": "a@hotmail.com"})) is None


def test_phones_become_e164_for_the_leads_country_and_invalid_ones_are_kept_with_a_warning() -> None:
    settings = default_settings("superoffice")
    lead = Lead.model_validate(
        {"id": "L", "location": "Oslo, Norge", "phone": "22 30 40 50", "contacts": [{"name": "A B", "phone": "123"}]}
    )
    region = phone_region(lead, settings)
    fixed, warnings = normalise_phones(lead, region)
    assert region == "NO" and fixed.phone == "+4722304050"
    assert fixed.contacts[0].phone == "123" and warnings == [
        "contacts[0].phone: '123' is not a valid phone number for NO; sent as given"
    ]
    # No country on the lead: the settings' default country (Denmark in seed 002).
    assert phone_region(Lead.model_validate({"id": "L"}), settings) == "DK"
    assert e164("+45 20 30 40 50", None) == ("+4520304050", True)


def test_values_that_mean_the_same_hash_the_same() -> None:
    assert canonical(81) == canonical(81.0) == canonical(Decimal("81"))
    assert canonical(date(2026, 3, 1)) == canonical("2026-03-01")
    assert canonical(True) != canonical(1)
    assert field_hashes({"a": 1})["a"] != field_hashes({"a": 2})["a"]
    assert canonical(datetime(2026, 1, 1, tzinfo=UTC)) == canonical("2026-01-01T00:00:00+00:00")


def test_the_input_fingerprint_changes_with_the_lead_and_with_the_settings_version() -> None:
    settings = default_settings("superoffice")
    lead = Lead.model_validate({"id": "L", "score": 1})
    newer = settings.model_copy(update={"version": 2})
    assert input_fingerprint(lead, settings) == input_fingerprint(
        Lead.model_validate({"id": "L", "score": 1}), settings
    )
    assert input_fingerprint(lead, settings) != input_fingerprint(
        Lead.model_validate({"id": "L", "score": 2}), settings
    )
    assert input_fingerprint(lead, settings) != input_fingerprint(lead, newer)


def test_person_keys_are_stable_and_safe_in_table_keys() -> None:
    assert person_ref(LeadContact(id="c#1"), 0) == "c_1"
    assert person_ref(LeadContact(email=" Anne@Acme.DK "), 3) == "anne@acme.dk"
    assert person_ref(LeadContact(name="No Mail"), 2) == "n2"


def _connection(crm: str, status: ConnectionStatus) -> Connection:
    return Connection(
        tenant_id="t",
        crm=crm,
        status=status,
        account_id="a",
        api_base="https://x",
        secret_name="s",
        connected_by="u",
        connected_at=datetime(2026, 1, 1, tzinfo=UTC),
        connection_key="k",
    )


def test_the_crm_defaults_to_the_one_connected_and_must_be_named_when_there_are_several() -> None:
    assert only_connected_crm([_connection("superoffice", ConnectionStatus.NEEDS_REAUTH)], "t") == "superoffice"
    with pytest.raises(ConnectionMissing):
        only_connected_crm([_connection("superoffice", ConnectionStatus.DISCONNECTED)], "t")
    with pytest.raises(InvalidInput) as several:
        only_connected_crm(
            [
                _connection("superoffice", ConnectionStatus.CONNECTED),
                _connection("hubspot", ConnectionStatus.CONNECTED),
            ],
            "t",
        )
    assert several.value.errors[0]["loc"] == ["query", "crm"]


def test_field_hashes_stay_what_stored_record_states_hold() -> None:
    # Stored states keep these hashes: a change in how values are written would report every record as changed once.
    assert field_hashes({"name": "Ærø Æble", "score": 81.0, "tags": ["b", "a"], "meta": {"z": 1, "a": None}}) == {
        "name": "bf5dd9005be59284",
        "score": "5316ca1c5ddca8e6",
        "tags": "5cc385e8f9419c4e",
        "meta": "7e08a8ff90369693",
    }
