"""Contact / Person / Sale / Appointment: reading written JSON into stored records and rendering the carriers.

Carriers are rendered from the spec's own definitions (every property present, empty values as the API sends them:
`""`, `0`, `false`, `[]`, `null` for references, `0001-01-01T00:00:00` for dates), with `TableRight`,
`FieldProperties` (incl. `FieldLength`, the tenant's max text length) and `_Links`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.sandbox.superoffice import udef
from local.sandbox.superoffice.model import EMPTY_DATE, Customer, User, bad_request
from local.sandbox.superoffice.speccheck import SpecIndex

# --- reference lists (MDO lists) --------------------------------------------------------------------------------

COUNTRIES: dict[int, dict[str, str]] = {
    208: {"Name": "Danmark", "EnglishName": "Denmark", "TwoLetterISOCountry": "DK", "ThreeLetterISOCountry": "DNK",
          "DomainName": "dk", "OrgNrText": "CVR-nr", "DialInPrefix": "+45"},
    578: {"Name": "Norge", "EnglishName": "Norway", "TwoLetterISOCountry": "NO", "ThreeLetterISOCountry": "NOR",
          "DomainName": "no", "OrgNrText": "Org.nr", "DialInPrefix": "+47"},
    752: {"Name": "Sverige", "EnglishName": "Sweden", "TwoLetterISOCountry": "SE", "ThreeLetterISOCountry": "SWE",
          "DomainName": "se", "OrgNrText": "Org.nr", "DialInPrefix": "+46"},
    276: {"Name": "Deutschland", "EnglishName": "Germany", "TwoLetterISOCountry": "DE", "ThreeLetterISOCountry": "DEU",
          "DomainName": "de", "OrgNrText": "USt-IdNr", "DialInPrefix": "+49"},
    826: {"Name": "United Kingdom", "EnglishName": "United Kingdom", "TwoLetterISOCountry": "GB",
          "ThreeLetterISOCountry": "GBR", "DomainName": "uk", "OrgNrText": "Company no", "DialInPrefix": "+44"},
    840: {"Name": "United States", "EnglishName": "United States", "TwoLetterISOCountry": "US",
          "ThreeLetterISOCountry": "USA", "DomainName": "us", "OrgNrText": "EIN", "DialInPrefix": "+1"},
}

# The sale stage list is `prob` ("Rating" on SaleEntity); each item carries its probability percent.
SALE_STAGES: dict[int, tuple[str, int]] = {
    1: ("Lead", 10),
    2: ("Qualified", 25),
    3: ("Proposal", 50),
    4: ("Negotiation", 75),
    5: ("Verbal yes", 90),
}

LISTS: dict[str, dict[int, str]] = {
    "category": {1: "Customer", 2: "Prospect", 3: "Supplier", 4: "Partner"},
    "business": {1: "IT", 2: "Consulting", 3: "Manufacturing", 4: "Retail", 5: "Finance"},
    "position": {1: "CEO", 2: "CTO", 3: "CFO", 4: "Sales Manager", 5: "Marketing Manager", 6: "Developer"},
    "rating": {k: v[0] for k, v in SALE_STAGES.items()},
    "saletype": {1: "New business", 2: "Upsell"},
    "currency": {1: "DKK", 2: "NOK", 3: "SEK", 4: "EUR", 5: "USD"},
    "source": {1: "Web", 2: "Referral", 3: "Lead app"},
    "reason": {1: "Price", 2: "Chose competitor", 3: "No decision"},
    "reasonsold": {1: "Best fit", 2: "Price"},
    "reasonstalled": {1: "Budget frozen"},
    "competitor": {1: "Competitor A", 2: "Competitor B"},
    "credited": {},
    "priority": {1: "Normal", 2: "High"},
    "task": {1: "Meeting", 2: "Phone call", 3: "To-do", 4: "Follow-up"},
}

CATEGORY_GROUP = {1: "Customer", 2: "PotentialCustomer", 3: "Other", 4: "Partner"}

SALE_STATUS_NUMBER = {"Unknown": 0, "Open": 1, "Sold": 2, "Lost": 3, "Stalled": 4}

# --- per-entity field tables ------------------------------------------------------------------------------------

REF_KEYS = {"associate": "AssociateId", "contact": "ContactId", "person": "PersonId", "sale": "SaleId",
            "country": "CountryId", "task": "TaskListItemId", "project": "ProjectId", "appointment": "AppointmentId"}


@dataclass(frozen=True)
class Kind:
    key: str  # contact
    name: str  # Contact
    id_field: str
    carrier: str
    with_links: str
    simple: str
    texts: dict[str, int]
    ints: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    bools: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    elements: tuple[str, ...] = ()
    string_lists: tuple[str, ...] = ()
    refs: dict[str, str] = field(default_factory=dict)  # property -> ref kind
    has_address: bool = False
    # Webhook FieldValues: DB column -> stored field (or callable on the record)
    columns: dict[str, str] = field(default_factory=dict)


KINDS: dict[str, Kind] = {
    "contact": Kind(
        key="contact", name="Contact", id_field="ContactId",
        carrier="SuperOffice.CRM.Services.ContactEntity",
        with_links="SuperOffice.WebApi.v1.Carriers.ContactCarriers.ContactEntityWithLinks",
        simple="SuperOffice.CRM.Services.Contact",
        # SOD database/tables/contact.mdx
        texts={"Name": 219, "Department": 219, "OrgNr": 49, "Number1": 49, "Number2": 49, "Description": 2000,
               "Kananame": 219, "DbiKey": 255},
        ints=("Deleted", "Source"), bools=("NoMailing", "Xstop"), dates=("DbiLastModified",),
        elements=("Emails", "Urls", "Phones", "Faxes"), string_lists=("Domains", "BounceEmails"),
        refs={"Associate": "associate", "Business": "business", "Category": "category", "Country": "country"},
        has_address=True,
        columns={"contact_id": "ContactId", "name": "Name", "department": "Department", "orgnr": "OrgNr",
                 "number1": "Number1", "number2": "Number2", "associate_id": "Associate", "business_idx": "Business",
                 "category_idx": "Category", "country_id": "Country", "deleted": "Deleted", "source": "Source",
                 "xstop": "Xstop", "nomailing": "NoMailing", "registered": "CreatedDate",
                 "registered_associate_id": "CreatedBy", "updated": "UpdatedDate",
                 "updated_associate_id": "UpdatedBy"},
    ),
    "person": Kind(
        key="person", name="Person", id_field="PersonId",
        carrier="SuperOffice.CRM.Services.PersonEntity",
        with_links="SuperOffice.WebApi.v1.Carriers.PersonCarriers.PersonEntityWithLinks",
        simple="SuperOffice.CRM.Services.Person",
        # SOD database/tables/person.mdx
        texts={"Firstname": 99, "MiddleName": 99, "Lastname": 99, "Mrmrs": 239, "Title": 239, "Description": 2000,
               "PersonNumber": 49, "Salutation": 239, "Kanafname": 99, "Kanalname": 99, "Post1": 239,
               "Post2": 239, "Post3": 239},
        ints=("Source", "LeadstatusId"), bools=("NoMailing", "UsePersonAddress", "Retired"), dates=("BirthDate",),
        elements=("Emails", "OfficePhones", "MobilePhones", "PrivatePhones", "OtherPhones", "Faxes", "Urls",
                  "ChatEmails", "InternetPhones"),
        string_lists=("BounceEmails",),
        refs={"Contact": "contact", "Position": "position", "Country": "country", "Category": "category",
              "Business": "business", "Associate": "associate"},
        has_address=True,
        columns={"person_id": "PersonId", "contact_id": "Contact", "firstname": "Firstname", "lastname": "Lastname",
                 "middleName": "MiddleName", "title": "Title", "mrmrs": "Mrmrs", "position_idx": "Position",
                 "country_id": "Country", "associate_id": "Associate", "retired": "Retired",
                 "business_idx": "Business", "category_idx": "Category", "registered": "CreatedDate",
                 "registered_associate_id": "CreatedBy", "updated": "UpdatedDate",
                 "updated_associate_id": "UpdatedBy"},
    ),
    "sale": Kind(
        key="sale", name="Sale", id_field="SaleId",
        carrier="SuperOffice.CRM.Services.SaleEntity",
        with_links="SuperOffice.WebApi.v1.Carriers.SaleCarriers.SaleEntityWithLinks",
        simple="SuperOffice.CRM.Services.Sale",
        texts={"Heading": 219, "SaleText": 2000, "Number": 49, "Postit": 2000},
        ints=("Probability",), floats=("Amount", "Earning", "EarningPercent"),
        dates=("Saledate", "NextDueDate", "ReopenDate"),
        enums={"Status": ("Unknown", "Open", "Sold", "Lost", "Stalled"),
               "Completed": ("Unknown", "NotStarted", "Started", "Completed")},
        refs={"Associate": "associate", "Contact": "contact", "Person": "person", "Rating": "rating",
              "SaleType": "saletype", "Currency": "currency", "Source": "source", "Reason": "reason",
              "ReasonSold": "reasonsold", "ReasonStalled": "reasonstalled", "Competitor": "competitor",
              "Credited": "credited"},
        columns={"sale_id": "SaleId", "contact_id": "Contact", "person_id": "Person", "associate_id": "Associate",
                 "heading": "Heading", "amount": "Amount", "status": "Status", "probability": "Probability",
                 "probability_idx": "Rating", "saledate": "Saledate", "sale_type_id": "SaleType",
                 "number": "Number", "registered": "CreatedDate", "registered_associate_id": "CreatedBy",
                 "updated": "UpdatedDate", "updated_associate_id": "UpdatedBy"},
    ),
    "appointment": Kind(
        key="appointment", name="Appointment", id_field="AppointmentId",
        carrier="SuperOffice.CRM.Services.AppointmentEntity",
        with_links="SuperOffice.WebApi.v1.Carriers.AppointmentCarriers.AppointmentEntityWithLinks",
        simple="SuperOffice.CRM.Services.Appointment",
        texts={"Title": 239, "Description": 2000, "Agenda": 2000, "InternalNotes": 2000, "Location": 254},
        bools=("HasAlarm", "IsFree", "IsAlldayEvent", "IsMileStone"),
        dates=("StartDate", "EndDate", "ActiveDate"),
        enums={"Type": ("Unknown", "inDiary", "inChecklist", "Note", "Document", "SavedReport", "BookingForDiary",
                        "BookingForChecklist", "MergeDraft", "MergeFinal"),
               "Completed": ("Unknown", "NotStarted", "Started", "Completed"),
               "Private": ("Public", "PrivateUser", "PrivateGroup")},
        refs={"Associate": "associate", "Contact": "contact", "Person": "person", "Sale": "sale", "Task": "task",
              "Priority": "priority"},
        columns={"appointment_id": "AppointmentId", "contact_id": "Contact", "person_id": "Person",
                 "associate_id": "Associate", "sale_id": "Sale", "task_idx": "Task", "type": "Type",
                 "status": "Completed", "do_by": "StartDate", "endDate": "EndDate", "registered": "CreatedDate",
                 "registered_associate_id": "CreatedBy", "updated": "UpdatedDate",
                 "updated_associate_id": "UpdatedBy"},
    ),
}

ADDRESS_PARTS = ("Address1", "Address2", "Address3", "City", "County", "State", "Zipcode")
READ_ONLY = {"TableRight", "FieldProperties", "_Links", "CreatedDate", "UpdatedDate", "CreatedBy", "UpdatedBy",
             "Persons", "FullName", "FormalName", "IsAssociate", "UtmParameters", "ActiveInterests",
             "ActiveErpLinks", "ActiveLinks"}


# --- time --------------------------------------------------------------------------------------------------------


def parse_datetime(value: Any, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(f"{where}: expected an ISO 8601 date string, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # .NET writes up to 7 fraction digits; Python reads at most 6.
        head, dot, tail = text.partition(".")
        if not dot:
            raise bad_request(f"{where}: {value!r} is not an ISO 8601 date") from None
        digits = "".join(c for c in tail if c.isdigit())
        rest = tail[len(digits):]
        try:
            parsed = datetime.fromisoformat(f"{head}.{digits[:6]}{rest}".replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"{where}: {value!r} is not an ISO 8601 date") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def fmt_datetime(value: datetime | None, *, utc: bool = False) -> str:
    if value is None:
        return EMPTY_DATE
    text = value.replace(microsecond=0).isoformat()
    return text + "Z" if utc else text


# --- reading input ----------------------------------------------------------------------------------------------


def new_record(kind: Kind) -> dict[str, Any]:
    rec: dict[str, Any] = {kind.id_field: 0, "CustomFields": {}, "ExtraFields": {}}
    for name in kind.texts:
        rec[name] = ""
    for name in kind.ints:
        rec[name] = 0
    for name in kind.floats:
        rec[name] = 0.0
    for name in kind.bools:
        rec[name] = False
    for name in kind.dates:
        rec[name] = None
    for name, values in kind.enums.items():
        rec[name] = values[0]
    for name in kind.elements + kind.string_lists:
        rec[name] = []
    for name in kind.refs:
        rec[name] = 0
    if kind.has_address:
        rec["Address"] = {"Street": dict.fromkeys(ADDRESS_PARTS, ""), "Postal": dict.fromkeys(ADDRESS_PARTS, "")}
    if kind.key == "sale":
        rec["Status"] = "Open"
    if kind.key == "appointment":
        rec["Type"] = "inDiary"
        rec["Completed"] = "NotStarted"
    rec["CreatedDate"] = rec["UpdatedDate"] = None
    rec["CreatedBy"] = rec["UpdatedBy"] = 0
    rec["DeletedDate"] = None
    return rec


def apply_input(
    customer: Customer, kind: Kind, rec: dict[str, Any], body: dict[str, Any], *, overlong: str
) -> dict[str, Any]:
    """Return a copy of `rec` with the writable properties of `body` applied. Unknown and read-only properties are
    ignored, as the API does; values of the wrong type are a 400 naming the property."""
    out = copy.deepcopy(rec)
    for prop, value in body.items():
        if prop in READ_ONLY or prop == kind.id_field:
            continue
        if prop in kind.texts:
            out[prop] = _text(value, prop, kind.texts[prop], overlong)
        elif prop in kind.ints:
            out[prop] = _int(value, prop)
        elif prop in kind.floats:
            out[prop] = _float(value, prop)
        elif prop in kind.bools:
            out[prop] = _bool(value, prop)
        elif prop in kind.dates:
            out[prop] = parse_datetime(value, prop)
        elif prop in kind.enums:
            out[prop] = _enum(value, prop, kind.enums[prop])
        elif prop in kind.elements:
            out[prop] = _elements(value, prop)
        elif prop in kind.string_lists:
            if value is None:
                out[prop] = []
            elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_request(f"{prop}: expected an array of strings")
            else:
                out[prop] = list(value)
        elif prop in kind.refs:
            out[prop] = _ref(customer, kind.refs[prop], value, prop)
        elif prop == "Address" and kind.has_address:
            out["Address"] = _address(value, out["Address"])
        elif prop in ("CustomFields", "UserDefinedFields"):
            _custom_fields(customer, kind, out, value, prop, overlong)
        elif prop == "ExtraFields" and value is not None and not isinstance(value, dict):
            raise bad_request("ExtraFields: expected an object of strings")
    return out


def validate_record(customer: Customer, kind: Kind, rec: dict[str, Any]) -> None:
    """Cross-field rules the API enforces on save."""
    if kind.key == "person" and not rec["Contact"]:
        raise bad_request("Person.Contact: a person must belong to a company (Contact.ContactId)")
    if kind.key == "sale":
        if not rec["Contact"] and not rec["Person"]:
            raise bad_request("Sale.Contact: a sale needs a company or a person")
        if rec["Person"]:
            person = customer.records["person"].get(rec["Person"])
            if person is not None and rec["Contact"] and person["Contact"] != rec["Contact"]:
                raise bad_request(
                    f"Sale.Person: person {rec['Person']} does not belong to company {rec['Contact']}"
                )
            if person is not None and not rec["Contact"]:
                rec["Contact"] = person["Contact"]
        if rec["Rating"] and not rec["Probability"]:
            rec["Probability"] = SALE_STAGES[rec["Rating"]][1]
    if kind.key == "appointment" and not (rec["Contact"] or rec["Person"] or rec["Associate"]):
        raise bad_request("Appointment: needs a Contact, Person or Associate")
    for f in customer.udefs[kind.key]:
        if f.is_mandatory and rec["CustomFields"].get(f.prog_id, udef.empty_value(f)) in ("", 0, None, False):
            raise bad_request(f"CustomFields[{f.prog_id!r}] ({f.label}) is mandatory")


def _text(value: Any, prop: str, max_len: int, overlong: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(f"{prop}: expected a string, got {type(value).__name__}")
    text = str(value)
    if len(text) > max_len:
        if overlong == "reject":
            raise bad_request(f"{prop}: {len(text)} characters, the field holds at most {max_len}")
        text = text[:max_len]
    return text


def _int(value: Any, prop: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{prop}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if value is None:
        return 0
    raise bad_request(f"{prop}: expected an integer, got {value!r}")


def _float(value: Any, prop: str) -> float:
    if isinstance(value, bool):
        raise bad_request(f"{prop}: expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if value is None:
        return 0.0
    raise bad_request(f"{prop}: expected a number, got {value!r}")


def _bool(value: Any, prop: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"{prop}: expected true or false, got {value!r}")


def _enum(value: Any, prop: str, allowed: tuple[str, ...]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if prop == "Status" and "Sold" in allowed:  # sale status numbers are not list positions
            by_number = {v: k for k, v in SALE_STATUS_NUMBER.items()}
            if value in by_number:
                return by_number[value]
        elif 0 <= value < len(allowed):
            return allowed[value]
    if isinstance(value, str):
        for option in allowed:
            if option.lower() == value.lower():
                return option
    raise bad_request(f"{prop}: {value!r} is not one of {', '.join(allowed)}")


def _elements(value: Any, prop: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"{prop}: expected an array of {{Value, Description}} objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("Value", ""), str):
            raise bad_request(f"{prop}[{i}]: expected an object with a string Value")
        description = item.get("Description") or ""
        if not isinstance(description, str):
            raise bad_request(f"{prop}[{i}].Description: expected a string")
        if item.get("Value"):
            out.append({"Value": item["Value"], "Description": description})
    return out


def _ref(customer: Customer, ref_kind: str, value: Any, prop: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, dict):
        raise bad_request(f"{prop}: expected an object like {{\"{REF_KEYS.get(ref_kind, 'Id')}\": 1}}")
    key = REF_KEYS.get(ref_kind, "Id")
    raw = value.get(key, value.get("Id") if key != "Id" else None)
    if raw in (None, "", 0, "0"):
        return 0
    ident = _int(raw, f"{prop}.{key}")
    exists = True
    if ref_kind == "associate":
        exists = ident in customer.users
    elif ref_kind in ("contact", "person", "sale"):
        rec = customer.records[ref_kind].get(ident)
        exists = rec is not None and rec.get("DeletedDate") is None
    elif ref_kind == "country":
        exists = ident in COUNTRIES
    elif ref_kind in LISTS:
        exists = ident in LISTS[ref_kind]
    if not exists:
        raise bad_request(f"{prop}.{key}: {ident} does not exist")
    return ident


def _address(value: Any, current: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return current
    if not isinstance(value, dict):
        raise bad_request("Address: expected an object with Street and/or Postal")
    out = copy.deepcopy(current)
    for part in ("Street", "Postal"):
        given = value.get(part)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise bad_request(f"Address.{part}: expected an object")
        for key in ADDRESS_PARTS:
            if key in given:
                v = given[key]
                if v is not None and not isinstance(v, str):
                    raise bad_request(f"Address.{part}.{key}: expected a string")
                out[part][key] = (v or "")[:255]
    return out


def _custom_fields(
    customer: Customer, kind: Kind, rec: dict[str, Any], value: Any, prop: str, overlong: str
) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad_request(f"{prop}: expected an object of ProgId -> string")
    for key, raw in value.items():
        if key.endswith((":DisplayText", ":DisplayTooltip")):
            continue
        f = customer.udef(kind.key, key) if ":" in key or not key.startswith("x_") else None
        if f is None or f.label.lower() == key.lower():
            continue  # unknown ProgIds are ignored on write, as the real API does
        if f.is_read_only:
            continue
        rec["CustomFields"][f.prog_id] = udef.decode(f, raw, overlong=overlong)


# --- rendering -----------------------------------------------------------------------------------------------------

_SPEC_TO_DOTNET = {"string": "System.String", "integer": "System.Int32", "number": "System.Double",
                   "boolean": "System.Boolean"}


class Renderer:
    def __init__(self, spec: SpecIndex) -> None:
        self.spec = spec
        # Per carrier, (name, .NET type) of its spec properties: the same for every record, and looking them up in
        # the spec for every rendered entity was most of a render's time (the demo seeding renders ~900 of them).
        self._standard_fields: dict[str, tuple[tuple[str, str], ...]] = {}

    def links(self, base: str, kind: Kind, ident: int) -> dict[str, str]:
        root = f"{base}/api/v1/{kind.name}"
        return {
            "Self": f"{root}/{ident}",
            "Self.Simple": f"{root}/{ident}/Simple",
            "UdefLayout": f"{root}/UdefLayout/Published",
            "Archive": f"{root}/",
        }

    def entity(self, customer: Customer, kind: Kind, rec: dict[str, Any], base: str | None) -> dict[str, Any]:
        """The full `{Kind}Entity` (or `...WithLinks` when `base` is given) carrier for a stored record."""
        out = self.spec.carrier_template(kind.with_links if base is not None else kind.carrier)
        ident = rec[kind.id_field]
        out[kind.id_field] = ident
        for name in (*kind.texts, *kind.ints, *kind.floats, *kind.bools, *kind.enums, *kind.string_lists):
            if name in out:
                out[name] = copy.deepcopy(rec[name])
        for name in kind.dates:
            out[name] = fmt_datetime(rec[name])
        for name in kind.elements:
            out[name] = [self.element(e) for e in rec[name]]
        for name, ref_kind in kind.refs.items():
            out[name] = self.ref(customer, ref_kind, rec[name])
        out["CreatedDate"] = fmt_datetime(rec["CreatedDate"], utc=True)
        out["UpdatedDate"] = fmt_datetime(rec["UpdatedDate"], utc=True)
        out["CreatedBy"] = self.ref(customer, "associate", rec["CreatedBy"])
        out["UpdatedBy"] = self.ref(customer, "associate", rec["UpdatedBy"])
        if kind.has_address:
            out["Address"] = self.address(rec["Address"], kind.key)
        cf = udef.custom_fields(customer.udefs[kind.key], rec["CustomFields"])
        out["CustomFields"] = cf
        out["UserDefinedFields"] = dict(cf)
        out["ExtraFields"] = {}
        if kind.key == "contact":
            persons = (customer.records["person"][p] for p in sorted(customer.persons_by_contact.get(ident, ())))
            out["Persons"] = [self.simple_person(customer, p) for p in persons if p["DeletedDate"] is None]
        if kind.key == "person":
            out["FullName"] = full_name(rec)
            out["FormalName"] = full_name(rec)
        if kind.key == "sale" and rec["Rating"]:
            out["Probability"] = rec["Probability"]
        if kind.key == "sale":
            out["PublishTo"] = "9999-12-31T23:59:59.9999999"
        out["TableRight"] = {"Mask": "Delete, Filtering, Read, Update, Insert", "Reason": ""}
        out["FieldProperties"] = self.field_properties(customer, kind)
        if base is not None:
            out["_Links"] = self.links(base, kind, ident)
        return out

    def field_properties(self, customer: Customer, kind: Kind) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: {"FieldRight": {"Mask": "FULL", "Reason": ""}, "FieldType": dotnet,
                   "FieldLength": kind.texts.get(name, 0)}
            for name, dotnet in self._standard_field_types(kind.carrier)
        }  # fmt: skip
        for f in customer.udefs[kind.key]:
            out[f"UserDefinedFields.{f.prog_id}"] = {
                "FieldRight": {"Mask": "READ" if f.is_read_only else "FULL", "Reason": ""},
                "FieldType": udef.DOTNET_TYPE[f.field_type],
                "FieldLength": f.text_length if f.field_type in ("ShortText", "LongText") else 0,
            }
        return out

    def _standard_field_types(self, carrier: str) -> tuple[tuple[str, str], ...]:
        known = self._standard_fields.get(carrier)
        if known is None:
            props = self.spec.definition_properties(carrier)
            known = tuple((name, _dotnet_type(prop)) for name, prop in props.items()
                          if name not in ("TableRight", "FieldProperties"))  # fmt: skip
            self._standard_fields[carrier] = known
        return known

    def element(self, e: dict[str, str]) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.EntityElement")
        out.update(Value=e["Value"], StrippedValue=stripped(e["Value"]), Description=e["Description"])
        out["TableRight"] = None
        return out

    def address(self, stored: dict[str, Any], owner: str) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Address")
        for part, atype in (("Street", "StreetAddress"), ("Postal", "PostalAddress")):
            s = self.spec.carrier_template("SuperOffice.CRM.Services.StructuredAddress")
            s.update(stored[part])
            s["AtypeIdx"] = ("Contact" if owner == "contact" else "Person") + atype
            if owner != "contact":
                s["AtypeIdx"] = "PersonPrivateAddress"
            s["Formatted"] = _format_address(stored[part])
            out[part] = s
        out["Formatted"] = out["Postal"]["Formatted"] or out["Street"]["Formatted"]
        out["LocalizedAddress"] = []
        out["TableRight"] = None
        return out

    def ref(self, customer: Customer, ref_kind: str, ident: int) -> dict[str, Any] | None:
        if not ident:
            return None
        if ref_kind == "associate":
            user = customer.users.get(ident)
            return self.associate(user) if user else None
        if ref_kind == "contact":
            rec = customer.records["contact"].get(ident)
            return self.simple_contact(customer, rec) if rec else None
        if ref_kind == "person":
            rec = customer.records["person"].get(ident)
            return self.simple_person(customer, rec) if rec else None
        if ref_kind == "sale":
            rec = customer.records["sale"].get(ident)
            return self.simple_sale(customer, rec) if rec else None
        if ref_kind == "country":
            out = self.spec.carrier_template("SuperOffice.CRM.Services.Country")
            out.update(COUNTRIES[ident], CountryId=ident)
            out.pop("DialInPrefix", None)
            out["DialInPrefix"] = COUNTRIES[ident]["DialInPrefix"]
            out["TableRight"] = None
            return out
        if ref_kind == "task":
            out = self.spec.carrier_template("SuperOffice.CRM.Services.TaskListItem")
            out.update(TaskListItemId=ident, Value=LISTS["task"][ident], Direction="Unknown", Type="Appointment",
                       ColorIndex="LightBlue", DefaultVideomeetingStatus="NoChange")
            out["TableRight"] = None
            return out
        carrier = {"business": "Business", "category": "Category", "position": "Position", "rating": "Rating",
                   "saletype": "SaleType", "currency": "Currency", "source": "Source", "reason": "Reason",
                   "reasonsold": "ReasonSold", "reasonstalled": "ReasonStalled", "competitor": "Competitor",
                   "credited": "Credited", "priority": "Priority"}[ref_kind]
        out = self.spec.carrier_template(f"SuperOffice.CRM.Services.{carrier}")
        value = LISTS[ref_kind].get(ident, "")
        if "Id" in out:
            out["Id"] = ident
        for name_prop in ("Value", "Name"):
            if name_prop in out:
                out[name_prop] = value
        if ref_kind == "category":
            out["CategoryGroup"] = CATEGORY_GROUP.get(ident, "Other")
        out["TableRight"] = None
        return out

    def associate(self, user: User) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Associate")
        out.update(AssociateId=user.associate_id, Name=user.initials, PersonId=user.person_id,
                   Type="InternalAssociate", FullName=user.full_name, FormalName=user.full_name,
                   UserName=user.email, EjUserId=0)
        out["TableRight"] = None
        return out

    def simple_contact(self, customer: Customer, rec: dict[str, Any]) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Contact")
        out.update(ContactId=rec["ContactId"], Name=rec["Name"], OrgNr=rec["OrgNr"], Department=rec["Department"],
                   Number1=rec["Number1"], Number2=rec["Number2"], AssociateId=rec["Associate"],
                   CountryId=rec["Country"], FullName=rec["Name"],
                   URL=rec["Urls"][0]["Value"] if rec["Urls"] else "",
                   EmailAddress=rec["Emails"][0]["Value"] if rec["Emails"] else "",
                   DirectPhone=rec["Phones"][0]["Value"] if rec["Phones"] else "",
                   City=rec["Address"]["Postal"]["City"] or rec["Address"]["Street"]["City"],
                   CategoryName=LISTS["category"].get(rec["Category"], ""),
                   BusinessName=LISTS["business"].get(rec["Business"], ""),
                   CountryName=COUNTRIES.get(rec["Country"], {}).get("Name", ""))
        user = customer.users.get(rec["Associate"])
        out["AssociateFullName"] = user.full_name if user else ""
        out["Address"] = self.address(rec["Address"], "contact")
        out["TableRight"] = None
        return out

    def simple_person(self, customer: Customer, rec: dict[str, Any]) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Person")
        contact = customer.records["contact"].get(rec["Contact"])
        out.update(PersonId=rec["PersonId"], Firstname=rec["Firstname"], Lastname=rec["Lastname"],
                   MiddleName=rec["MiddleName"], Title=rec["Title"], Mrmrs=rec["Mrmrs"], FullName=full_name(rec),
                   FormalName=full_name(rec), ContactId=rec["Contact"], Retired=1 if rec["Retired"] else 0,
                   Email=rec["Emails"][0]["Value"] if rec["Emails"] else "",
                   DirectPhone=rec["OfficePhones"][0]["Value"] if rec["OfficePhones"] else "",
                   MobilePhone=rec["MobilePhones"][0]["Value"] if rec["MobilePhones"] else "",
                   Position=LISTS["position"].get(rec["Position"], ""), CountryId=rec["Country"],
                   AssociateId=rec["Associate"], PersonNumber=rec["PersonNumber"])
        if contact:
            out.update(ContactName=contact["Name"], ContactDepartment=contact["Department"],
                       ContactOrgNr=contact["OrgNr"], ContactCountryId=contact["Country"],
                       ContactFullName=contact["Name"])
        out["TableRight"] = None
        return out

    def simple_sale(self, customer: Customer, rec: dict[str, Any]) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Sale")
        contact = customer.records["contact"].get(rec["Contact"])
        person = customer.records["person"].get(rec["Person"])
        out.update(SaleId=rec["SaleId"], Title=rec["Heading"], Amount=rec["Amount"], Status=rec["Status"],
                   Probability=rec["Probability"], SaleDate=fmt_datetime(rec["Saledate"]),
                   ContactId=rec["Contact"], PersonId=rec["Person"], AssociateId=rec["Associate"],
                   ContactName=contact["Name"] if contact else "", PersonFullName=full_name(person) if person else "",
                   Description=rec["SaleText"], Number=rec["Number"], Completed=rec["Completed"],
                   SaleTypeId=rec["SaleType"], SaleTypeName=LISTS["saletype"].get(rec["SaleType"], ""),
                   Currency=LISTS["currency"].get(rec["Currency"], ""),
                   WeightedAmount=rec["Amount"] * rec["Probability"] / 100.0,
                   NextDueDate=fmt_datetime(rec["NextDueDate"]), Earning=rec["Earning"],
                   EarningPercent=rec["EarningPercent"])
        out["TableRight"] = None
        return out

    def simple_appointment(self, customer: Customer, rec: dict[str, Any]) -> dict[str, Any]:
        out = self.spec.carrier_template("SuperOffice.CRM.Services.Appointment")
        contact = customer.records["contact"].get(rec["Contact"])
        out.update(AppointmentId=rec["AppointmentId"], StartDate=fmt_datetime(rec["StartDate"]),
                   EndDate=fmt_datetime(rec["EndDate"]), Type=rec["Type"], Description=rec["Description"],
                   Title=rec["Title"], ContactId=rec["Contact"], PersonId=rec["Person"], SaleId=rec["Sale"],
                   AssociateId=rec["Associate"], ContactName=contact["Name"] if contact else "",
                   Completed=rec["Completed"], Private=rec["Private"], Location=rec["Location"],
                   Task=LISTS["task"].get(rec["Task"], ""), TaskId=rec["Task"],
                   CreatedDate=fmt_datetime(rec["CreatedDate"], utc=True))
        out["TableRight"] = None
        return out

    def simple(self, customer: Customer, kind: Kind, rec: dict[str, Any]) -> dict[str, Any]:
        renderer = {"contact": self.simple_contact, "person": self.simple_person, "sale": self.simple_sale,
                    "appointment": self.simple_appointment}[kind.key]
        out = renderer(customer, rec)
        out["TableRight"] = {"Mask": "Delete, Filtering, Read, Update, Insert", "Reason": ""}
        return out


def full_name(rec: dict[str, Any]) -> str:
    return " ".join(p for p in (rec.get("Firstname"), rec.get("MiddleName"), rec.get("Lastname")) if p)


def stripped(value: str) -> str:
    """StrippedValue: phone numbers without formatting; other values unchanged."""
    if value and all(c.isdigit() or c in " +-()./" for c in value):
        return "".join(c for c in value if c.isdigit() or c == "+")
    return value


def _format_address(part: dict[str, Any]) -> str:
    lines = [part.get("Address1"), part.get("Address2"), part.get("Address3"),
             " ".join(x for x in (part.get("Zipcode"), part.get("City")) if x)]
    return "\n".join(line for line in lines if line)


def _dotnet_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    kind = prop.get("type", "")
    if kind == "string" and prop.get("format") == "date-time":
        return "System.DateTime"
    if kind == "array":
        items = prop.get("items", {})
        inner = items["$ref"].rsplit("/", 1)[-1] if "$ref" in items else _SPEC_TO_DOTNET.get(items.get("type"), "")
        return inner + "[]"
    if kind == "object":
        return "System.Collections.Generic.Dictionary`2"
    return _SPEC_TO_DOTNET.get(kind, "System.Object")


def db_values(customer: Customer, kind: Kind, rec: dict[str, Any]) -> dict[str, Any]:
    """The root-table columns a webhook reports in `FieldValues` (DB column names, ids and numbers)."""
    out: dict[str, Any] = {}
    for column, prop in kind.columns.items():
        value: Any = rec.get(prop)
        if prop in ("CreatedDate", "UpdatedDate") or prop in kind.dates:
            value = fmt_datetime(value)
        elif prop == "Status" and kind.key == "sale":
            value = SALE_STATUS_NUMBER.get(value, 0)
        elif prop in kind.enums:
            value = kind.enums[prop].index(value) if value in kind.enums[prop] else 0
        elif isinstance(value, bool):
            value = 1 if value else 0
        out[column] = value
    if kind.key == "contact":
        out["DeletedDate"] = fmt_datetime(rec.get("DeletedDate"))
    return out
