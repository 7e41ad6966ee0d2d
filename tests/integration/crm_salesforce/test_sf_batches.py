"""The Salesforce connector's batch paths against the sandbox over real HTTP: many searches in one query give each
search what it would have found alone; many leads' records, new and changed, in Composite Graph requests, each lead
all or none; many records and many Accounts' Contacts read in one query."""

from __future__ import annotations

from leadbridge.crm.search_many import CompanySearch
from leadbridge.crm.together import NewRecord, RecordUpdate
from leadbridge.errors import CrmNotFound, CrmRejected
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


def test_new_and_changed_records_of_many_leads_go_in_one_graph_request(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    account = sf.sandbox.create(sf.org_id, "Account", {"Name": "Linked A/S", "Phone": "+4511111111"})
    contact = sf.sandbox.create(sf.org_id, "Contact", {"AccountId": account, "LastName": "Old", "Title": "Intern"})
    gone = sf.sandbox.create(sf.org_id, "Account", {"Name": "Deleted meanwhile"})
    sf.sandbox.delete(sf.org_id, "Account", gone)
    writes = sf.sandbox.call_counts(sf.org_id).get("POST /composite/graph", 0)

    linked = [RecordUpdate("company", CrmObject.COMPANY, account, {"Phone": "+4522222222"}),
              RecordUpdate("person_0", CrmObject.PERSON, contact, {"Title": "CEO"}),
              NewRecord("person_1", CrmObject.PERSON, {"LastName": "New"}, parent_id=account)]  # fmt: skip
    refused = [RecordUpdate("company", CrmObject.COMPANY, gone, {"Phone": "+4533333333"}),
               RecordUpdate("person_0", CrmObject.PERSON, contact, {"Title": "Never"})]  # fmt: skip
    assert connector.can_write_together(linked) and connector.can_write_together(refused)
    results = connector.write_batches_together([linked, refused])

    assert sf.sandbox.call_counts(sf.org_id).get("POST /composite/graph", 0) == writes + 1
    written = results[0]
    assert isinstance(written, dict) and written["company"].id == account and written["person_0"].id == contact
    assert sf.sandbox.get(sf.org_id, "Account", account)["Phone"] == "+4522222222"
    assert sf.sandbox.get(sf.org_id, "Contact", contact)["Title"] == "CEO"  # the refused lead's change is not kept
    new = sf.sandbox.get(sf.org_id, "Contact", written["person_1"].id)
    assert new["AccountId"] == account and new["LastName"] == "New"
    failure = results[1]
    assert isinstance(failure, CrmRejected | CrmNotFound) and failure.details["rolled_back"], failure
    assert failure.details["record"] == "company" and "nothing was written" in failure.message


def test_a_field_deleted_meanwhile_is_left_out_of_the_graphs_it_refused_for_its_object_only(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Account", "Region__c", "string")
    sf.sandbox.add_custom_field(sf.org_id, "Contact", "Region__c", "string")
    connector, _ = sf.connector()
    connector.fields(CrmObject.COMPANY)  # the describes are read (and cached) before the admin deletes the field
    connector.fields(CrmObject.PERSON)
    sf.sandbox.remove_custom_field(sf.org_id, "Account", "Region__c")

    def lead(i: int) -> list[NewRecord]:
        return [NewRecord("company", CrmObject.COMPANY, {"Name": f"Drift {i}", "Region__c": "North"}),
                NewRecord("person_0", CrmObject.PERSON, {"LastName": f"P{i}", "Region__c": "North"},
                          parent_ref="company")]  # fmt: skip

    results = connector.write_batches_together([lead(1), lead(2)])

    assert all(isinstance(r, dict) for r in results), results
    assert connector.take_skipped_fields() == ["Region__c"]
    accounts = [a for a in sf.sandbox.all_records(sf.org_id, "Account") if a["Name"].startswith("Drift")]
    contacts = [c for c in sf.sandbox.all_records(sf.org_id, "Contact") if c["LastName"] in ("P1", "P2")]
    assert len(accounts) == 2 and len(contacts) == 2
    assert {c["Region__c"] for c in contacts} == {"North"}  # the Contacts' own field of that name is written
    describes = sf.sandbox.call_counts(sf.org_id).get("GET /sobjects/Account/describe", 0)
    assert describes == 2  # read again once for both refused graphs, not once each


def test_many_accounts_and_their_contacts_are_read_in_one_query_each(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    accounts = [sf.sandbox.create(sf.org_id, "Account", {"Name": f"Read {i}"}) for i in range(3)]
    for i, account in enumerate(accounts[:2]):
        for n in range(i + 1):
            sf.sandbox.create(sf.org_id, "Contact", {"AccountId": account, "LastName": f"C{i}{n}"})
    deleted = sf.sandbox.create(sf.org_id, "Account", {"Name": "Gone"})
    sf.sandbox.delete(sf.org_id, "Account", deleted)
    connector.fields(CrmObject.COMPANY)
    connector.fields(CrmObject.PERSON)
    queries = sf.sandbox.call_counts(sf.org_id).get("GET /query", 0)

    found = connector.get_many(CrmObject.COMPANY, [accounts[0][:15], *accounts[1:], deleted])
    persons = connector.list_persons_many(accounts)

    assert sf.sandbox.call_counts(sf.org_id).get("GET /query", 0) == queries + 2
    assert set(found) == {accounts[0][:15], *accounts[1:]}  # by the id as asked; a deleted one is absent
    assert found[accounts[1]].fields == connector.get(CrmObject.COMPANY, accounts[1]).fields  # what `get` reads
    assert {k: sorted(p.fields["LastName"] for p in v) for k, v in persons.items()} == {
        accounts[0]: ["C00"], accounts[1]: ["C10", "C11"], accounts[2]: []}  # fmt: skip
    assert persons[accounts[1]] == connector.list_persons(accounts[1])


def test_a_broad_search_never_crowds_out_another_searchs_match(sf: SfEnv) -> None:
    connector, _ = sf.connector()
    for i in range(45):
        sf.sandbox.create(sf.org_id, "Account", {"Name": f"Nordic {i:02d} ApS"})
    exact = sf.sandbox.create(sf.org_id, "Account", {"Name": "Zeta Holding", "AccountNumber": "777"})

    broad, narrow = connector.search_companies_many([CompanySearch(name="Nordic"), CompanySearch(org_nr="777")])

    # 40 rows (2 searches x 20) were all the broad one's: the batch saw it was cut short and each searched alone.
    assert len(broad) == 20 and [r.id for r in narrow] == [exact]
