"""Change records read in bulk from the OData archive providers: one archive query per page selects every column a
record needs (ids, update/creation stamps and who updated, parent ids, status, owner, the standard fields and each
custom field by ProgId), and each row becomes the `CrmRecord` that `GET /{Entity}/{id}` would have given.

Column names are the providers' documented ones (SOD `api/archive-providers/reference/{simplecontact,person,
findsale}.mdx`). Rows are read in `$mode=Full`, because a Slim row shows a list column as its display text (the
category's name) where the record needs the list item's id. A Full cell is `{"RawValue", "DisplayValue", ...}`:
`RawValue` is typed (numbers, ids, booleans, ISO dates) and preferred; without it, `DisplayValue` is decoded from its
encoding (SOD `encoded-values.md`: `[I:3]`, `[F:1.5]`, `[D:..]`, `[DT:..]`, strings plain). `RawValue` is read first
because the encoded dates are culture-formatted (`[D:09.11.2017]` or `[D:11/09/2017]`).

What no archive column returns is not in an archive record (`GET_ONLY_FIELDS`; see docs/crm/superoffice.md). The
inbound mapping maps only the fields a record carries, so an absent field leaves the app's value as it is; activities
have too many such fields (title, start and end times, type) and are still read with one GET each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadbridge.crm.superoffice.fields import (
    STANDARD_FIELDS,
    STATUS_KINDS,
    Kind,
    StdField,
    decode_custom,
    entity_datetime,
)
from leadbridge.crm.superoffice.mapping import ENTITIES, CustomFieldMeta
from leadbridge.models.crm import CrmObject, CrmRecord, FieldType

F = FieldType


@dataclass(frozen=True)
class ArchiveSpec:
    """Where one object's records come from: the provider, its key columns, and a column per standard field."""

    archive: str  # request path: the entity's own archive endpoint
    pk: str
    updated: str
    created: str
    updated_by: str
    parent: str | None  # the company id column (persons, sales)
    person: str | None  # the person id column (sales)
    udef_prefix: str  # `contactUdef` → `contactUdef/SuperOffice:3`
    extra_prefix: str  # `contactExtra` → `contactExtra/x_foo`
    columns: Mapping[str, str]  # flat standard field name → archive column


ARCHIVES: dict[CrmObject, ArchiveSpec] = {
    # GET /api/v1/Contact = the SimpleContact provider.
    CrmObject.COMPANY: ArchiveSpec(
        archive="Contact",
        pk="contactId",
        updated="updatedDate",
        created="registeredDate",
        updated_by="updatedBy",
        parent=None,
        person=None,
        udef_prefix="contactUdef",
        extra_prefix="contactExtra",
        columns={
            "Name": "name",
            "Department": "department",
            "OrgNr": "orgnr",
            "Number1": "code",
            "Number2": "number",
            "Url": "url/URLAddress",
            "Email": "email/emailAddress",
            "Phone": "phone/formattedNumber",
            "CountryId": "countryId",
            "StreetAddress": "streetAddress/line1",
            "StreetZipcode": "streetAddress/zip",
            "StreetCity": "streetAddress/city",
            "PostalAddress": "postAddress/line1",
            "Zipcode": "postAddress/zip",
            "City": "postAddress/city",
            "Category": "category",
            "Business": "business",
            "Owner": "associateId",
            "NoMailing": "contactNoMail",
        },
    ),
    # GET /api/v1/Person = the Person provider.
    CrmObject.PERSON: ArchiveSpec(
        archive="Person",
        pk="personId",
        updated="personUpdatedDate",
        created="personRegisteredDate",
        updated_by="personUpdatedBy",
        parent="contactId",
        person=None,
        udef_prefix="personUdef",
        extra_prefix="personExtra",
        columns={
            "Firstname": "firstName",
            "MiddleName": "middleName",
            "Lastname": "lastName",
            "Title": "title",
            "Mrmrs": "mrMrs",
            "Email": "email/emailAddress",
            "OfficePhone": "personDirectPhone/formattedNumber",
            "MobilePhone": "personMobilePhone/formattedNumber",
            "Description": "personInfo/infoText",
            "Position": "position",
            "Retired": "retired",
            "NoMailing": "personNoMail",
            "CountryId": "personCountryId",
            "Owner": "personAssociateId",
        },
    ),
    # GET /api/v1/Sale = the FindSale provider.
    CrmObject.DEAL: ArchiveSpec(
        archive="Sale",
        pk="saleId",
        updated="updatedDate",
        created="registeredDate",
        updated_by="updatedBy",
        parent="contactId",
        person="personId",
        udef_prefix="saleUdef",
        extra_prefix="saleExtra",
        columns={
            "Heading": "heading",
            "Amount": "amount",
            "Earning": "earning",
            "Status": "saleStatus",
            "Stage": "stage",
            "Saledate": "date",
            "Probability": "probPercent",
            "Owner": "associateId",
            "SaleType": "saleType",
            "Description": "sale/description",
            "Number": "saleNumber",
        },
    ),
}

# Standard fields no archive column returns: read only by `get` (webhooks, exports), never by a scheduled pull.
GET_ONLY_FIELDS: dict[CrmObject, list[str]] = {
    obj: [name for name in STANDARD_FIELDS[obj] if name not in spec.columns] for obj, spec in ARCHIVES.items()
}

# FindSale's `saleStatus` is the list of SOD `database/tables/enums/salestatus.md`.
SALE_STATUS_BY_NUMBER = {0: "Unknown", 1: "Open", 2: "Sold", 3: "Lost", 4: "Stalled"}

_ENCODED = re.compile(r"^\[(I|F|D|DT|M|T|B):(.*)\]$", re.DOTALL)


def select_columns(obj: CrmObject, custom: Mapping[str, CustomFieldMeta]) -> list[str]:
    """Every column a record of `obj` is built from: keys and stamps first, then the standard fields, then each
    published custom field (udefs by ProgId, extra fields by name)."""
    spec = ARCHIVES[obj]
    keys = [spec.pk, spec.updated, spec.created, spec.updated_by, spec.parent, spec.person]
    columns = [c for c in keys if c] + [c for c in spec.columns.values() if c not in keys]
    return columns + [custom_column(obj, key) for key in custom]


def custom_column(obj: CrmObject, key: str) -> str:
    spec = ARCHIVES[obj]
    return f"{spec.extra_prefix if key.startswith('x_') else spec.udef_prefix}/{key}"


def cell(row: Mapping[str, Any], column: str) -> Any:
    """The value of one column of a row: a Full-mode cell's `RawValue`, else its `DisplayValue`; a Slim row's value
    as it is."""
    columns = row.get("Column")
    if not isinstance(columns, Mapping):
        return row.get(column)
    found = columns.get(column)
    if not isinstance(found, Mapping):
        return found
    raw = found.get("RawValue")
    return raw if raw is not None else found.get("DisplayValue")


def row_to_record(
    obj: CrmObject,
    row: Mapping[str, Any],
    custom: Mapping[str, CustomFieldMeta],
    *,
    our_associate: str | None,
) -> CrmRecord:
    """The record a row stands for, decoded as `mapping.entity_to_record` decodes the entity (same names and values),
    without the `GET_ONLY_FIELDS`. `url` is the caller's to set."""
    spec = ARCHIVES[obj]
    catalogue = STANDARD_FIELDS[obj]
    fields: dict[str, Any] = {
        name: _standard(catalogue[name], cell(row, column)) for name, column in spec.columns.items()
    }
    for key, meta in custom.items():
        fields[key] = decode_cell(cell(row, custom_column(obj, key)), meta.type)
    parent = _id(cell(row, spec.parent)) if spec.parent else None
    person = _id(cell(row, spec.person)) if spec.person else None
    return CrmRecord(
        object=obj,
        id=str(_int(cell(row, spec.pk))),
        fields=fields,
        parent_id=parent,
        person_id=person,
        updated_at=_moment(cell(row, spec.updated), utc=True),
        created_at=_moment(cell(row, spec.created), utc=True),
        stage_kind=STATUS_KINDS.get(str(fields.get("Status"))) if obj == CrmObject.DEAL else None,
        modified_by_us=same_associate(_id(cell(row, spec.updated_by)), our_associate),
    )


def same_associate(updated_by: str | None, ours: str | None) -> bool | None:
    """Whether leadbridge's associate made the last change; None when the connection does not know its associate."""
    if not ours:
        return None
    return updated_by is not None and str(updated_by) == str(ours)


def record_id(row: Mapping[str, Any], obj: CrmObject) -> int | None:
    value = _int(cell(row, ARCHIVES[obj].pk))
    return value or None


# --- decoding ------------------------------------------------------------------------------------------------------


def _standard(spec: StdField, value: Any) -> Any:
    if spec.name == "Status" and spec.picklist:  # Sale.Status: the list item number → the entity's enum name
        number = _int(value)
        return SALE_STATUS_BY_NUMBER.get(number, "Unknown") if number is not None else None
    if spec.kind == Kind.REF:
        return _id(value)
    if spec.kind == Kind.ELEMENT:  # the first e-mail/phone/URL; none is an empty cell
        text = _text(value)
        return text or None
    if spec.type == F.BOOLEAN:
        return _bool(value)
    if spec.type == F.INTEGER:
        return _int(value)
    if spec.type == F.DECIMAL:
        return _float(value)
    if spec.type in (F.DATETIME, F.DATE):
        return _moment(value)
    return _text(value)


def decode_cell(value: Any, field_type: FieldType | None) -> Any:
    """A custom field's archive cell as `fields.decode_custom` reads the entity's `CustomFields` string."""
    if isinstance(value, str) and _ENCODED.match(value.strip()):
        return decode_custom(value, field_type)
    if field_type in (F.STRING, F.TEXT, None):
        return _text(value)
    if field_type == F.BOOLEAN:
        return bool(_bool(value))
    if field_type in (F.INTEGER, F.REFERENCE):
        return _int(value)
    if field_type == F.PICKLIST:
        number = _int(value)
        return None if number in (None, 0) else str(number)  # list id 0 = nothing chosen
    if field_type == F.DECIMAL:
        return _float(value)
    if field_type == F.DATE:
        moment = _moment(value)
        return moment.date() if moment is not None else None
    if field_type == F.DATETIME:
        return _moment(value)
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _unwrap(value: Any) -> Any:
    """The body of an encoded value (`[I:3]` → `3`); anything else as it is."""
    if isinstance(value, str):
        match = _ENCODED.match(value.strip())
        if match:
            return match.group(2).strip()
    return value


def _int(value: Any) -> int | None:
    value = _unwrap(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(float(str(value))) if str(value).strip() else None
    except ValueError:
        return None


def _id(value: Any) -> str | None:
    number = _int(value)
    return None if number in (None, 0) else str(number)


def _float(value: Any) -> float | None:
    value = _unwrap(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).replace(",", ".")) if str(value).strip() else None
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    value = _unwrap(value)
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return None
    return str(value).strip().lower() in ("1", "true")


def _moment(value: Any, *, utc: bool = False) -> datetime | None:
    """An archive date cell as the entity's date would read: ISO (`RawValue`) through `entity_datetime`, or an
    encoded `[DT:MM/DD/YYYY HH:MM:SS]` / `[D:MM/DD/YYYY]`; empty dates (year 1) are None."""
    if isinstance(value, str) and _ENCODED.match(value.strip()):
        decoded = decode_custom(value, F.DATETIME)
        if not isinstance(decoded, datetime) or decoded.year <= 1:
            return None
        return entity_datetime(decoded.isoformat(), utc=utc)
    return entity_datetime(value, utc=utc) if isinstance(value, str) else None


def is_archive_object(obj: CrmObject) -> bool:
    return obj in ARCHIVES and obj in ENTITIES
