"""The Organization object (the org the identity URL names) and Task `Type` / create-only `TaskSubtype`."""

from __future__ import annotations

from tests.support.salesforce_sandbox import OrgEnv


def test_organization_by_id_by_soql_and_describe(org: OrgEnv) -> None:
    org_id_of_identity = org.token["id"].rstrip("/").split("/")[-2]
    assert org_id_of_identity == org.org_id and len(org.org_id) == 18

    record = org.api.get(f"/sobjects/Organization/{org.org_id}")
    assert record.status_code == 200
    assert record.json()["Id"] == org.org_id and record.json()["Name"] == "Acme Inc"
    assert record.json()["attributes"]["type"] == "Organization"
    assert org.api.get(f"/sobjects/Organization/{org.org_id[:15]}").json()["Id"] == org.org_id
    rows = org.api.get("/query", params={"q": "SELECT Id, Name FROM Organization"}).json()["records"]
    assert [(r["Id"], r["Name"]) for r in rows] == [(org.org_id, "Acme Inc")]

    describe = org.api.get("/sobjects/Organization/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "00D" and describe["createable"] is False and describe["updateable"] is False
    for name in ("Id", "Name", "Country", "DefaultLocaleSidKey", "IsSandbox", "OrganizationType"):
        assert fields[name]["createable"] is False and fields[name]["updateable"] is False, name
    refused = org.api.patch(f"/sobjects/Organization/{org.org_id}", json={"Name": "Hijacked"})
    assert refused.status_code == 400


def test_an_org_set_up_with_its_own_name_and_country(org: OrgEnv) -> None:
    other = org.sb.add_org("Fjordkraft Byg A/S", country="Denmark")
    org.sb.add_user(other.org_id, "it@fjordkraft.test", is_admin=True)
    token = org.sb.issue_tokens(other.org_id, "it@fjordkraft.test", "cid")
    rows = org.api.get("/query", params={"q": "SELECT Id, Name, Country, IsSandbox FROM Organization"},
                       headers={"Authorization": f"Bearer {token['access_token']}"}).json()["records"]
    assert [(r["Id"], r["Name"], r["Country"], r["IsSandbox"]) for r in rows] == [
        (other.org_id, "Fjordkraft Byg A/S", "Denmark", False)]


def test_task_type_is_an_open_picklist_and_task_subtype_is_set_on_create_only(org: OrgEnv) -> None:
    fields = {f["name"]: f for f in org.api.get("/sobjects/Task/describe").json()["fields"]}
    assert fields["Type"]["type"] == "picklist" and fields["Type"]["restrictedPicklist"] is False
    assert [v["value"] for v in fields["Type"]["picklistValues"]] == ["Call", "Email", "Meeting", "Other"]
    assert fields["Type"]["createable"] is True and fields["Type"]["updateable"] is True
    assert [v["value"] for v in fields["TaskSubtype"]["picklistValues"]] == ["Task", "Email", "Call"]
    assert fields["TaskSubtype"]["createable"] is True and fields["TaskSubtype"]["updateable"] is False

    task = org.api.post("/sobjects/Task/", json={"Subject": "Intro", "Type": "Meeting", "TaskSubtype": "Email"})
    assert task.status_code == 201
    task_id = task.json()["id"]
    assert org.api.patch(f"/sobjects/Task/{task_id}", json={"Type": "Webinar"}).status_code == 204  # not restricted
    refused = org.api.patch(f"/sobjects/Task/{task_id}", json={"TaskSubtype": "Call"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert refused.json()[0]["fields"] == ["TaskSubtype"]
    got = org.api.get(f"/sobjects/Task/{task_id}").json()
    assert (got["Type"], got["TaskSubtype"]) == ("Webinar", "Email")
