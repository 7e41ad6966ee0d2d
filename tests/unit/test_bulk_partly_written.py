"""What a bulk export's lead says when a CRM without transactions (HubSpot) wrote part of it: the first record refused
in the order a single export writes, what the CRM kept, what else it refused, and what it did not send."""

from __future__ import annotations

from leadbridge.crm.together import NewRecord, PartlyWritten
from leadbridge.errors import CrmConflict, CrmRejected
from leadbridge.export.bulk import first_refusal
from leadbridge.models.crm import CrmObject, CrmRecord

COMPANY = NewRecord("company", CrmObject.COMPANY, {"name": "Acme"}, label="the company")
PERSONS = [NewRecord(f"person_{i}", CrmObject.PERSON, {"email": f"p{i}@acme.dk"}, parent_ref="company",
                     label=f"person {i + 1} (c{i})") for i in range(3)]  # fmt: skip


def record(obj: CrmObject, crm_id: str) -> CrmRecord:
    return CrmRecord(object=obj, id=crm_id, fields={})


def test_a_refused_person_names_itself_and_what_the_crm_kept() -> None:
    shared = CrmConflict("HubSpot contacts.create_many: Contact already exists")
    answer = PartlyWritten({"company": record(CrmObject.COMPANY, "1"), "person_0": record(CrmObject.PERSON, "2")},
                           {"person_2": CrmRejected("bad email", fields=["email"]), "person_1": shared})

    error = first_refusal([COMPANY, *PERSONS], answer)

    assert isinstance(error, CrmConflict)  # the first in the lead's order, not the first in the answer
    assert error.message == "person 2 (c1): HubSpot contacts.create_many: Contact already exists"
    assert error.details["record"] == "person_1" and error.details["written"] == ["company", "person_0"]
    assert error.details["hint"].startswith("Written in the CRM: the company, person 1 (c0). Also refused: person 3")
    assert "export the lead again" in error.details["hint"]
    assert shared.message == "HubSpot contacts.create_many: Contact already exists" and not shared.details  # a copy


def test_a_refused_company_says_its_persons_were_not_sent() -> None:
    answer = PartlyWritten({}, {"company": CrmRejected("INVALID_OWNER_ID", fields=["hubspot_owner_id"])})

    error = first_refusal([COMPANY, *PERSONS], answer)

    assert error.message.startswith("the company: ")
    assert error.details["written"] == []
    assert "Not sent: person 1 (c0), person 2 (c1), person 3 (c2)." in error.details["hint"]
