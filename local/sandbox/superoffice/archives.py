"""Archive providers over a customer's records: SimpleContact (`/Contact`), Person (`/Person`), FindSale (`/Sale`),
appointments, favourites and selection members. Column names follow SOD `archive-providers/reference/*.md`."""

from __future__ import annotations

from typing import Any

from local.sandbox.superoffice import udef
from local.sandbox.superoffice.entities import COUNTRIES, LISTS, SALE_STATUS_NUMBER, full_name
from local.sandbox.superoffice.model import Customer, bad_request
from local.sandbox.superoffice.odata import Column, Provider


def _first(rec: dict[str, Any], prop: str) -> str:
    items = rec.get(prop) or []
    return items[0]["Value"] if items else ""


def _user_name(customer: Customer):  # type: ignore[no-untyped-def]
    """The display text of an associate column (the user's full name) for the associate id in `prop`."""
    def of(prop: str):  # type: ignore[no-untyped-def]
        def name(r: dict[str, Any]) -> str:
            u = customer.users.get(r[prop])
            return u.full_name if u else ""
        return name
    return of


def _udef_columns(customer: Customer, kind: str, prefix: str):  # type: ignore[no-untyped-def]
    def dynamic(name: str) -> Column | None:
        head, sep, key = name.partition("/")
        if not sep or head.lower() != prefix.lower():
            return None
        f = customer.udef(kind, key)
        if f is None or (f.label.lower() == key.lower() and key.lower() not in (f.prog_id.lower(),)):
            return None
        col_type = {"Number": "int", "Decimal": "float", "Checkbox": "bool", "List": "list", "Date": "date",
                    "UnlimitedDate": "date"}.get(f.field_type, "string")
        field = f  # not Optional: the closures below keep this type

        def value(row: dict[str, Any]) -> Any:
            return row["CustomFields"].get(field.prog_id, udef.empty_value(field))

        def shown(row: dict[str, Any]) -> Any:
            return udef.display(field, row["CustomFields"].get(field.prog_id, 0))

        return Column(name, col_type, value, shown if col_type == "list" else None)

    return dynamic


def contact_provider(customer: Customer, name: str = "SimpleContact") -> Provider:
    user_name_of = _user_name(customer)
    user_name = user_name_of("Associate")

    cols = [
        Column("contactId", "int", lambda r: r["ContactId"]),
        Column("name", "string", lambda r: r["Name"]),
        Column("department", "string", lambda r: r["Department"]),
        Column("nameDepartment", "string", lambda r: " ".join(x for x in (r["Name"], r["Department"]) if x)),
        Column("orgnr", "string", lambda r: r["OrgNr"]),
        Column("number", "string", lambda r: r["Number2"]),
        Column("code", "string", lambda r: r["Number1"]),
        Column("associateId", "list", lambda r: r["Associate"], user_name),
        Column("category", "list", lambda r: r["Category"], lambda r: LISTS["category"].get(r["Category"], "")),
        Column("business", "list", lambda r: r["Business"], lambda r: LISTS["business"].get(r["Business"], "")),
        Column("country", "list", lambda r: r["Country"],
               lambda r: COUNTRIES.get(r["Country"], {}).get("Name", "")),
        Column("countryId", "int", lambda r: r["Country"]),
        Column("updatedDate", "datetime", lambda r: r["UpdatedDate"]),
        Column("registeredDate", "datetime", lambda r: r["CreatedDate"]),
        Column("deletedDate", "datetime", lambda r: r["DeletedDate"]),
        Column("email", "string", lambda r: _first(r, "Emails")),
        Column("emailAddress", "string", lambda r: _first(r, "Emails")),
        Column("url", "string", lambda r: _first(r, "Urls")),
        Column("URLAddress", "string", lambda r: _first(r, "Urls")),
        Column("phone", "string", lambda r: _first(r, "Phones")),
        Column("phone/formattedNumber", "string", lambda r: _first(r, "Phones")),
        Column("stop", "bool", lambda r: r["Xstop"]),
        Column("contactNoMail", "bool", lambda r: r["NoMailing"]),
        Column("updatedBy", "list", lambda r: r["UpdatedBy"], user_name_of("UpdatedBy")),
        Column("registeredBy", "list", lambda r: r["CreatedBy"], user_name_of("CreatedBy")),
        Column("email/emailAddress", "string", lambda r: _first(r, "Emails")),
        Column("url/URLAddress", "string", lambda r: _first(r, "Urls")),
        Column("postAddress/line1", "string", lambda r: r["Address"]["Postal"]["Address1"]),
        Column("streetAddress/line1", "string", lambda r: r["Address"]["Street"]["Address1"]),
        Column("postAddress/addressLine1", "string", lambda r: r["Address"]["Postal"]["Address1"]),
        Column("postAddress/city", "string", lambda r: r["Address"]["Postal"]["City"]),
        Column("postAddress/zip", "string", lambda r: r["Address"]["Postal"]["Zipcode"]),
        Column("streetAddress/addressLine1", "string", lambda r: r["Address"]["Street"]["Address1"]),
        Column("streetAddress/city", "string", lambda r: r["Address"]["Street"]["City"]),
        Column("streetAddress/zip", "string", lambda r: r["Address"]["Street"]["Zipcode"]),
    ]
    return Provider(name, "contact", "contactId", cols, _udef_columns(customer, "contact", "contactUdef"))


def person_provider(customer: Customer, name: str = "Person") -> Provider:
    user_name_of = _user_name(customer)

    def contact_name(r: dict[str, Any]) -> str:
        c = customer.records["contact"].get(r["Contact"])
        return c["Name"] if c else ""

    cols = [
        Column("personId", "int", lambda r: r["PersonId"]),
        Column("firstName", "string", lambda r: r["Firstname"]),
        Column("middleName", "string", lambda r: r["MiddleName"]),
        Column("lastName", "string", lambda r: r["Lastname"]),
        Column("fullName", "string", full_name),
        Column("title", "string", lambda r: r["Title"]),
        Column("mrMrs", "string", lambda r: r["Mrmrs"]),
        Column("position", "list", lambda r: r["Position"], lambda r: LISTS["position"].get(r["Position"], "")),
        Column("contactId", "int", lambda r: r["Contact"]),
        Column("contactName", "string", contact_name),
        Column("personUpdatedDate", "datetime", lambda r: r["UpdatedDate"]),
        Column("personRegisteredDate", "datetime", lambda r: r["CreatedDate"]),
        Column("updatedDate", "datetime", lambda r: r["UpdatedDate"]),
        Column("registeredDate", "datetime", lambda r: r["CreatedDate"]),
        Column("deletedDate", "datetime", lambda r: r["DeletedDate"]),
        Column("email", "string", lambda r: _first(r, "Emails")),
        Column("emailAddress", "string", lambda r: _first(r, "Emails")),
        Column("personDirectPhone", "string", lambda r: _first(r, "OfficePhones")),
        Column("personMobilePhone", "string", lambda r: _first(r, "MobilePhones")),
        Column("retired", "bool", lambda r: r["Retired"]),
        Column("associateId", "list", lambda r: r["Associate"], user_name_of("Associate")),
        Column("personAssociateId", "list", lambda r: r["Associate"], user_name_of("Associate")),
        Column("personUpdatedBy", "list", lambda r: r["UpdatedBy"], user_name_of("UpdatedBy")),
        Column("personRegisteredBy", "list", lambda r: r["CreatedBy"], user_name_of("CreatedBy")),
        Column("personNoMail", "bool", lambda r: r["NoMailing"]),
        Column("personCountryId", "int", lambda r: r["Country"]),
        Column("personInfo/infoText", "string", lambda r: r["Description"]),
        Column("email/emailAddress", "string", lambda r: _first(r, "Emails")),
        Column("personDirectPhone/formattedNumber", "string", lambda r: _first(r, "OfficePhones")),
        Column("personMobilePhone/formattedNumber", "string", lambda r: _first(r, "MobilePhones")),
    ]
    return Provider(name, "person", "personId", cols, _udef_columns(customer, "person", "personUdef"))


def sale_provider(customer: Customer, name: str = "FindSale") -> Provider:
    user_name_of = _user_name(customer)
    cols = [
        Column("saleId", "int", lambda r: r["SaleId"]),
        Column("heading", "string", lambda r: r["Heading"]),
        Column("amount", "float", lambda r: r["Amount"]),
        Column("status", "list", lambda r: SALE_STATUS_NUMBER.get(r["Status"], 0), lambda r: r["Status"]),
        Column("saleStatus", "list", lambda r: SALE_STATUS_NUMBER.get(r["Status"], 0), lambda r: r["Status"]),
        Column("probPercent", "int", lambda r: r["Probability"]),
        Column("stage", "list", lambda r: r["Rating"], lambda r: LISTS["rating"].get(r["Rating"], "")),
        Column("saleTypeId", "list", lambda r: r["SaleType"], lambda r: LISTS["saletype"].get(r["SaleType"], "")),
        Column("contactId", "int", lambda r: r["Contact"]),
        Column("personId", "int", lambda r: r["Person"]),
        Column("associateId", "list", lambda r: r["Associate"], user_name_of("Associate")),
        Column("updatedBy", "list", lambda r: r["UpdatedBy"], user_name_of("UpdatedBy")),
        Column("registeredBy", "list", lambda r: r["CreatedBy"], user_name_of("CreatedBy")),
        Column("earning", "float", lambda r: r["Earning"]),
        Column("saleType", "list", lambda r: r["SaleType"], lambda r: LISTS["saletype"].get(r["SaleType"], "")),
        Column("saleNumber", "string", lambda r: r["Number"]),
        Column("sale/description", "string", lambda r: r["SaleText"]),
        Column("description", "string", lambda r: r["SaleText"]),
        Column("saleDate", "datetime", lambda r: r["Saledate"]),
        Column("date", "datetime", lambda r: r["Saledate"]),
        Column("updatedDate", "datetime", lambda r: r["UpdatedDate"]),
        Column("registeredDate", "datetime", lambda r: r["CreatedDate"]),
        Column("number", "string", lambda r: r["Number"]),
    ]
    return Provider(name, "sale", "saleId", cols, _udef_columns(customer, "sale", "saleUdef"))


def appointment_provider(customer: Customer, name: str = "Appointment") -> Provider:
    cols = [
        Column("appointmentId", "int", lambda r: r["AppointmentId"]),
        Column("title", "string", lambda r: r["Title"]),
        Column("description", "string", lambda r: r["Description"]),
        Column("type", "string", lambda r: r["Type"]),
        Column("completed", "string", lambda r: r["Completed"]),
        Column("contactId", "int", lambda r: r["Contact"]),
        Column("personId", "int", lambda r: r["Person"]),
        Column("saleId", "int", lambda r: r["Sale"]),
        Column("associateId", "list", lambda r: r["Associate"]),
        Column("date", "datetime", lambda r: r["StartDate"]),
        Column("endDate", "datetime", lambda r: r["EndDate"]),
        Column("updatedDate", "datetime", lambda r: r["UpdatedDate"]),
        Column("registeredDate", "datetime", lambda r: r["CreatedDate"]),
    ]
    return Provider(name, "appointment", "appointmentId", cols,
                    _udef_columns(customer, "appointment", "appointmentUdef"))


def selection_provider(name: str = "FindSelection") -> Provider:
    """`GET /api/v1/Selection` (the FindSelection archive). The column names are the SelectionEntity's in camel case
    (`selectionId`, `name`, `targetTableName`, `selectionType`, `memberCount`): unconfirmed against a live tenant."""
    cols = [
        Column("selectionId", "int", lambda r: r["SelectionId"]),
        Column("name", "string", lambda r: r["Name"]),
        Column("targetTableName", "string", lambda r: r["TargetTableName"]),
        Column("selectionType", "string", lambda r: r["SelectionType"]),
        Column("memberCount", "int", lambda r: r["MemberCount"]),
    ]
    return Provider(name, "selection", "selectionId", cols)


def selection_rows(customer: Customer) -> list[dict[str, Any]]:
    return [
        {"SelectionId": s.selection_id, "Name": s.name, "TargetTableName": s.target, "SelectionType": "Static",
         "MemberCount": len(s.member_ids)}
        for s in customer.selections.values()
    ]


def live(customer: Customer, kind: str, include_deleted: bool = False) -> list[dict[str, Any]]:
    return [r for r in customer.records[kind].values() if include_deleted or r["DeletedDate"] is None]


def archive(customer: Customer, provider_name: str, associate_id: int) -> tuple[Provider, list[dict[str, Any]]]:
    """The provider and source rows for `GET /Archive/{provider}` (names are case-insensitive)."""
    name = provider_name.lower()
    if name in ("simplecontact", "contact", "findcontact"):
        return contact_provider(customer, provider_name), live(customer, "contact")
    if name in ("person", "simpleperson", "findperson"):
        return person_provider(customer, provider_name), live(customer, "person")
    if name in ("findsale", "sale", "simplesale"):
        return sale_provider(customer, provider_name), live(customer, "sale")
    if name in ("appointment", "simpleappointment", "findappointment"):
        return appointment_provider(customer, provider_name), live(customer, "appointment")
    if name in ("contactfavourites", "personfavourites", "salefavourites"):
        kind = name.removesuffix("favourites")
        ids = set(customer.favourites.get(associate_id, {}).get(kind, []))
        rows = [r for r in live(customer, kind) if r[f"{kind.capitalize()}Id"] in ids]
        builder = {"contact": contact_provider, "person": person_provider, "sale": sale_provider}[kind]
        return builder(customer, provider_name), rows
    raise bad_request(f"Unknown archive provider {provider_name!r}")
