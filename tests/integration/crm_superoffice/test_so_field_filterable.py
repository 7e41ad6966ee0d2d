"""Which SuperOffice fields the settings screen's field picker offers as searchable (`FieldInfo.filterable`): the
company search (crm/superoffice/search.py) filters the Contact archive by `orgnr`, `code`, `number`, `url`, `email`
and published user-defined fields; extra fields (`x_...`) and standard fields without such a column cannot be
searched, so they are listed with `filterable: false` and the picker greys them out for `matching.org_nr_field`.

Fields are read from the SuperOffice sandbox over real HTTP. The sandbox publishes no extra fields, so one tenant
extra field is added to its `GET /Contact/CustomField` answer on the way back (as a tenant with one would answer)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from leadbridge.errors import RefusedBeforeWrite
from leadbridge.models.crm import CrmObject
from tests.support.superoffice_connector import CTX, SoEnv


class WithExtraField(httpx.BaseTransport):
    """Real HTTP to the sandbox; the Contact CustomField list gains the extra field `x_cvr` (a short text)."""

    def __init__(self) -> None:
        self.http = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.http.handle_request(request)
        if request.method != "GET" or not request.url.path.endswith("/api/v1/Contact/CustomField"):
            return response
        response.read()
        listed: list[dict[str, Any]] = response.json()
        text_udef = next(f for f in listed if f["FieldName"] == "RabitIQ:2")
        extra = {**text_udef, "FieldName": "x_cvr", "DisplayName": "CVR (extra field)"}
        return httpx.Response(200, json=[*listed, extra], headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def fields(so: SoEnv) -> dict[CrmObject, dict[str, bool]]:
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:2", "Industry", "ShortText")
    connector, _ = so.connector(transport=WithExtraField())
    return {obj: {f.name: f.filterable for f in connector.fields(obj)} for obj in CrmObject}


def test_company_fields_are_filterable_only_where_the_company_search_has_a_column(
    fields: dict[CrmObject, dict[str, bool]],
) -> None:
    company = fields[CrmObject.COMPANY]
    assert {name for name, filterable in company.items() if filterable} == {
        "OrgNr", "Number1", "Number2", "Url", "Email", "RabitIQ:2"}  # fmt: skip
    assert company["x_cvr"] is False  # an extra field: no archive column the search can filter by
    assert not any(company[n] for n in ("Name", "Description", "Phone", "Domain", "City", "Category"))


def test_person_and_sale_fields_follow_their_archive_columns_and_follow_ups_have_none(
    fields: dict[CrmObject, dict[str, bool]],
) -> None:
    assert fields[CrmObject.PERSON]["Email"] is True and fields[CrmObject.PERSON]["Lastname"] is True
    assert fields[CrmObject.DEAL]["Heading"] is True
    assert not any(fields[CrmObject.ACTIVITY].values())


def test_what_the_picker_offers_is_what_the_search_takes(so: SoEnv) -> None:
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:2", "Industry", "ShortText")
    connector, _ = so.connector(transport=WithExtraField())
    for info in connector.fields(CrmObject.COMPANY):
        if info.filterable:
            connector.search_companies(org_nr="12345678", org_nr_field=info.name)
        else:
            with pytest.raises(RefusedBeforeWrite):
                connector.search_companies(org_nr="12345678", org_nr_field=info.name)
