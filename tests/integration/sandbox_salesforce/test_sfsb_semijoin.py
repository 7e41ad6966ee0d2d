"""SOQL semi-joins (`IN (SELECT ...)`) and anti-joins (`NOT IN (SELECT ...)`) over the sandbox's REST query API: which
records they keep, paging and queryAll, the nulls a sub-select yields, and the MALFORMED_QUERY answers for what
Salesforce refuses (checked before any row is read, so an empty org answers them too)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.salesforce_sandbox import OrgEnv

CONVERTED_ACCOUNTS = "SELECT ConvertedAccountId FROM Lead WHERE IsConverted = true"


def create(org: OrgEnv, sobject: str, **values: Any) -> str:
    created = org.api.post(f"/sobjects/{sobject}/", json=values)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def converted_lead(org: OrgEnv, company: str, **options: Any) -> tuple[str, str]:
    """A Lead converted without an Opportunity; (its Account's id, its Contact's id)."""
    lead_id = create(org, "Lead", LastName=f"Buyer of {company}", Company=company)
    result = org.sb.convert_lead(org.org_id, lead_id, "Closed - Converted", do_not_create_opportunity=True,
                                 **options)
    assert result.success and result.account_id and result.contact_id, result.errors
    return result.account_id, result.contact_id


def all_ids(org: OrgEnv, soql: str, resource: str = "query") -> list[str]:
    """Every record's Id, following nextRecordsUrl (the fixture's pages hold 3 rows)."""
    page = org.api.get(f"/{resource}", params={"q": soql})
    assert page.status_code == 200, page.text
    body = page.json()
    ids = [r["Id"] for r in body["records"]]
    while not body["done"]:
        body = httpx.get(f"{org.sb.instance_url}{body['nextRecordsUrl']}", headers=org.api.headers).json()
        ids += [r["Id"] for r in body["records"]]
    assert len(ids) == page.json()["totalSize"]
    return ids


def stamp_literal(org: OrgEnv, sobject: str, record_id: str, after_ms: int = 0) -> str:
    stamp = org.sb.get(org.org_id, sobject, record_id)["SystemModstamp"] + timedelta(milliseconds=after_ms)
    return str(stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def test_semi_join_keeps_the_accounts_converted_leads_point_at_in_order_over_pages(org: OrgEnv) -> None:
    earlier, _ = converted_lead(org, "Earlier Oy")  # converted before the SystemModstamp cut
    since = stamp_literal(org, "Account", earlier, after_ms=1)
    plain = create(org, "Account", Name="Never A Lead AB")
    converted = [converted_lead(org, f"Converted {n} GmbH")[0] for n in range(4)]
    create(org, "Lead", LastName="Still Open", Company="Open Lead ApS")  # not converted: no account
    merged = create(org, "Account", Name="Merged Into AS")
    converted_lead(org, "Merged Into AS", account_id=merged)  # conversion into an existing account
    soql = (f"SELECT Id, Name FROM Account WHERE SystemModstamp >= {since} AND Id IN ({CONVERTED_ACCOUNTS}) "
            "ORDER BY SystemModstamp ASC, Id ASC")

    for resource in ("query", "queryAll"):
        found = all_ids(org, soql, resource)
        assert found == [*converted, merged], resource  # 2 pages; neither `earlier` nor `plain`
    assert plain not in found and earlier not in found


def test_semi_join_on_a_reference_field_keeps_contacts_of_converted_accounts(org: OrgEnv) -> None:
    account, contact = converted_lead(org, "Nordic Data ApS")
    added_later = create(org, "Contact", LastName="Colleague", AccountId=account)
    other_account = create(org, "Account", Name="Unrelated Ltd")
    create(org, "Contact", LastName="Elsewhere", AccountId=other_account)
    create(org, "Contact", LastName="No Account")

    found = all_ids(org, f"SELECT Id FROM Contact WHERE AccountId IN ({CONVERTED_ACCOUNTS})")

    assert sorted(found) == sorted([contact, added_later])


def test_anti_join_keeps_the_accounts_no_converted_lead_points_at(org: OrgEnv) -> None:
    converted_lead(org, "Converted Oy")
    plain = [create(org, "Account", Name=f"Plain {n}") for n in range(4)]

    assert all_ids(org, f"SELECT Id FROM Account WHERE Id NOT IN ({CONVERTED_ACCOUNTS})") == plain


def test_nulls_a_sub_select_yields_are_ignored(org: OrgEnv) -> None:
    account, _ = converted_lead(org, "Converted Oy")
    plain = create(org, "Account", Name="Plain AB")
    create(org, "Lead", LastName="Still Open", Company="Open Lead ApS")  # ConvertedAccountId null

    everyone = "SELECT ConvertedAccountId FROM Lead"  # no WHERE: the open Lead's null comes along
    assert all_ids(org, f"SELECT Id FROM Account WHERE Id IN ({everyone})") == [account]
    assert all_ids(org, f"SELECT Id FROM Account WHERE Id NOT IN ({everyone})") == [plain]


def test_an_empty_sub_select_keeps_nothing_for_in_and_everything_for_not_in(org: OrgEnv) -> None:
    plain = create(org, "Account", Name="Plain AB")

    assert all_ids(org, f"SELECT Id FROM Account WHERE Id IN ({CONVERTED_ACCOUNTS})") == []
    assert all_ids(org, f"SELECT Id FROM Account WHERE Id NOT IN ({CONVERTED_ACCOUNTS})") == [plain]
    count = org.api.get("/query", params={"q": f"SELECT COUNT() FROM Account WHERE Id IN ({CONVERTED_ACCOUNTS})"})
    assert count.json()["totalSize"] == 0


@pytest.mark.parametrize(("soql", "code", "message"), [
    ("SELECT Id FROM Account WHERE Name IN (SELECT ConvertedAccountId FROM Lead)", "MALFORMED_QUERY",
     "need an Id or reference field on the left of IN, not 'Name'"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT Company FROM Lead)", "MALFORMED_QUERY",
     "semi join sub selects can only query id fields, cannot use: 'Company'"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT ConvertedAccountId, Id FROM Lead)", "MALFORMED_QUERY",
     "must select exactly one Id or reference field, not: ConvertedAccountId, Id"),
    ("SELECT Id FROM Account WHERE Id NOT IN (SELECT ConvertedContactId FROM Lead)", "MALFORMED_QUERY",
     "'Lead.ConvertedContactId' points at Contact, but 'Id' on Account points at Account"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT ConvertedAccountId FROM Lead WHERE ConvertedContactId IN "
     "(SELECT Id FROM Contact))", "MALFORMED_QUERY", "Nesting of semi join sub-selects is not supported"),
    ("SELECT Id FROM Account WHERE Name = 'x' OR Id IN (SELECT ConvertedAccountId FROM Lead)", "MALFORMED_QUERY",
     "only allowed at the top level WHERE expressions"),
    ("SELECT Id FROM Account WHERE NOT Id IN (SELECT ConvertedAccountId FROM Lead)", "MALFORMED_QUERY",
     "only allowed at the top level WHERE expressions"),
    ("SELECT Id FROM Lead WHERE Id IN (SELECT Id FROM Lead WHERE IsConverted = true)", "MALFORMED_QUERY",
     "The inner and outer selects should not be on the same object type"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT ConvertedAccountId FROM Leed)", "INVALID_TYPE",
     "sObject type 'Leed' is not supported"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT ConvertedAcountId FROM Lead)", "INVALID_FIELD",
     "No such column 'ConvertedAcountId' on entity 'Lead'"),
])
def test_what_salesforce_refuses_in_a_semi_join_is_a_400(org: OrgEnv, soql: str, code: str, message: str) -> None:
    response = org.api.get("/query", params={"q": soql})

    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code and message in error["message"], error


def test_semi_joins_in_nested_and_terms_are_at_the_top_level(org: OrgEnv) -> None:
    account, _ = converted_lead(org, "Converted Oy")
    create(org, "Account", Name="Plain AB")

    soql = f"SELECT Id FROM Account WHERE Name != null AND (Name LIKE 'Conv%' AND Id IN ({CONVERTED_ACCOUNTS}))"
    assert all_ids(org, soql) == [account]
