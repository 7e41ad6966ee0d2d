"""The settings screen's field picker (`GET /crm/{crm}/fields/company` through the local gateway, tenants connected
through the real OAuth flows to the Salesforce and SuperOffice sandboxes) says which fields a search can filter by
(`filterable`), so it can grey out the rest for `matching.org_nr_field`; naming one of those is a 422."""

from __future__ import annotations

from typing import Any

from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env

SO_TENANT = "acme-picker"


def _patch_matching(http: Any, crm: str, headers: dict[str, str], field: str) -> Any:
    return http.patch(f"/settings/{crm}", json={"matching": {"org_nr_field": field}},
                      headers={**headers, "If-Match": "*"})  # fmt: skip


def test_salesforce_picker_shows_a_long_text_area_as_not_filterable(sfc: SfConnect) -> None:
    sfc.sandbox.add_custom_field(sfc.org_id, "Account", "CVR__c", "string", length=20)
    sfc.sandbox.add_custom_field(sfc.org_id, "Account", "Notes__c", "textarea")  # long text area
    sfc.connect()

    offered = sfc.http.get("/crm/salesforce/fields/company", headers=sfc.auth(SF_TENANT, "member"))

    assert offered.status_code == 200, offered.text
    filterable = {f["name"]: f["filterable"] for f in offered.json()}
    assert (filterable["Notes__c"], filterable["Description"]) == (False, False)
    assert (filterable["CVR__c"], filterable["AccountNumber"], filterable["Website"]) == (True, True, True)


def test_superoffice_picker_offers_only_what_the_company_search_can_filter_by(env: Env) -> None:
    env.sandbox.define_udef(CTX, "contact", "RabitIQ:36", "CVR", "ShortText")
    env.connect(SO_TENANT)

    offered = env.http.get("/crm/superoffice/fields/company", headers=env.auth(SO_TENANT, "member"))

    assert offered.status_code == 200, offered.text
    filterable = {f["name"] for f in offered.json() if f["filterable"]}
    assert filterable == {"OrgNr", "Number1", "Number2", "Url", "Email", "RabitIQ:36"}
    refused = _patch_matching(env.http, "superoffice", env.auth(SO_TENANT, "admin"), "Department")
    assert refused.status_code == 422, refused.text
    assert [e["path"] for e in refused.json()["error"]["details"]["errors"]] == ["matching.org_nr_field"]
    saved = _patch_matching(env.http, "superoffice", env.auth(SO_TENANT, "admin"), "RabitIQ:36")
    assert saved.status_code == 200, saved.text
