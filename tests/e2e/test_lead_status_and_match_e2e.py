"""The lead routes' smaller promises, end to end through the gateway (issue 17, finding 9), for SuperOffice and
Salesforce: `GET /leads/{id}/sync-status` answers with the kept links while the CRM is disconnected
(`connected: false`), and `POST /leads/{id}/match` takes `{"lead": ...}` like `/export` and `/preview` (the bare lead
of earlier versions still works this release, marked `Deprecation: true`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.lead_documents import lead
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import Env

SO_TENANT = "acme-lead-api"


@dataclass
class Connected:
    crm: str
    http: httpx.Client
    auth: Callable[[str], dict[str, str]]

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.auth("member"), timeout=30)

    def status(self, lead_id: str) -> httpx.Response:
        return self.http.get(f"/leads/{lead_id}/sync-status", headers=self.auth("member"))


@pytest.fixture(params=["superoffice", "salesforce"])
def crm(request: pytest.FixtureRequest) -> Connected:
    if request.param == "superoffice":
        env: Env = request.getfixturevalue("env")
        env.connect(SO_TENANT)
        return Connected("superoffice", env.http, lambda role: env.auth(SO_TENANT, role))
    sfc: SfConnect = request.getfixturevalue("sfc")
    sfc.connect()
    return Connected("salesforce", sfc.http, lambda role: sfc.auth(SF_TENANT, role))


def test_sync_status_keeps_answering_with_the_links_while_disconnected(crm: Connected) -> None:
    exported = crm.post("/leads/L-500/export", {"lead": lead("L-500")})
    assert exported.status_code == 200, exported.text
    before = crm.status("L-500").json()
    assert before["connected"] is True and before["synced"] is True and before["company"]["crm_id"]

    gone = crm.http.delete(f"/connections/{crm.crm}", headers=crm.auth("admin"))
    assert gone.status_code in (200, 204), gone.text
    during = crm.status("L-500")

    assert during.status_code == 200, during.text
    body = during.json()
    assert body["connected"] is False and body["crm"] == crm.crm
    assert body["company"] == before["company"] and body["persons"] == before["persons"]
    assert body["synced"] is True and body["synced_at"] == before["synced_at"]
    named = crm.http.get("/leads/L-never-exported/sync-status", params={"crm": crm.crm}, headers=crm.auth("member"))
    assert named.status_code == 200 and named.json()["connected"] is False and named.json()["company"] is None
    unnamed = crm.status("L-never-exported")  # no link and no connection: nothing says which CRM
    assert unnamed.status_code == 409 and unnamed.json()["error"]["code"] == "not_connected"


def test_a_tenant_that_never_connected_gets_a_clear_409(env: Env) -> None:
    response = env.http.get("/leads/L-1/sync-status", headers=env.auth("never-connected", "member"))

    assert response.status_code == 409 and response.json()["error"]["code"] == "not_connected"


def test_match_takes_the_lead_like_export_and_preview(crm: Connected) -> None:
    wrapped = crm.post("/leads/L-600/match", {"lead": lead("L-600")})
    bare = crm.post("/leads/L-600/match", lead("L-600"))
    mismatch = crm.post("/leads/L-600/match", {"lead": lead("L-601")})
    garbage = crm.post("/leads/L-600/match", {"lead": {"id": "L-600", "companyName": 7, "nonsense": True}})

    assert wrapped.status_code == 200, wrapped.text
    assert "deprecation" not in wrapped.headers and wrapped.json()["verdict"] in ("exact", "possible", "none")
    assert bare.status_code == 200 and bare.headers["deprecation"] == "true" and bare.json() == wrapped.json()
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["details"]["errors"][0]["loc"] == ["body", "lead", "id"]
    assert garbage.status_code == 422
    locs = [e["loc"] for e in garbage.json()["error"]["details"]["errors"]]
    assert all(loc[:2] == ["body", "lead"] for loc in locs) and any("nonsense" in loc for loc in locs), locs
