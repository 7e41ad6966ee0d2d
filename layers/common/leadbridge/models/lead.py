"""The app-side Lead and the app-side object shapes the mapping engine reads and writes.

A lead app sends one `Lead`: a company with its standard fields and the 37 catalogue fields of
`lead-fields.json` (seed 002), its contact persons, its pipeline stage and owner. leadbridge splits it into the
app-side objects that map onto CRM objects: one `AppCompany`, one `AppPerson` per contact, one `AppDeal` (the lead as
an opportunity) and any `AppActivity`.

Field names are English snake_case. Input also accepts the camelCase names of the seed catalogue (`companyName`,
`reasonForFit`, `cvr`, ...), so an app that already speaks that dialect can send its records unchanged.

The 37 catalogue fields (prog id in the seed's SuperOffice setup → app field):

    RabitIQ:1  score                  RabitIQ:14 target_audience        RabitIQ:27 threats
    RabitIQ:2  reason_for_fit         RabitIQ:15 technologies           RabitIQ:28 customer_reviews
    RabitIQ:3  industry               RabitIQ:16 revenue                RabitIQ:29 employee_reviews
    RabitIQ:4  size                   RabitIQ:17 profit                 RabitIQ:30 growth_signals
    RabitIQ:5  location               RabitIQ:18 employees              RabitIQ:31 industry_pain_points
    RabitIQ:6  lead_ref               RabitIQ:19 growth_rate            RabitIQ:32 open_positions
    RabitIQ:7  buying_signals         RabitIQ:20 profit_margin          RabitIQ:33 sales_playbook
    RabitIQ:8  intent_score           RabitIQ:21 competitors            RabitIQ:34 user_notes
    RabitIQ:9  intent_signals         RabitIQ:22 competitive_analysis   RabitIQ:35 created_date
    RabitIQ:10 conversation_starters  RabitIQ:23 market_analysis        RabitIQ:36 org_number (CVR)
    RabitIQ:11 red_flags              RabitIQ:24 strengths              RabitIQ:37 address
    RabitIQ:12 description            RabitIQ:25 weaknesses
    RabitIQ:13 business_model         RabitIQ:26 opportunities

`lead_ref` defaults to the lead's `id` (the seed's "RabitIQ Lead ID" is the app's own reference).

What a client may send (docs/export.md, "Field limits"): every text field has a length limit, the longest the CRMs
leadbridge writes to accept for that kind of field: `ShortText` (names, e-mail, phone, web address, address parts,
ids, stage, owner: 255 characters, Salesforce's longest string field) and `LongText` (the catalogue's free texts:
32,000 characters, Salesforce's long text area, e.g. Account Description). Longer text is a 422 naming the field, never
truncated silently. Whole numbers (`score`, `intent_score`, `employees`) must be JSON integers: `"85"` or `true` is a
422, not converted. Amounts and rates (`Decimal`) and dates stay as documented: `"125000"` and `"2026-05-01"` are
read, since JSON has no decimal or date type and a client sends exact amounts as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from types import MappingProxyType, NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, AliasGenerator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from leadbridge.models.base import DeferredModel
from leadbridge.models.crm import CrmObject

# The longest text of each kind the CRMs leadbridge writes to take (see the module docstring).
SHORT_TEXT_MAX = 255
LONG_TEXT_MAX = 32_000
# Optional fields of each kind. The constraint wraps the whole `X | None`, so a field's annotation stays the plain
# type (`app_fields` reads the value kinds from it).
ShortTextOrNone = Annotated[str | None, Field(max_length=SHORT_TEXT_MAX)]
LongTextOrNone = Annotated[str | None, Field(max_length=LONG_TEXT_MAX)]
# A count or score: a JSON integer only (strict: no "85" → 85, no true → 1).
WholeNumberOrNone = Annotated[int | None, Field(strict=True)]


def _snake_or_camel(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class _AppModel(DeferredModel):
    # Unknown keys are rejected so a typo in a sample record (preview) or an export payload is a clear 422.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=_snake_or_camel),
        str_strip_whitespace=True,
    )


class _PersonFields(_AppModel):
    """A person's fields, shared by the contact on a lead the app sends and the app person leadbridge maps."""

    id: ShortTextOrNone = None
    name: ShortTextOrNone = None
    first_name: ShortTextOrNone = None
    last_name: ShortTextOrNone = None
    title: ShortTextOrNone = None
    email: ShortTextOrNone = None
    phone: ShortTextOrNone = None
    mobile: ShortTextOrNone = None


class LeadContact(_PersonFields):
    """A contact person on a lead. `name` is the full name; `first_name`/`last_name` win over it when given."""


class _CompanyFields(_AppModel):
    """The company side of a lead, shared by the lead the app sends and the app company leadbridge maps."""

    id: str = Field(max_length=SHORT_TEXT_MAX)
    stage: ShortTextOrNone = None  # the app's pipeline stage name, e.g. "New", "Lead", "Won"
    owner: ShortTextOrNone = None  # the app user who owns the lead (id or e-mail, as the app knows its users)

    # --- company standard fields ---
    company_name: ShortTextOrNone = None
    website: ShortTextOrNone = None
    email: ShortTextOrNone = None
    phone: ShortTextOrNone = None
    street: ShortTextOrNone = None
    postal_code: ShortTextOrNone = None
    city: ShortTextOrNone = None
    country: ShortTextOrNone = None

    # --- the 37 catalogue fields (see module docstring for prog ids) ---
    score: WholeNumberOrNone = None
    reason_for_fit: LongTextOrNone = None
    industry: LongTextOrNone = None
    size: LongTextOrNone = None
    location: LongTextOrNone = None
    lead_ref: ShortTextOrNone = None
    buying_signals: LongTextOrNone = None
    intent_score: WholeNumberOrNone = None
    intent_signals: LongTextOrNone = None
    conversation_starters: LongTextOrNone = None
    red_flags: LongTextOrNone = None
    description: LongTextOrNone = None
    business_model: LongTextOrNone = None
    target_audience: LongTextOrNone = None
    technologies: LongTextOrNone = None
    revenue: Decimal | None = None
    profit: Decimal | None = None
    employees: WholeNumberOrNone = None
    growth_rate: Decimal | None = None
    profit_margin: Decimal | None = None
    competitors: LongTextOrNone = None
    competitive_analysis: LongTextOrNone = None
    market_analysis: LongTextOrNone = None
    strengths: LongTextOrNone = None
    weaknesses: LongTextOrNone = None
    opportunities: LongTextOrNone = None
    threats: LongTextOrNone = None
    customer_reviews: LongTextOrNone = None
    employee_reviews: LongTextOrNone = None
    growth_signals: LongTextOrNone = None
    industry_pain_points: LongTextOrNone = None
    open_positions: LongTextOrNone = None
    sales_playbook: LongTextOrNone = None
    user_notes: LongTextOrNone = None
    created_date: date | None = None
    org_number: ShortTextOrNone = Field(default=None, validation_alias=AliasChoices("org_number", "orgNumber", "cvr"))
    address: LongTextOrNone = None


class Lead(_CompanyFields):
    """One lead as the app sends it."""

    id: str = Field(min_length=1, max_length=200)
    crm_company_id: ShortTextOrNone = None  # set once the lead has been exported/linked

    # --- the deal side of the lead ---
    deal_title: ShortTextOrNone = None
    deal_amount: Decimal | None = None
    deal_currency: ShortTextOrNone = None
    expected_close: date | None = None

    contacts: list[LeadContact] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _lead_ref_defaults_to_id(self) -> Lead:
        if self.lead_ref is None:
            self.lead_ref = self.id
        return self

    # --- split into app-side objects ---

    def company(self) -> AppCompany:
        data = self.model_dump(include=set(AppCompany.model_fields) - {"id"})
        return AppCompany(id=self.id, **data)

    def persons(self) -> list[AppPerson]:
        out = []
        for index, c in enumerate(self.contacts):
            first, last = c.first_name, c.last_name
            if c.name and not (first or last):
                first, last = split_full_name(c.name)
            out.append(
                AppPerson(
                    id=c.id or f"{self.id}#{index}",
                    company_id=self.id,
                    name=c.name or " ".join(p for p in (first, last) if p) or None,
                    first_name=first,
                    last_name=last,
                    title=c.title,
                    email=c.email,
                    phone=c.phone,
                    mobile=c.mobile,
                )
            )
        return out

    def deal(self) -> AppDeal:
        return AppDeal(
            id=self.id,
            company_id=self.id,
            title=self.deal_title or self.company_name,
            amount=self.deal_amount,
            currency=self.deal_currency,
            stage=self.stage,
            expected_close=self.expected_close,
            description=self.reason_for_fit,
            owner=self.owner,
        )


def split_full_name(full_name: str) -> tuple[str | None, str | None]:
    """"Anne Marie Hansen" → ("Anne Marie", "Hansen"): the last word is the last name. One word is a first name."""
    words = full_name.split()
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]


class AppCompany(_CompanyFields):
    """The company side of a lead: standard fields plus the 37 catalogue fields."""


class AppPerson(_PersonFields):
    id: str
    company_id: str | None = None


class AppDeal(_AppModel):
    id: str
    company_id: str | None = None
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    expected_close: date | None = None
    description: str | None = None
    owner: str | None = None


class ActivityStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class AppActivity(_AppModel):
    """An activity logged in the app (seed 004: becomes a CRM task/appointment; done → task completed)."""

    id: str
    company_id: str | None = None
    person_id: str | None = None
    name: str | None = None
    description: str | None = None
    date: datetime | None = None
    status: ActivityStatus = ActivityStatus.OPEN
    # call, meeting, visit, task, email, note or other (the activity API refuses anything else); mappable like any
    # app field, e.g. to a custom CRM field. The CRM's own type fields are filled from it by its profile.
    type: str | None = None
    owner: str | None = None


APP_MODELS: dict[CrmObject, type[_AppModel]] = {
    CrmObject.COMPANY: AppCompany,
    CrmObject.PERSON: AppPerson,
    CrmObject.DEAL: AppDeal,
    CrmObject.ACTIVITY: AppActivity,
}


class AppFieldKind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


_KINDS: list[tuple[type, AppFieldKind]] = [
    # Order matters: bool is an int, datetime is a date.
    (bool, AppFieldKind.BOOLEAN),
    (int, AppFieldKind.INTEGER),
    (Decimal, AppFieldKind.DECIMAL),
    (float, AppFieldKind.DECIMAL),
    (datetime, AppFieldKind.DATETIME),
    (date, AppFieldKind.DATE),
]


def _kind_of(annotation: Any) -> AppFieldKind:
    if get_origin(annotation) in (Union, UnionType):
        annotation = next(a for a in get_args(annotation) if a is not NoneType)
    if isinstance(annotation, type) and not issubclass(annotation, StrEnum):
        for python_type, kind in _KINDS:
            if issubclass(annotation, python_type):
                return kind
    return AppFieldKind.TEXT


@cache
def app_fields(obj: CrmObject) -> Mapping[str, AppFieldKind]:
    """The mappable app fields of an app object and their value kinds (for mapping validation and the UI). Worked
    out once per object: inbound mapping asks for every record. Read-only."""
    model = APP_MODELS[obj]
    return MappingProxyType({name: _kind_of(info.annotation) for name, info in model.model_fields.items()})


def app_record(obj: CrmObject, data: dict[str, Any]) -> dict[str, Any]:
    """Validate a raw app record of `obj` and return it as a plain dict keyed by app field names."""
    return APP_MODELS[obj].model_validate(data).model_dump()
