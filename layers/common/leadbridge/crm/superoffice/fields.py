"""The flat field names leadbridge uses for SuperOffice entities, and the custom-field value encodings.

Standard fields (the names `Connector.fields()` lists and `CrmRecord.fields` carries):

- company (Contact): Name, Department, OrgNr, Number1, Number2, Description, Url, Email, Phone, Domain (read-only),
  CountryId, Country (ISO code, read-only), StreetAddress, StreetZipcode, StreetCity, PostalAddress, Zipcode, City,
  Category, Business, Owner, NoMailing
- person (Person): Firstname, MiddleName, Lastname, Title, Mrmrs, Email, OfficePhone, MobilePhone, Description,
  Position, Retired, NoMailing, CountryId, Owner
- deal (Sale): Heading, Amount, Earning, Status, Stage, Saledate, Probability, Owner, SaleType, Description, Number
- activity (Appointment): Title, Description, StartDate, EndDate, Type, Completed (bool), Owner, Location, Task,
  Private

`Owner` is the associate id. Picklist fields (`Category`, `Business`, `Position`, `Stage`, `SaleType`, `Task`) carry
the list item id as a string. Company/person/deal relations are not fields: they are `CrmRecord.parent_id`
(the company) and `person_id`.

Lengths are SuperOffice database column lengths (SOD `en/database/tables/*.mdx`) where documented; the tenant's
`FieldProperties[...].FieldLength` from `GET /{Entity}/default` overrides them when present (it is authoritative).

Custom fields are keyed by their prog id (udef, e.g. `SuperOffice:3`, `RabitIQ:1`) or DB name (extra field `x_...`).
Their values travel as strings in `CustomFields`, encoded by the field's type (SOD `encoded-values.md`): list `[I:8]`,
number `[I:42]`, checkbox `[I:1]`, decimal `[F:12.5]`, date `[D:MM/DD/YYYY]`, datetime `[DT:MM/DD/YYYY HH:MM:SS]`,
text plain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from leadbridge.models.crm import CrmObject, FieldType, StageKind

# --- standard fields -----------------------------------------------------------------------------------------------


class Kind(StrEnum):
    SCALAR = "scalar"  # entity[path[0]]
    NESTED = "nested"  # entity[path[0]][path[1]]...; written by replacing the object at path[:-1] as a whole
    ELEMENT = "element"  # the first EntityElement's Value in the list at path[0] (Emails, Phones, Urls, ...)
    FIRST = "first"  # the first string in the list at path[0] (Domains)
    REF = "ref"  # {path[1]: id} at path[0] (Category/Id, Associate/AssociateId, Country/CountryId)
    COMPLETED = "completed"  # appointment Completed enum as a boolean


@dataclass(frozen=True)
class StdField:
    name: str
    label: str
    type: FieldType
    path: tuple[str, ...]
    kind: Kind = Kind.SCALAR
    length: int | None = None
    updateable: bool = True
    required: bool = False
    picklist: tuple[str, ...] = ()  # fixed enum values (Sale Status, Appointment Type)


def _std(*fields: StdField) -> dict[str, StdField]:
    return {f.name: f for f in fields}


F = FieldType
ADDRESS_LINE = 79  # SuperOffice address.address1..3 (best knowledge; FieldProperties override when given)

COMPANY_FIELDS = _std(
    StdField("Name", "Name", F.STRING, ("Name",), length=219, required=True),
    StdField("Department", "Department", F.STRING, ("Department",), length=219),
    StdField("OrgNr", "Organisation number", F.STRING, ("OrgNr",), length=49),
    StdField("Number1", "Number 1", F.STRING, ("Number1",), length=49),
    StdField("Number2", "Number 2", F.STRING, ("Number2",), length=49),
    StdField("Description", "Description", F.TEXT, ("Description",), length=2000),
    StdField("Url", "Web address", F.URL, ("Urls",), Kind.ELEMENT, length=255),
    StdField("Email", "E-mail", F.EMAIL, ("Emails",), Kind.ELEMENT, length=255),
    StdField("Phone", "Phone", F.PHONE, ("Phones",), Kind.ELEMENT, length=255),
    StdField("Domain", "Domain", F.STRING, ("Domains",), Kind.FIRST, updateable=False),
    StdField("CountryId", "Country", F.REFERENCE, ("Country", "CountryId"), Kind.REF),
    StdField("Country", "Country code", F.COUNTRY, ("Country", "TwoLetterISOCountry"), Kind.NESTED, updateable=False),
    StdField(
        "StreetAddress", "Street address", F.STRING, ("Address", "Street", "Address1"), Kind.NESTED, length=ADDRESS_LINE
    ),
    StdField("StreetZipcode", "Street zip code", F.STRING, ("Address", "Street", "Zipcode"), Kind.NESTED, length=19),
    StdField("StreetCity", "Street city", F.STRING, ("Address", "Street", "City"), Kind.NESTED, length=59),
    StdField(
        "PostalAddress", "Postal address", F.STRING, ("Address", "Postal", "Address1"), Kind.NESTED, length=ADDRESS_LINE
    ),
    StdField("Zipcode", "Postal zip code", F.STRING, ("Address", "Postal", "Zipcode"), Kind.NESTED, length=19),
    StdField("City", "Postal city", F.STRING, ("Address", "Postal", "City"), Kind.NESTED, length=59),
    StdField("Category", "Category", F.PICKLIST, ("Category", "Id"), Kind.REF),
    StdField("Business", "Business", F.PICKLIST, ("Business", "Id"), Kind.REF),
    StdField("Owner", "Our contact (associate)", F.REFERENCE, ("Associate", "AssociateId"), Kind.REF),
    StdField("NoMailing", "No mailings", F.BOOLEAN, ("NoMailing",)),
)

PERSON_FIELDS = _std(
    StdField("Firstname", "First name", F.STRING, ("Firstname",), length=99),
    StdField("MiddleName", "Middle name", F.STRING, ("MiddleName",), length=99),
    StdField("Lastname", "Last name", F.STRING, ("Lastname",), length=99, required=True),
    StdField("Title", "Title", F.STRING, ("Title",), length=239),
    StdField("Mrmrs", "Mr/Mrs", F.STRING, ("Mrmrs",), length=19),
    StdField("Email", "E-mail", F.EMAIL, ("Emails",), Kind.ELEMENT, length=255),
    StdField("OfficePhone", "Office phone", F.PHONE, ("OfficePhones",), Kind.ELEMENT, length=255),
    StdField("MobilePhone", "Mobile phone", F.PHONE, ("MobilePhones",), Kind.ELEMENT, length=255),
    StdField("Description", "Description", F.TEXT, ("Description",), length=2000),
    StdField("Position", "Position", F.PICKLIST, ("Position", "Id"), Kind.REF),
    StdField("Retired", "Former employee", F.BOOLEAN, ("Retired",)),
    StdField("NoMailing", "No mailings", F.BOOLEAN, ("NoMailing",)),
    StdField("CountryId", "Country", F.REFERENCE, ("Country", "CountryId"), Kind.REF),
    StdField("Owner", "Our contact (associate)", F.REFERENCE, ("Associate", "AssociateId"), Kind.REF),
)

SALE_STATUSES = ("Open", "Sold", "Lost", "Stalled")
STATUS_KINDS = {"Open": StageKind.OPEN, "Sold": StageKind.WON, "Lost": StageKind.LOST, "Stalled": StageKind.STALLED}
DEAL_FIELDS = _std(
    StdField("Heading", "Heading", F.STRING, ("Heading",), length=219, required=True),
    StdField("Amount", "Amount", F.DECIMAL, ("Amount",)),
    StdField("Earning", "Earning", F.DECIMAL, ("Earning",)),
    StdField("Status", "Status", F.PICKLIST, ("Status",), picklist=SALE_STATUSES),
    StdField("Stage", "Sale stage", F.PICKLIST, ("Rating", "Id"), Kind.REF),
    StdField("Saledate", "Sale date", F.DATETIME, ("Saledate",)),
    StdField("Probability", "Probability %", F.INTEGER, ("Probability",)),
    StdField("Owner", "Our contact (associate)", F.REFERENCE, ("Associate", "AssociateId"), Kind.REF),
    StdField("SaleType", "Sale type", F.PICKLIST, ("SaleType", "Id"), Kind.REF),
    StdField("Description", "Description", F.TEXT, ("SaleText",), length=2000),
    StdField("Number", "Number", F.STRING, ("Number",), length=39),
)

APPOINTMENT_TYPES = ("inDiary", "inChecklist", "Note")
ACTIVITY_FIELDS = _std(
    StdField("Title", "Title", F.STRING, ("Title",), length=254),
    StdField("Description", "Description", F.TEXT, ("Description",), length=2000),
    StdField("StartDate", "Start", F.DATETIME, ("StartDate",)),
    StdField("EndDate", "End", F.DATETIME, ("EndDate",)),
    StdField("Type", "Type", F.PICKLIST, ("Type",), picklist=APPOINTMENT_TYPES),
    StdField("Completed", "Completed", F.BOOLEAN, ("Completed",), Kind.COMPLETED),
    StdField("Owner", "Owner (associate)", F.REFERENCE, ("Associate", "AssociateId"), Kind.REF),
    StdField("Location", "Location", F.STRING, ("Location",), length=254),
    StdField("Task", "Task type", F.PICKLIST, ("Task", "TaskListItemId"), Kind.REF),
    StdField("Private", "Visibility", F.PICKLIST, ("Private",), picklist=("Public", "PrivateUser", "PrivateGroup")),
)

STANDARD_FIELDS: dict[CrmObject, dict[str, StdField]] = {
    CrmObject.COMPANY: COMPANY_FIELDS,
    CrmObject.PERSON: PERSON_FIELDS,
    CrmObject.DEAL: DEAL_FIELDS,
    CrmObject.ACTIVITY: ACTIVITY_FIELDS,
}


# --- custom field encodings ----------------------------------------------------------------------------------------

UDEF_TYPES: dict[str, FieldType] = {
    # UserDefinedFieldInfo.FieldType
    "Number": F.INTEGER,
    "ShortText": F.STRING,
    "LongText": F.TEXT,
    "Date": F.DATE,
    "UnlimitedDate": F.DATE,
    "Checkbox": F.BOOLEAN,
    "List": F.PICKLIST,
    "Decimal": F.DECIMAL,
    # FieldInfoBase.FieldType (extra fields)
    "Integer": F.INTEGER,
    "MdoList": F.PICKLIST,
    "ListText": F.STRING,
    "DateTime": F.DATETIME,
}
UDEF_TEXT_LENGTHS = {"ShortText": 39, "LongText": 199}  # SOD custom-objects/learn/udef.mdx

_ENCODED = re.compile(r"^\[(I|F|D|DT|M|T|S):(.*)\]$", re.DOTALL)
EMPTY_DATE = date(1, 1, 1)


class EncodingError(ValueError):
    """A value that cannot be written to a field of that type (message says why)."""


def encode_custom(value: Any, field_type: FieldType, *, date_format: str = "%m/%d/%Y") -> str:
    """A Python value as the string SuperOffice expects in `CustomFields` for a field of `field_type`."""
    if value is None:
        return "" if field_type in (F.STRING, F.TEXT) else _empty_for(field_type, date_format)
    if field_type == F.BOOLEAN:
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "y", "on", "x")
        return f"[I:{1 if value else 0}]"
    if field_type in (F.INTEGER, F.PICKLIST, F.REFERENCE):
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else int(value)
        except ValueError as exc:
            raise EncodingError(f"{value!r} is not a whole number") from exc
        return f"[I:{number}]"
    if field_type == F.DECIMAL:
        try:
            number_f = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
        except ValueError as exc:
            raise EncodingError(f"{value!r} is not a number") from exc
        return f"[F:{_plain_float(number_f)}]"
    if field_type == F.DATE:
        return f"[D:{_as_date(value).strftime(date_format)}]"
    if field_type == F.DATETIME:
        moment = _as_datetime(value)
        return f"[DT:{moment.strftime(date_format)} {moment.strftime('%H:%M:%S')}]"
    return str(value)


def decode_custom(raw: Any, field_type: FieldType | None) -> Any:
    """The Python value of an encoded `CustomFields` string; None for SuperOffice's empty values."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        return raw
    match = _ENCODED.match(raw.strip())
    tag, body = (match.group(1), match.group(2).strip()) if match else (None, raw)
    if field_type in (F.STRING, F.TEXT, None) and tag is None:
        return raw
    if field_type == F.BOOLEAN:
        return body.strip().lower() in ("1", "true")
    if field_type in (F.INTEGER, F.REFERENCE):
        return _int_or_none(body)
    if field_type == F.PICKLIST:
        number = _int_or_none(body)
        return None if number in (None, 0) else str(number)  # list id 0 = nothing chosen
    if field_type == F.DECIMAL:
        try:
            return float(body.replace(",", ".")) if body else None
        except ValueError:
            return None
    if field_type == F.DATE or tag == "D":
        parsed = _parse_date(body)
        return None if parsed in (None, EMPTY_DATE) else parsed
    if field_type == F.DATETIME or tag == "DT":
        return _parse_datetime(body)
    return body


def _empty_for(field_type: FieldType, date_format: str) -> str:
    # SuperOffice udefs have no null: each type has an "empty" value.
    if field_type == F.DATE:
        return _empty_date(date_format)
    if field_type == F.DATETIME:
        return ""
    if field_type == F.DECIMAL:
        return "[F:0]"
    return "[I:0]"


def _empty_date(date_format: str) -> str:
    # strftime pads year 1 inconsistently across platforms; build "0001" by hand.
    return "[D:" + date_format.replace("%m", "01").replace("%d", "01").replace("%Y", "0001") + "]"


def _plain_float(number: float) -> str:
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parsed = _parse_date(str(value))
    if parsed is None:
        raise EncodingError(f"{value!r} is not a date")
    return parsed


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    parsed = _parse_datetime(str(value))
    if parsed is None:
        raise EncodingError(f"{value!r} is not a date and time")
    return parsed


def _parse_date(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    return None


def _parse_datetime(text: str) -> datetime | None:
    text = text.strip()
    try:
        return parse_superoffice_datetime(text)
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    day = _parse_date(text)
    return datetime(day.year, day.month, day.day) if day else None


# --- entity dates --------------------------------------------------------------------------------------------------

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_superoffice_datetime(text: str) -> datetime:
    """ISO timestamps as SuperOffice writes them: up to 7 fractional digits, with or without offset/Z.
    Raises ValueError for anything else."""
    cleaned = _FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00"))
    return datetime.fromisoformat(cleaned)


def entity_datetime(value: Any, *, utc: bool = False) -> datetime | None:
    """An entity date field as a datetime; None for empty (`0001-01-01T00:00:00`) or missing values.
    `utc=True` tags naive values as UTC (UpdatedDate/CreatedDate are documented as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = parse_superoffice_datetime(value)
    except ValueError:
        return None
    if moment.year <= 1:
        return None
    if utc and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def format_entity_datetime(value: Any) -> str:
    """A datetime/date/ISO string as the ISO form entity carriers use."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()
    parsed = _parse_datetime(str(value))
    if parsed is None:
        raise EncodingError(f"{value!r} is not a date and time")
    return parsed.isoformat()
