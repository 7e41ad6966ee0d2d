"""Settings against the real SuperOffice connector and the SuperOffice sandbox over loopback HTTP: the default
mapping validated with live metadata (custom fields by prog id), and the preview payload written by the connector
reads back unchanged from the CRM (preview = what export writes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.defaults import default_settings
from leadbridge.crm.superoffice import SuperOfficeProvider
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.mapping import Metadata, plan_lead, validate_settings
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument

sandbox_module = pytest.importorskip("local.sandbox.superoffice")

CTX = "Cust777"
REDIRECT = "https://app.example.com/oauth/superoffice/callback"


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        raise AssertionError("the sandbox token does not expire within a test")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with sandbox_module.SuperOfficeSandbox() as sb:
        yield sb


@pytest.fixture
def connector(sandbox: Any) -> SuperOfficeConnector:
    sandbox.reset()
    app = sandbox.register_app([REDIRECT])
    sandbox.add_customer(CTX, "Fjord Sales AS")
    sandbox.add_user(CTX, "admin@fjord.no", associate_id=5, full_name="Ada Admin", is_admin=True)
    # The admin created 4 of the 37 custom fields (seed 002: the rest is skipped until created).
    sandbox.define_udef(CTX, "contact", "RabitIQ:1", "RabitIQ Score", "Number")
    sandbox.define_udef(CTX, "contact", "RabitIQ:3", "Branche", "ShortText")
    sandbox.define_udef(CTX, "contact", "RabitIQ:12", "Beskrivelse", "LongText")
    sandbox.define_udef(CTX, "contact", "RabitIQ:36", "CVR-nummer", "ShortText", read_only=True)
    provider = SuperOfficeProvider(
        client_id=app.client_id, client_secret=app.client_secret, login_base=sandbox.login_base
    )
    oauth = provider.oauth()
    request = oauth.authorization_request(redirect_uri=REDIRECT)
    # The sandbox's non-interactive sign-in; appended, since httpx `params=` would replace the URL's query.
    answer = httpx.get(request.url + "&" + urlencode({"sandbox_login": "admin@fjord.no"}), follow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    grant = oauth.exchange_code(
        code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT, nonce=request.nonce
    )
    context = ConnectionContext(
        tenant_id="acme", crm="superoffice", account_id=grant.account_id, api_base=grant.api_base
    )
    connector = provider.connector(context, _Tokens(grant.access_token))
    assert isinstance(connector, SuperOfficeConnector)
    return connector


def test_default_mapping_fits_the_live_metadata_and_lists_missing_custom_fields(
    connector: SuperOfficeConnector,
) -> None:
    doc = default_settings("superoffice").model_copy(deep=True)
    doc.field_mappings.company = [m for m in doc.field_mappings.company if m.crm_field != "RabitIQ:36"]
    report = validate_settings(doc, Metadata.for_document(connector, doc))

    assert report.errors == []
    missing = {m.crm_field for m in report.missing}
    assert {"RabitIQ:1", "RabitIQ:3", "RabitIQ:12"}.isdisjoint(missing)
    assert len(missing) == 33  # 37 minus the 4 created, one of which is no longer mapped


def test_a_read_only_custom_field_and_an_unknown_stage_are_rejected(connector: SuperOfficeConnector) -> None:
    raw = default_settings("superoffice").model_dump()
    raw["status_mapping"]["stages"] = [{"app_stage": "Lead", "crm_stage": "999"}]
    doc = SettingsDocument.model_validate(raw)
    report = validate_settings(doc, Metadata.for_document(connector, doc))
    paths = {e.path: e.reason for e in report.errors}
    cvr = next(i for i, m in enumerate(raw["field_mappings"]["company"]) if m["crm_field"] == "RabitIQ:36")
    assert "read-only" in paths[f"field_mappings.company[{cvr}].crm_field"]
    assert "'999' is not a CRM stage id" in paths["status_mapping.stages[0].crm_stage"]


def test_the_previewed_company_payload_is_what_the_crm_holds_after_writing_it(connector: SuperOfficeConnector) -> None:
    doc = default_settings("superoffice")
    doc.owners.default_crm_user = "5"
    lead = Lead.model_validate(
        {
            "id": "L-42",
            "stage": "Lead",
            "companyName": "Fjord Fisk AS",
            "website": "https://fjordfisk.no",
            "industry": "Seafood " * 10,
            "location": "Bergen, Norge",
            "cvr": "NO 912 345 678",
            "score": 81,
            "reasonForFit": "Exports to DK.",
            "description": "Family owned.",
            "contacts": [{"name": "Kari Nordmann", "title": "CEO", "email": "kari@fjordfisk.no"}],
        }
    )
    fields = {obj: connector.fields(obj) for obj in (CrmObject.COMPANY, CrmObject.PERSON, CrmObject.DEAL)}
    plan = plan_lead(doc, lead, fields)
    assert plan.send and plan.company is not None
    assert plan.company.fields["RabitIQ:3"] == ("Seafood " * 10)[:39]  # ShortText udef holds 39 characters
    assert "RabitIQ:3" in plan.company.truncated

    created = connector.create(CrmObject.COMPANY, plan.company.fields)
    stored = connector.get(CrmObject.COMPANY, created.id).fields
    written = {k: stored.get(k) for k in plan.company.fields}
    assert written == plan.company.fields

    person = plan.persons[0]
    created_person = connector.create(CrmObject.PERSON, person.fields, parent_id=created.id)
    stored_person = connector.get(CrmObject.PERSON, created_person.id).fields
    assert {k: stored_person.get(k) for k in person.fields} == person.fields
