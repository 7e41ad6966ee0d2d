"""CRM metadata for tests that need no CRM: SuperOffice-like field lists and an in-memory metadata source.

- `fi(name, type, **kw)`: a `FieldInfo` labelled with its name.
- `COMPANY_FIELDS`, `PERSON_FIELDS`, `DEAL_FIELDS`: the fields of a SuperOffice Contact, Person and Sale, with some of
  the custom fields.
- `InMemoryMetadata`: a metadata source (objects, fields, stages, users) over those lists.
"""

from __future__ import annotations

from typing import Any

from leadbridge.models.crm import CrmObject, CrmObjectInfo, CrmUser, FieldInfo, FieldType, Stage, StageKind

F = FieldType


def fi(name: str, type_: FieldType = F.STRING, **kw: Any) -> FieldInfo:
    return FieldInfo(name=name, label=name, type=type_, **kw)


COMPANY_FIELDS = [
    fi("Name", length=20, required=True),
    fi("Department", length=219),
    fi("OrgNr", length=49),
    fi("Url", F.URL, length=255),
    fi("Email", F.EMAIL, length=255),
    fi("Phone", F.PHONE, length=255),
    fi("Description", F.TEXT, length=2000),
    fi("StreetAddress", length=79),
    fi("StreetZipcode", length=19),
    fi("StreetCity", length=59),
    fi("CountryId", F.REFERENCE),
    fi("Domain", updateable=False),
    fi("Owner", F.REFERENCE),
    # Only some of the 37 custom fields exist in this CRM.
    fi("RabitIQ:1", F.INTEGER, custom=True),
    fi("RabitIQ:3", F.STRING, length=39, custom=True),
    fi("RabitIQ:16", F.INTEGER, custom=True),
    fi("RabitIQ:35", F.STRING, length=39, custom=True),
]
PERSON_FIELDS = [
    fi("Firstname", length=99),
    fi("Lastname", length=99, required=True),
    fi("Title", length=239),
    fi("Email", F.EMAIL),
    fi("OfficePhone", F.PHONE),
    fi("MobilePhone", F.PHONE),
    fi("Owner", F.REFERENCE),
]
DEAL_FIELDS = [
    fi("Heading", length=219),
    fi("Amount", F.DECIMAL),
    fi("Saledate", F.DATETIME),
    fi("Description", F.TEXT, length=2000),
    fi("Stage", F.PICKLIST),
    fi("Status", F.PICKLIST),
    fi("Owner", F.REFERENCE),
]


class InMemoryMetadata:
    crm = "superoffice"

    def objects(self) -> list[CrmObjectInfo]:
        return [
            CrmObjectInfo(object=CrmObject.COMPANY, crm_name="Contact", label="Company"),
            CrmObjectInfo(object=CrmObject.PERSON, crm_name="Person", label="Contact person"),
            CrmObjectInfo(object=CrmObject.DEAL, crm_name="Sale", label="Sale"),
            CrmObjectInfo(object=CrmObject.ACTIVITY, crm_name="Appointment", label="Follow-up"),
        ]

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        return {
            CrmObject.COMPANY: COMPANY_FIELDS,
            CrmObject.PERSON: PERSON_FIELDS,
            CrmObject.DEAL: DEAL_FIELDS,
            CrmObject.ACTIVITY: [FieldInfo(name="Title", label="Title", type=FieldType.STRING)],
        }[obj]

    def stages(self) -> list[Stage]:
        return [
            Stage(id="1", name="Lead", rank=1),
            Stage(id="3", name="Proposal", rank=3),
            Stage(id="Open", name="Open", group="status"),
            Stage(id="Sold", name="Sold", group="status", kind=StageKind.WON),
            Stage(id="Lost", name="Lost", group="status", kind=StageKind.LOST),
        ]

    def users(self) -> list[CrmUser]:
        return [CrmUser(id="5", name="Tony"), CrmUser(id="9", name="Gone", active=False)]
