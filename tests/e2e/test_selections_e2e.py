"""Selections for the person sync, end to end (issue 17, finding 9; seed 003): the settings screen lists the CRM's
static selections (`GET /crm/{crm}/selections`), a selection id the CRM does not have is refused on save (422 naming
it), and the persons linked to the connected user's appointments come in on the first run and on every run, with a
settings toggle. SuperOffice through its sandbox; Salesforce has no selections and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.sandbox.superoffice.model import utcnow
from local.stack import LocalStack
from tests.support.local_stack import stepped_stack
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import ADMIN_EMAIL, CTX, Env

TENANT = "acme-selections"
WORKER = "SyncWorkerFunction"


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    yield from stepped_stack(moto_server)


class So:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.sb = env.sandbox
        self.http: httpx.Client = env.http

    def patch_settings(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.patch(
            "/settings/superoffice", json=body, headers={**self.env.auth(TENANT, "admin"), "If-Match": "*"}
        )

    def get(self, path: str, role: str = "member", **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=self.env.auth(TENANT, role))
        assert response.status_code == 200, response.text
        return response.json()

    def run(self) -> dict[str, Any]:
        started = self.http.post("/sync-runs", json={}, headers=self.env.auth(TENANT, "admin"))
        assert started.status_code == 202, started.text
        self.env.stack.pump.poll_once(WORKER)
        return dict(self.get(f"/sync-runs/{started.json()['id']}"))

    def persons_in(self, run_id: str) -> set[str]:
        """CRM ids of the persons the run brought to the app, as the sync log says."""
        items = self.get("/sync-log", limit=200, object="person")["items"]
        return {e["crm_id"] for e in items if e["run_id"] == run_id and e["outcome"] == "success"}

    def backdate(self, kind: str, record: dict[str, Any]) -> None:
        """The record was made and last changed a day ago (before the connection): no pull reads it."""
        customer = self.sb.customers[CTX]
        with self.sb.lock:
            stored = customer.records[kind][record[f"{kind.capitalize()}Id"]]
            stored["CreatedDate"] = stored["UpdatedDate"] = utcnow() - timedelta(days=1)

    def my_associate(self) -> int:
        [me] = [u for u in self.sb.customers[CTX].users.values() if u.email == ADMIN_EMAIL]
        return int(me.associate_id)


@pytest.fixture
def so(env: Env) -> So:
    env.connect(TENANT)
    with env.sandbox.lock:
        env.sandbox.customers[CTX].webhooks.clear()
    return So(env)


# --- the picker and the check on save ---------------------------------------------------------------------------------


def test_the_crm_selections_are_listed_for_a_picker_and_an_unknown_id_is_refused_on_save(so: So) -> None:
    firm = so.sb.create(CTX, "contact", {"Name": "Picker AS"})
    companies = so.sb.add_selection(CTX, "Varme leads", target="contact", member_ids=[firm["ContactId"]])
    persons = so.sb.add_selection(CTX, "Nøglepersoner", target="person", member_ids=[])

    listed = so.get("/crm/superoffice/selections")  # a member may read it, like the other lookups

    assert sorted(listed, key=lambda s: s["id"]) == [
        {"id": str(companies.selection_id), "name": "Varme leads", "target": "company", "member_count": 1},
        {"id": str(persons.selection_id), "name": "Nøglepersoner", "target": "person", "member_count": 0},
    ]
    refused = so.patch_settings({"selections": {"static_selection_ids": [str(persons.selection_id), "999"]}})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["error"]["details"]["errors"]
    assert error["path"] == "selections.static_selection_ids[1]" and error["type"] == "unknown_crm_selection"
    assert "'999'" in error["message"] and "Varme leads" in error["message"]
    saved = so.patch_settings({"selections": {"static_selection_ids": [str(persons.selection_id)]}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["selections"]["static_selection_ids"] == [str(persons.selection_id)]


def test_salesforce_has_no_selections_and_says_so(sfc: SfConnect) -> None:
    sfc.connect()
    admin = sfc.auth(SF_TENANT, "admin")

    listed = sfc.http.get("/crm/salesforce/selections", headers=sfc.auth(SF_TENANT, "member"))
    saved = sfc.http.patch(
        "/settings/salesforce",
        json={"selections": {"static_selection_ids": ["1"]}},
        headers={**admin, "If-Match": "*"},
    )

    assert listed.status_code == 404 and "no static selections" in listed.json()["error"]["message"]
    assert saved.status_code == 422, saved.text
    [error] = saved.json()["error"]["details"]["errors"]
    assert error["path"] == "selections.static_selection_ids[0]" and error["type"] == "unsupported"


# --- persons linked to the user's appointments (seed 003, first row) --------------------------------------------------


def test_persons_linked_to_the_users_appointments_come_in_on_the_first_and_every_run(so: So) -> None:
    firm = so.sb.create(CTX, "contact", {"Name": "Møde Firma AS"})
    ref = {"Contact": {"ContactId": firm["ContactId"]}}
    met = so.sb.create(CTX, "person", {"Firstname": "Mona", "Lastname": "Møde", **ref})
    other = so.sb.create(CTX, "person", {"Firstname": "Ole", "Lastname": "Uden", **ref})
    third_person = so.sb.create(CTX, "person", {"Firstname": "Tina", "Lastname": "Tredje", **ref})
    for record in (met, other, third_person):  # CRM persons from before the connection: no pull brings them
        so.backdate("person", record)
    so.backdate("contact", firm)
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    me = {"Associate": {"AssociateId": so.my_associate()}}
    so.sb.create(CTX, "appointment", {**me, "Person": {"PersonId": met["PersonId"]}, **ref, "StartDate": soon})
    saved = so.patch_settings(
        {"objects": {"company": {"crm_object": "Contact", "direction": "both"},
                     "person": {"crm_object": "Person", "direction": "both"}},
         "initial_import": False})  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["selections"]["appointment_persons"] is True  # on by default, as seed 003's table

    first = so.run()

    assert first["state"] == "succeeded" and first["mode"] == "first", first
    assert so.persons_in(first["id"]) == {str(met["PersonId"])}  # nothing else: no initial import
    # A new appointment of an unchanged person brings it in on a normal (incremental) run.
    so.sb.create(CTX, "appointment", {**me, "Person": {"PersonId": other["PersonId"]}, **ref, "StartDate": soon})
    second = so.run()
    assert second["mode"] == "incremental" and so.persons_in(second["id"]) == {str(other["PersonId"])}, second

    # Switched off: the next person with an appointment stays out.
    off = so.patch_settings({"selections": {"appointment_persons": False}})
    assert off.status_code == 200, off.text
    so.sb.create(CTX, "appointment", {**me, "Person": {"PersonId": third_person["PersonId"]}, **ref,
                                      "StartDate": soon})  # fmt: skip
    third = so.run()
    assert third["state"] == "succeeded" and so.persons_in(third["id"]) == set(), third
