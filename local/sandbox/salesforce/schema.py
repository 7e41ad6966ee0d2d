"""sObject metadata of the Salesforce sandbox: the standard objects leadbridge uses, their fields, and describe().

Field shapes follow the REST describe result (`fields[]` with `name, label, type, length, nillable, createable,
updateable, defaultedOnCreate, picklistValues, restrictedPicklist, referenceTo, custom, externalId, ...`).
Required on create = `createable and not nillable and not defaultedOnCreate` (reference §4).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "multipicklist", "id",
              "reference", "encryptedstring"}
SOAP_TYPES = {
    "string": "xsd:string", "textarea": "xsd:string", "email": "xsd:string", "phone": "xsd:string",
    "url": "xsd:string", "picklist": "xsd:string", "combobox": "xsd:string", "multipicklist": "xsd:string",
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
}


@dataclass
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    picklist: list[str] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    precision: int = 0
    scale: int = 0

    @property
    def required_on_create(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted_on_create

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "defaultValue": self.default_value,
            "calculated": self.calculated,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.name == "Id" or self.external_id,
            "nameField": self.name == "Name",
            "filterable": self.type != "textarea" or self.length <= 255,
            "sortable": self.type != "textarea" or self.length <= 255,
            "groupable": self.type not in ("textarea", "double", "currency", "percent", "datetime"),
            "picklistValues": [
                {"active": True, "defaultValue": v == self.default_value, "label": v, "value": v, "validFor": None}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "dependentPicklist": False,
            "controllerName": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.name[:-2] if self.type == "reference" and self.name.endswith("Id") else None,
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "soapType": SOAP_TYPES.get(self.type, "xsd:anyType"),
            "htmlFormatted": False,
            "inlineHelpText": None,
            "autoNumber": False,
            "caseSensitive": False,
            "deprecatedAndHidden": False,
        }


@dataclass
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    custom: bool = False

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive, as SOQL and the REST API are."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)

    def describe(self, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "replicateable": True,
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [],
            "recordTypeInfos": [],
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }

    def global_entry(self, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{self.name}"
        return {
            "name": self.name, "label": self.label, "labelPlural": self.label_plural, "keyPrefix": self.key_prefix,
            "custom": self.custom, "createable": self.createable, "updateable": self.updateable,
            "deletable": self.deletable, "queryable": True, "urls": {"sobject": base, "describe": f"{base}/describe"},
        }


def _s(name: str, length: int, label: str = "", **kw: Any) -> FieldDef:
    return FieldDef(name, kw.pop("type", "string"), label or name, length, **kw)


def _ref(name: str, *to: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "reference", kw.pop("label", name), 18, reference_to=list(to), **kw)


def _ro(name: str, type_: str, length: int = 0, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, kw.pop("label", name), length, createable=False, updateable=False, **kw)


def _system(owner: bool = True) -> list[FieldDef]:
    fields = [
        FieldDef("Id", "id", "Record ID", 18, nillable=False, createable=False, updateable=False,
                 defaulted_on_create=True),
        _ro("IsDeleted", "boolean", nillable=False, defaulted_on_create=True),
        _ro("CreatedDate", "datetime", nillable=False, defaulted_on_create=True),
        _ro("CreatedById", "reference", 18, reference_to=["User"], nillable=False, defaulted_on_create=True),
        _ro("LastModifiedDate", "datetime", nillable=False, defaulted_on_create=True),
        _ro("LastModifiedById", "reference", 18, reference_to=["User"], nillable=False, defaulted_on_create=True),
        _ro("SystemModstamp", "datetime", nillable=False, defaulted_on_create=True),
    ]
    if owner:
        fields.append(_ref("OwnerId", "User", label="Owner ID", nillable=False, defaulted_on_create=True))
    return fields


def _obj(name: str, label: str, plural: str, prefix: str, fields: list[FieldDef], *, owner: bool = True,
         writable: bool = True) -> ObjectDef:
    all_fields = {f.name: f for f in [*_system(owner), *fields]}
    return ObjectDef(name, label, plural, prefix, all_fields, createable=writable, updateable=writable,
                     deletable=writable)


INDUSTRIES = ["Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
              "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
              "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
              "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
              "Telecommunications", "Transportation", "Utilities", "Other"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
LEAD_STATUSES = [  # (label, converted, default)
    ("Open - Not Contacted", False, True), ("Working - Contacted", False, False),
    ("Closed - Converted", True, False), ("Closed - Not Converted", False, False),
]
OPPORTUNITY_STAGES = [  # (label, probability, closed, won, forecast category)
    ("Prospecting", 10, False, False, "Pipeline"), ("Qualification", 10, False, False, "Pipeline"),
    ("Needs Analysis", 20, False, False, "Pipeline"), ("Value Proposition", 50, False, False, "Pipeline"),
    ("Id. Decision Makers", 60, False, False, "Pipeline"), ("Perception Analysis", 70, False, False, "Pipeline"),
    ("Proposal/Price Quote", 75, False, False, "Pipeline"), ("Negotiation/Review", 90, False, False, "Pipeline"),
    ("Closed Won", 100, True, True, "Closed"), ("Closed Lost", 0, True, False, "Omitted"),
]
SALUTATIONS = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
CLOSED_TASK_STATUSES = {"Completed"}


def _address(prefix: str) -> list[FieldDef]:
    return [
        _s(f"{prefix}Street", 255, type="textarea"), _s(f"{prefix}City", 40), _s(f"{prefix}State", 80),
        _s(f"{prefix}PostalCode", 20), _s(f"{prefix}Country", 80),
    ]


def standard_objects() -> dict[str, ObjectDef]:
    """A fresh copy of the standard object definitions (each org gets its own: custom fields are per org)."""
    account = _obj("Account", "Account", "Accounts", "001", [
        _s("Name", 255, "Account Name", nillable=False),
        _s("AccountNumber", 40, "Account Number"),
        _s("Type", 255, "Account Type", type="picklist",
           picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"]),
        _s("Industry", 255, type="picklist", picklist=INDUSTRIES),
        _s("Website", 255, type="url"),
        _s("Phone", 40, "Account Phone", type="phone"),
        _s("Fax", 40, type="phone"),
        *_address("Billing"),
        *_address("Shipping"),
        _s("Description", 32000, "Account Description", type="textarea"),
        FieldDef("NumberOfEmployees", "int", "Employees", 0, precision=8),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue", 0, precision=18),
        _ref("ParentId", "Account", label="Parent Account ID"),
        _s("AccountSource", 255, type="picklist", picklist=LEAD_SOURCES),
    ])
    contact = _obj("Contact", "Contact", "Contacts", "003", [
        _ref("AccountId", "Account", label="Account ID"),
        _s("Salutation", 40, type="picklist", picklist=SALUTATIONS),
        _s("FirstName", 40, "First Name"),
        _s("LastName", 80, "Last Name", nillable=False),
        _ro("Name", "string", 121, label="Full Name", nillable=False, defaulted_on_create=True),
        _s("Title", 128),
        _s("Department", 80),
        _s("Email", 80, type="email"),
        _s("Phone", 40, "Business Phone", type="phone"),
        _s("MobilePhone", 40, "Mobile Phone", type="phone"),
        *_address("Mailing"),
        _s("LeadSource", 255, type="picklist", picklist=LEAD_SOURCES),
        _s("Description", 32000, "Contact Description", type="textarea"),
    ])
    lead = _obj("Lead", "Lead", "Leads", "00Q", [
        _s("Salutation", 40, type="picklist", picklist=SALUTATIONS),
        _s("FirstName", 40, "First Name"),
        _s("LastName", 80, "Last Name", nillable=False),
        _ro("Name", "string", 121, label="Full Name", nillable=False, defaulted_on_create=True),
        _s("Company", 255, nillable=False),
        _s("Title", 128),
        _s("Email", 80, type="email"),
        _s("Phone", 40, type="phone"),
        _s("MobilePhone", 40, "Mobile Phone", type="phone"),
        _s("Website", 255, type="url"),
        _s("Status", 255, "Lead Status", type="picklist", picklist=[s[0] for s in LEAD_STATUSES], restricted=True,
           nillable=False, defaulted_on_create=True, default_value="Open - Not Contacted"),
        _s("LeadSource", 255, type="picklist", picklist=LEAD_SOURCES),
        _s("Industry", 255, type="picklist", picklist=INDUSTRIES),
        _s("Rating", 255, type="picklist", picklist=["Hot", "Warm", "Cold"]),
        *[f for f in _address("") if f.name != "State"],
        _s("State", 80, "State/Province"),
        FieldDef("NumberOfEmployees", "int", "Employees", 0, precision=8),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue", 0, precision=18),
        _s("Description", 32000, type="textarea"),
        _ro("IsConverted", "boolean", nillable=False, defaulted_on_create=True),
        _ro("ConvertedAccountId", "reference", 18, reference_to=["Account"]),
        _ro("ConvertedContactId", "reference", 18, reference_to=["Contact"]),
        _ro("ConvertedOpportunityId", "reference", 18, reference_to=["Opportunity"]),
        _ro("ConvertedDate", "date"),
    ])
    opportunity = _obj("Opportunity", "Opportunity", "Opportunities", "006", [
        _ref("AccountId", "Account", label="Account ID"),
        _s("Name", 120, "Name", nillable=False),
        _s("StageName", 255, "Stage", type="picklist", picklist=[s[0] for s in OPPORTUNITY_STAGES], restricted=True,
           nillable=False),
        FieldDef("CloseDate", "date", "Close Date", 0, nillable=False),
        FieldDef("Amount", "currency", "Amount", 0, precision=18, scale=2),
        FieldDef("Probability", "percent", "Probability (%)", 0, precision=3, defaulted_on_create=True),
        _s("Type", 255, "Opportunity Type", type="picklist",
           picklist=["Existing Customer - Upgrade", "Existing Customer - Replacement", "New Customer"]),
        _s("LeadSource", 255, type="picklist", picklist=LEAD_SOURCES),
        _s("NextStep", 255, "Next Step"),
        _s("Description", 32000, type="textarea"),
        _ro("IsClosed", "boolean", nillable=False, defaulted_on_create=True, calculated=True),
        _ro("IsWon", "boolean", nillable=False, defaulted_on_create=True, calculated=True),
        _ro("ForecastCategoryName", "picklist", 255),
    ])
    task = _obj("Task", "Task", "Tasks", "00T", [
        _ref("WhoId", "Contact", "Lead", label="Name ID"),
        _ref("WhatId", "Account", "Opportunity", label="Related To ID"),
        _s("Subject", 255, type="combobox", picklist=["Call", "Send Letter", "Send Quote", "Other"]),
        FieldDef("ActivityDate", "date", "Due Date Only", 0),
        _s("Status", 255, type="picklist", picklist=TASK_STATUSES, restricted=True, nillable=False,
           defaulted_on_create=True, default_value="Not Started"),
        _s("Priority", 255, type="picklist", picklist=["High", "Normal", "Low"], restricted=True, nillable=False,
           defaulted_on_create=True, default_value="Normal"),
        _s("Description", 32000, "Description", type="textarea"),
        _ro("IsClosed", "boolean", nillable=False, defaulted_on_create=True, calculated=True),
        _ro("AccountId", "reference", 18, reference_to=["Account"]),
        _s("Type", 255, type="picklist", picklist=["Call", "Email", "Meeting", "Other"]),
        # Salesforce lets TaskSubtype be set on create only
        _s("TaskSubtype", 255, type="picklist", picklist=["Task", "Email", "Call"], updateable=False),
    ])
    user = _obj("User", "User", "Users", "005", [
        _s("Username", 80, type="email", nillable=False),
        _s("FirstName", 40), _s("LastName", 80, nillable=False),
        _ro("Name", "string", 121, label="Full Name", nillable=False, defaulted_on_create=True),
        _s("Email", 128, type="email", nillable=False),
        FieldDef("IsActive", "boolean", "Active", 0, nillable=False, defaulted_on_create=True),
        _s("Title", 80),
    ], owner=False, writable=False)
    stage = _obj("OpportunityStage", "Opportunity Stage", "Opportunity Stages", "01J", [
        _ro("MasterLabel", "string", 255, nillable=False), _ro("ApiName", "string", 255, nillable=False),
        _ro("IsActive", "boolean"), _ro("IsClosed", "boolean"), _ro("IsWon", "boolean"),
        _ro("DefaultProbability", "percent"), _ro("ForecastCategoryName", "picklist", 255),
        _ro("SortOrder", "int"), _ro("Description", "string", 255),
    ], owner=False, writable=False)
    lead_status = _obj("LeadStatus", "Lead Status Value", "Lead Status Values", "01J", [
        _ro("MasterLabel", "string", 255, nillable=False), _ro("ApiName", "string", 255, nillable=False),
        _ro("IsConverted", "boolean"), _ro("IsDefault", "boolean"), _ro("SortOrder", "int"),
    ], owner=False, writable=False)
    organization = _obj("Organization", "Organization", "Organizations", "00D", [
        _ro("Name", "string", 80, nillable=False),
        _ro("Division", "string", 80),
        _ro("Street", "textarea", 255), _ro("City", "string", 40), _ro("PostalCode", "string", 20),
        _ro("Country", "string", 80),
        _ro("DefaultLocaleSidKey", "picklist", 255, nillable=False),
        _ro("LanguageLocaleKey", "picklist", 255, nillable=False),
        _ro("TimeZoneSidKey", "picklist", 255, nillable=False),
        _ro("IsSandbox", "boolean", nillable=False),
        _ro("OrganizationType", "picklist", 255),
    ], owner=False, writable=False)
    return {o.name: o for o in (account, contact, lead, opportunity, task, user, stage, lead_status, organization)}


def copy_objects(objects: dict[str, ObjectDef]) -> dict[str, ObjectDef]:
    return copy.deepcopy(objects)


CUSTOM_FIELD_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "boolean", "int",
                      "double", "currency", "percent", "date", "datetime"}
