"""The Salesforce connector's batch paths against the sandbox over real HTTP: many searches in one query give each
search what it would have found alone; many leads' records in Composite Graph requests, each lead all or none."""

from __future__ import annotations

from leadbridge.crm.search_many import CompanySearch
from leadbridge.crm.together import NewRecord
from leadbridge.errors import CrmRejected
from leadbridge.models.crm import CrmObject
from tests.support.salesforce_connector import SfEnv


def test_many_searches_in_one_query_answer_as_each_search_alone(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    for name, number, site in [("Acme A/S", "111", "https://acme.dk"), ("ACME Sverige AB", None, None),
                               ("100% Solar_Tech", "222", "https://solar.dk"), ("O'Brien & Co", None,
                               "http://www.obrien.ie"), ("Nordlys ApS", "333", None)]:  # fmt: skip
        sf.sandbox.create(sf.org_id, "Account", {"Name": name, "AccountNumber": number, "Website": site})
    searches = [
        CompanySearch(name="acme"),  # case-insensitive prefix: both Acmes
        CompanySearch(org_nr="222"),
        CompanySearch(name="100% Solar"),  # the wildcard characters are text
        CompanySearch(name="100_"),  # ... and `_` too: no match
        CompanySearch(domain="obrien.ie"),
        CompanySearch(name="Nordlys", org_nr="111"),  # either criterion
        CompanySearch(name="Nobody"),
        CompanySearch(),  # nothing to search by
    ]
    queries = sf.sandbox.call_counts(sf.org_id).get("GET /query", 0)

    together = connector.search_companies_many(searches)

    assert sf.sandbox.call_counts(sf.org_id).get("GET /query", 0) == queries + 1
    alone = [connector.search_companies(org_nr=s.org_nr, name=s.name, domain=s.domain) for s in searches]
    assert [sorted(r.id for r in found) for found in together] == [sorted(r.id for r in found) for found in alone]
    assert [len(found) for found in together] == [2, 1, 1, 0, 1, 2, 0, 0]


def test_batches_of_records_each_all_or_none_in_one_graph_request(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Contact", "Badge__c", "string")
    connector, _ = sf.connector()
    connector.fields(CrmObject.PERSON)  # the describe is read before the field becomes required
    sf.sandbox.remove_custom_field(sf.org_id, "Contact", "Badge__c")
    sf.sandbox.add_custom_field(sf.org_id, "Contact", "Badge__c", "string", required=True)

    def lead(i: int, contact: bool) -> list[NewRecord]:
        company = NewRecord("company", CrmObject.COMPANY, {"Name": f"Batch {i}"})
        person = NewRecord("person_0", CrmObject.PERSON, {"LastName": f"Person {i}"}, parent_ref="company")
        return [company, person] if contact else [company]

    writes = sf.sandbox.call_counts(sf.org_id).get("POST /composite/graph", 0)

    results = connector.write_batches_together([lead(1, True), lead(2, False), lead(3, True), lead(4, False)])

    assert sf.sandbox.call_counts(sf.org_id).get("POST /composite/graph", 0) == writes + 1
    assert [type(r).__name__ for r in results] == ["CrmRejected", "dict", "CrmRejected", "dict"]
    refused = results[0]
    assert isinstance(refused, CrmRejected) and "Badge__c" in refused.message and refused.details["rolled_back"]
    names = {a["Name"] for a in sf.sandbox.all_records(sf.org_id, "Account")}
    assert names == {"Batch 2", "Batch 4"}  # nothing of a refused batch is left
    created = results[1]
    assert isinstance(created, dict) and created["company"].id.startswith("001")


def test_a_broad_search_never_crowds_out_another_searchs_match(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    for i in range(45):
        sf.sandbox.create(sf.org_id, "Account", {"Name": f"Nordic {i:02d} ApS"})
    exact = sf.sandbox.create(sf.org_id, "Account", {"Name": "Zeta Holding", "AccountNumber": "777"})

    broad, narrow = connector.search_companies_many([CompanySearch(name="Nordic"), CompanySearch(org_nr="777")])

    # 40 rows (2 searches x 20) were all the broad one's: the batch saw it was cut short and each searched alone.
    assert len(broad) == 20 and [r.id for r in narrow] == [exact]
