"""The standard properties of the sandbox's objects and the Property shape of the properties API (§4): `name`,
`label`, `type`, `fieldType`, `options[]`, `calculated`, `hubspotDefined`, `modificationMetadata.readOnlyValue`,
built through `model.PropertyDefinition` (stored as dicts, checked again when answered).

Only the properties the reference or the connector needs are defined; a portal adds custom ones through the admin API
(`add_property`). Deal stages come from the default pipeline (pipeline.py)."""

from __future__ import annotations

from typing import Any

from local.sandbox.hubspot.model import ModificationMetadata, PropertyDefinition, PropertyOption
from local.sandbox.hubspot.pipelines import DEFAULT_PIPELINE

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tasks": "0-27"}
OBJECT_BY_TYPE_ID = {v: k for k, v in OBJECT_TYPE_IDS.items()}
# §3: contacts carry `lastmodifieddate`, the others `hs_lastmodifieddate`; creation dates likewise
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate",
                     "deals": "hs_lastmodifieddate", "tasks": "hs_lastmodifieddate"}
CREATED_PROPERTY = {"contacts": "createdate", "companies": "createdate", "deals": "createdate",
                    "tasks": "hs_createdate"}
# what a read without `properties=` returns
DEFAULT_RETURNED = {
    "contacts": ["createdate", "email", "firstname", "lastname", "lastmodifieddate", "hs_object_id"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"],
    "tasks": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}


def options(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [PropertyOption(label=label, value=value, description="", displayOrder=i, hidden=False).model_dump()
            for i, (value, label) in enumerate(pairs)]


def prop(name: str, label: str, type_: str = "string", field_type: str = "text", *, group: str = "",
         opts: list[dict[str, Any]] | None = None, read_only: bool = False, calculated: bool = False,
         unique: bool = False, hubspot_defined: bool = True) -> dict[str, Any]:
    """One property definition as the properties API returns it, built through `PropertyDefinition` (a `type` or
    `fieldType` outside the reference's lists is a ValidationError, which the admin API answers as a 400)."""
    return PropertyDefinition.model_validate({
        "name": name, "label": label, "description": "", "groupName": group, "type": type_,
        "fieldType": field_type, "options": opts or [], "displayOrder": -1, "calculated": calculated,
        "externalOptions": False, "hasUniqueValue": unique, "hidden": False, "hubspotDefined": hubspot_defined,
        "formField": not read_only,
        "modificationMetadata": ModificationMetadata(archivable=not hubspot_defined,
                                                     readOnlyDefinition=hubspot_defined,
                                                     readOnlyValue=read_only or calculated),
        "archived": False,
    }).model_dump(exclude_none=True)


def _system(obj: str) -> list[dict[str, Any]]:
    return [
        prop("hs_object_id", "Record ID", "number", "number", read_only=True, unique=True),
        prop(CREATED_PROPERTY[obj], "Create Date", "datetime", "date", read_only=True),
        prop(MODIFIED_PROPERTY[obj], "Last Modified Date", "datetime", "date", read_only=True),
        prop("hubspot_owner_id", "Owner", "enumeration", "select"),
    ]


_LIFECYCLE = options(("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing "
                     "Qualified Lead"), ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
                     ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"))


def standard_properties() -> dict[str, dict[str, dict[str, Any]]]:
    """A fresh copy of the standard properties, by object then name."""
    stages = options(*[(s["id"], s["label"]) for s in DEFAULT_PIPELINE["stages"]])
    by_object = {
        "contacts": [
            prop("email", "Email", group="contactinformation", unique=True),
            prop("firstname", "First Name"), prop("lastname", "Last Name"),
            prop("phone", "Phone Number", "string", "phonenumber"), prop("jobtitle", "Job Title"),
            prop("company", "Company Name"),
            prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", opts=_LIFECYCLE),
            prop("associatedcompanyid", "Primary Associated Company ID", "number", "number", read_only=True),
        ],
        "companies": [
            prop("name", "Company name"), prop("domain", "Company Domain Name"),
            prop("phone", "Phone Number", "string", "phonenumber"), prop("address", "Street Address"),
            prop("city", "City"), prop("zip", "Postal Code"), prop("country", "Country/Region"),
            prop("industry", "Industry", "enumeration", "select",
                 opts=options(("COMPUTER_SOFTWARE", "Computer Software"), ("ACCOUNTING", "Accounting"))),
            prop("numberofemployees", "Number of Employees", "number", "number"),
            prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", opts=_LIFECYCLE),
            prop("num_associated_contacts", "Number of Associated Contacts", "number", "calculation_equation",
                 calculated=True),
        ],
        "deals": [
            prop("dealname", "Deal Name"), prop("amount", "Amount", "number", "number"),
            prop("closedate", "Close Date", "datetime", "date"),
            prop("pipeline", "Pipeline", "enumeration", "select", opts=options(("default", "Sales Pipeline"))),
            prop("dealstage", "Deal Stage", "enumeration", "radio", opts=stages),
            prop("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", calculated=True),
            prop("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", calculated=True),
        ],
        "tasks": [
            prop("hs_timestamp", "Due date", "datetime", "date"),
            prop("hs_task_subject", "Task Title"), prop("hs_task_body", "Task description", "string", "html"),
            prop("hs_task_status", "Task Status", "enumeration", "select",
                 opts=options(("NOT_STARTED", "Not Started"), ("IN_PROGRESS", "In Progress"),
                              ("WAITING", "Waiting"), ("COMPLETED", "Completed"), ("DEFERRED", "Deferred"))),
            prop("hs_task_priority", "Priority", "enumeration", "select",
                 opts=options(("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("NONE", "None"))),
            prop("hs_task_type", "Task Type", "enumeration", "select",
                 opts=options(("CALL", "Call"), ("EMAIL", "Email"), ("TODO", "To-do"))),
        ],
    }
    return {obj: {p["name"]: p for p in [*props, *_system(obj)]} for obj, props in by_object.items()}
