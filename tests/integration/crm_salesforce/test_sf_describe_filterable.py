"""The settings screen's field picker greys out fields a search cannot filter by (`FieldInfo.filterable`); for
Salesforce that is the describe's own `filterable` (a long text area is not), read from the sandbox over real HTTP."""

from __future__ import annotations

from leadbridge.models.crm import CrmObject
from tests.support.salesforce_connector import SfEnv


def test_fields_carry_the_describes_filterable(sf: SfEnv) -> None:
    sf.sandbox.add_custom_field(sf.org_id, "Account", "CVR__c", "string", length=20)
    sf.sandbox.add_custom_field(sf.org_id, "Account", "Notes__c", "textarea")  # long text area
    connector, _ = sf.connector()
    described = connector.client.request("account.describe", "GET", "sobjects/Account/describe")
    said = {f["name"]: f["filterable"] for f in described["fields"]}

    account = {f.name: f.filterable for f in connector.fields(CrmObject.COMPANY)}

    assert account == {name: said[name] for name in account}
    assert account["Notes__c"] is False and account["Description"] is False
    assert account["CVR__c"] is True and account["Name"] is True and account["Website"] is True

