"""State types of the HubSpot sandbox, its error answers, and hand-written pydantic models of the request and
response shapes in ../shared/reference/hubspot-api.md (§1 token, §2 objects and batch, §3 search, §7 errors).

Requests are parsed with these models, so a body the reference does not describe is a 400 VALIDATION_ERROR, as HubSpot
answers it; responses are built through them, so a field the reference does not list cannot slip out.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# --- errors -----------------------------------------------------------------------------------------------------


class HubSpotError(Exception):
    """A CRM API error as HubSpot answers it (§7): `{status: "error", message, correlationId, category,
    subCategory?, context?, errors[]?}`."""

    def __init__(self, status: int, category: str, message: str, *, errors: list[dict[str, Any]] | None = None,
                 context: dict[str, list[str]] | None = None, sub_category: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.sub_category = sub_category
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return ErrorBody(status="error", message=self.message, correlationId=str(uuid.uuid4()),
                         category=self.category, subCategory=self.sub_category, context=self.context,
                         errors=self.errors).model_dump(exclude_none=True)


class RateLimited(HubSpotError):
    """429 with the body of §7: `{status, message, errorType: "RATE_LIMIT", correlationId, policyName, requestId}`."""

    def __init__(self, policy_name: str, message: str, headers: dict[str, str]) -> None:
        super().__init__(429, "RATE_LIMITS", message, headers=headers)
        self.policy_name = policy_name

    def body(self) -> dict[str, Any]:
        return RateLimitBody(status="error", message=self.message, errorType="RATE_LIMIT",
                             correlationId=str(uuid.uuid4()), policyName=self.policy_name,
                             requestId=str(uuid.uuid4())).model_dump()


class OAuthError(Exception):
    """A token-endpoint error (§1): RFC 6749 `error`/`error_description` plus the legacy `status`/`message`."""

    def __init__(self, error: str, description: str, legacy_status: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.legacy_status = legacy_status
        self.status = status

    def body(self) -> dict[str, Any]:
        return OAuthErrorBody(error=self.error, error_description=self.description, status=self.legacy_status,
                              message=self.description).model_dump()


def validation_error(message: str, errors: list[dict[str, Any]] | None = None) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, errors=errors)


def not_found(message: str = "resource not found") -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", message)


# --- response shapes ----------------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Out):
    status: Literal["error"]
    message: str
    correlationId: str
    category: str
    subCategory: str | None = None
    context: dict[str, list[str]] | None = None
    errors: list[dict[str, Any]] | None = None


class RateLimitBody(_Out):
    status: Literal["error"]
    message: str
    errorType: Literal["RATE_LIMIT"]
    correlationId: str
    policyName: str
    requestId: str


class OAuthErrorBody(_Out):
    error: str
    error_description: str
    status: str
    message: str


class AccessTokenResponse(_Out):
    """§1: required `access_token, refresh_token, expires_in, token_type, token_use`; optional `hub_id, user_id,
    scopes, id_token`."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["bearer"]
    token_use: Literal["access_token"]
    hub_id: int | None = None
    user_id: int | None = None
    scopes: list[str] | None = None
    id_token: str | None = None


class SimplePublicObject(_Out):
    """§2: every property value is a string (or null)."""

    id: str
    properties: dict[str, str | None]
    createdAt: str
    updatedAt: str
    archived: bool
    archivedAt: str | None = None
    objectWriteTraceId: str | None = None
    url: str | None = None


class UpsertedObject(SimplePublicObject):
    """A batch upsert's result: the object plus whether the upsert created it (§2)."""

    new: bool


class NextPage(_Out):
    after: str
    link: str | None = None


class Paging(_Out):
    next: NextPage


class CollectionResponse(_Out):
    """A list answer (objects, owners): `{results, paging.next.after}` (§2)."""

    results: list[dict[str, Any]]
    paging: Paging | None = None


class SearchResponse(_Out):
    """§3: `{total, results[], paging.next.after}`; the results are `SimplePublicObject`s."""

    total: int
    results: list[SimplePublicObject]
    paging: Paging | None = None


class BatchError(_Out):
    status: Literal["error"]
    category: str
    message: str
    context: dict[str, list[str]]
    errors: list[dict[str, Any]] | None = None


ResultT = TypeVar("ResultT")


class BatchResponse(_Out, Generic[ResultT]):
    """§2: `{status, results[], startedAt, completedAt, errors[]?, numErrors?}`; `BatchResponse[Shape]` checks the
    results too (the association batches' items)."""

    status: Literal["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]
    results: list[ResultT]
    startedAt: str
    completedAt: str
    errors: list[BatchError] | None = None
    numErrors: int | None = None


def page_body(results: list[dict[str, Any]], next_after: str | None, link: str | None = None) -> dict[str, Any]:
    paging = Paging(next=NextPage(after=next_after, link=link)) if next_after is not None else None
    return CollectionResponse(results=results, paging=paging).model_dump(exclude_none=True)


def batch_body(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: float,
               finished: float) -> dict[str, Any]:
    """A batch answer, checked against `BatchResponse`."""
    return BatchResponse[dict[str, Any]](
        status="COMPLETE", results=results, startedAt=iso(started), completedAt=iso(finished),
        errors=[BatchError.model_validate(e) for e in errors] or None,
        numErrors=len(errors) or None).model_dump(exclude_none=True)


def typed_batch_body(shape: type[BatchResponse[Any]], results: list[Any], errors: list[dict[str, Any]],
                     started: float, finished: float) -> dict[str, Any]:
    """A batch answer whose results are checked against `shape`'s item model; nulls inside the items (an
    association type's `label`) are kept, `errors`/`numErrors` appear only when an input failed."""
    fields: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": iso(started),
                              "completedAt": iso(finished)}
    if errors:
        fields.update(errors=errors, numErrors=len(errors))
    return checked(shape, fields)


def checked(shape: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """An answer assembled from stored data (property definitions, a page of owners) validated against its response
    model before it is sent, and dumped as sent (aliases; absent optional fields stay absent): a sandbox bug that
    breaks the shape is a loud 500 naming the field, never a wrong answer."""
    return shape.model_validate(data).model_dump(by_alias=True, exclude_unset=True)


# token information (§1: introspect fields unconfirmed; the v1 token-info answer)


class IntrospectInactive(_Out):
    active: Literal[False]


class IntrospectActive(_Out):
    """RFC 7662 style (`introspect_style="rfc7662"`)."""

    active: Literal[True]
    client_id: str
    hub_id: int
    user_id: int
    scope: str
    token_type: Literal["access_token", "refresh_token"]
    iat: int | None = None
    exp: int | None = None


class V1TokenInfo(_Out):
    """The v1 token-info fields (`GET /oauth/v1/access-tokens/{t}`, `.../refresh-tokens/{t}`, or an introspect answer
    with `introspect_style="v1"`, then with `active`)."""

    active: Literal[True] | None = None
    token: str
    user: str | None
    user_id: int
    hub_id: int
    hub_domain: str | None
    scopes: list[str]
    token_type: Literal["access", "refresh"]
    app_id: int | None = None
    expires_in: int | None = None
    client_id: str | None = None


# webhooks v3 management API of legacy public apps (§6.1; answer shapes beyond the reference's are the sandbox's)


class WebhookThrottling(_Out):
    maxConcurrentRequests: int = Field(ge=1)
    period: Literal["SECONDLY"]


class WebhookSettingsOut(_Out):
    targetUrl: str
    throttling: WebhookThrottling


class WebhookSubscriptionOut(_Out):
    id: int
    eventType: str
    active: bool
    propertyName: str | None = None
    objectTypeId: str | None = None
    createdAt: str
    updatedAt: str


class WebhookSubscriptionList(_Out):
    results: list[WebhookSubscriptionOut]


class WebhookSubscriptionBatch(_Out):
    status: Literal["COMPLETE"]
    results: list[WebhookSubscriptionOut]
    startedAt: str
    completedAt: str


# properties, owners, pipelines, account details (§4)

PropertyType = Literal["bool", "date", "datetime", "enumeration", "number", "phone_number", "string"]
FieldType = Literal["booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number",
                    "phonenumber", "radio", "select", "text", "textarea"]


class PropertyOption(_Out):
    label: str
    value: str
    description: str
    displayOrder: int
    hidden: bool


class ModificationMetadata(_Out):
    archivable: bool
    readOnlyDefinition: bool
    readOnlyValue: bool


class PropertyDefinition(_Out):
    """§4's `Property`; `createdAt`/`updatedAt` are optional (the sandbox's standard properties carry none)."""

    name: str
    label: str
    description: str
    groupName: str
    type: PropertyType
    fieldType: FieldType
    options: list[PropertyOption]
    displayOrder: int
    calculated: bool
    externalOptions: bool
    hasUniqueValue: bool
    hidden: bool
    hubspotDefined: bool
    formField: bool
    modificationMetadata: ModificationMetadata
    archived: bool
    createdAt: str | None = None
    updatedAt: str | None = None


class PropertyList(_Out):
    results: list[PropertyDefinition]


class OwnerOut(_Out):
    """§4: `id` assigns records, `userId` is the user's (assigning with it errors)."""

    id: str
    email: str
    firstName: str
    lastName: str
    userId: int
    createdAt: str
    updatedAt: str
    archived: bool


class OwnerPage(_Out):
    results: list[OwnerOut]
    paging: Paging | None = None


class StageMetadata(_Out):
    """§4: metadata values are strings: `isClosed` "true"|"false", `probability` "0.0".."1.0"."""

    isClosed: Literal["true", "false"]
    probability: str = Field(pattern=r"^(0(\.\d+)?|1(\.0+)?)$")


class PipelineStage(_Out):
    id: str
    label: str
    displayOrder: int
    metadata: StageMetadata
    createdAt: str
    updatedAt: str
    archived: bool


class Pipeline(_Out):
    id: str
    label: str
    displayOrder: int
    stages: list[PipelineStage]
    createdAt: str
    updatedAt: str
    archived: bool


class PipelineList(_Out):
    results: list[Pipeline]


class AccountDetails(_Out):
    """`GET /account-info/{version}/details`: no account name, except `portalName` in the `2027-03-beta` version."""

    portalId: int
    portalName: str | None = None
    accountType: str
    timeZone: str
    companyCurrency: str
    additionalCurrencies: list[str]
    utcOffset: str = Field(pattern=r"^[+-]\d{2}:\d{2}$")
    utcOffsetMilliseconds: int
    uiDomain: str
    dataHostingLocation: str


# associations v4 (§5); the shapes beyond the reference's are the sandbox's

AssociationCategory = Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]


class _AliasOut(_Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectRef(_Out):
    id: str


class AssociationSpec(_Out):
    associationCategory: AssociationCategory
    associationTypeId: int


class DefaultAssociation(_AliasOut):
    """One direction of a default association written: `{from: {id}, to: {id}, associationSpec}`."""

    from_: ObjectRef = Field(alias="from")
    to: ObjectRef
    associationSpec: AssociationSpec


class LabelledAssociation(_Out):
    """A labelled PUT's answer (and a batch create's item): the pair by type id and the labels it now has."""

    fromObjectTypeId: str
    fromObjectId: int
    toObjectTypeId: str
    toObjectId: int
    labels: list[str]


class AssociationTypeOut(_Out):
    """`{category, typeId, label}`; an unlabelled type's `label` is null (sent, not left out)."""

    category: AssociationCategory
    typeId: int
    label: str | None


class AssociatedObject(_Out):
    toObjectId: int
    associationTypes: list[AssociationTypeOut]


class AssociationList(_Out):
    results: list[AssociatedObject]


class AssociationLabels(_Out):
    results: list[AssociationTypeOut]


class AssociationReadResult(_AliasOut):
    """A batch read's item: `{from: {id}, to: [{toObjectId, associationTypes}]}`."""

    from_: ObjectRef = Field(alias="from")
    to: list[AssociatedObject]


# --- request shapes -----------------------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


PropertyValue = str | int | float | bool | None


class OptionInput(_In):
    label: str
    value: str
    description: str | None = None
    displayOrder: int | None = None
    hidden: bool = False


class PropertyCreate(_In):
    """`POST /crm/v3/properties/{objectType}` (§4): a custom property by its internal name."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: PropertyType
    fieldType: FieldType
    groupName: str
    description: str | None = None
    options: list[OptionInput] = Field(default_factory=list)
    displayOrder: int | None = None
    hasUniqueValue: bool = False
    hidden: bool = False
    formField: bool = False


class TokenRequest(_In):
    """The token endpoint's form fields (§1); any other field is refused."""

    grant_type: str
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str | None = None
    code: str | None = None
    refresh_token: str | None = None
    code_verifier: str | None = None
    scope: str | None = None
    client_assertion: str | None = None
    client_assertion_type: str | None = None


class TokenFormRequest(_In):
    """Introspect and revoke: the token plus the app's credentials."""

    token: str
    client_id: str = ""
    client_secret: str = ""
    token_type_hint: str | None = None


class AssociationType(_In):
    associationCategory: Literal["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]
    associationTypeId: int


class AssociationTarget(_In):
    id: str


class AssociationInput(_In):
    to: AssociationTarget
    types: list[AssociationType]


class ObjectInput(_In):
    """Single create (and a batch-create input): properties plus optional associations (§2)."""

    properties: dict[str, PropertyValue]
    associations: list[AssociationInput] = Field(default_factory=list)
    objectWriteTraceId: str | None = None


class UpdateInput(_In):
    properties: dict[str, PropertyValue]


class BatchUpdateInput(_In):
    id: str
    idProperty: str | None = None
    properties: dict[str, PropertyValue]
    objectWriteTraceId: str | None = None


class IdInput(_In):
    id: str


class BatchUpsertInput(_In):
    """§2: `{"id": "<unique value>", "idProperty": "email", "properties": {...}}`."""

    id: str
    idProperty: str
    properties: dict[str, PropertyValue]
    objectWriteTraceId: str | None = None


class BatchUpsert(_In):
    inputs: list[BatchUpsertInput]


class AssociationBatchCreateInput(_In):
    to: IdInput
    types: list[AssociationType]
    from_: IdInput = Field(alias="from")


class AssociationBatchDefaultInput(_In):
    to: IdInput
    from_: IdInput = Field(alias="from")


class AssociationBatchArchiveInput(_In):
    to: list[IdInput]
    from_: IdInput = Field(alias="from")


class AssociationBatchCreate(_In):
    inputs: list[AssociationBatchCreateInput]


class AssociationBatchDefault(_In):
    inputs: list[AssociationBatchDefaultInput]


class AssociationBatchArchive(_In):
    inputs: list[AssociationBatchArchiveInput]


class BatchCreate(_In):
    inputs: list[ObjectInput]


class BatchUpdate(_In):
    inputs: list[BatchUpdateInput]


class BatchRead(_In):
    inputs: list[IdInput]
    properties: list[str] = Field(default_factory=list)
    propertiesWithHistory: list[str] = Field(default_factory=list)
    idProperty: str | None = None


class BatchArchive(_In):
    inputs: list[IdInput]


Operator = Literal["EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
                   "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"]


class Filter(_In):
    propertyName: str
    operator: Operator
    value: str | int | float | bool | None = None
    values: list[str | int | float | bool] | None = None
    highValue: str | int | float | None = None


class FilterGroup(_In):
    filters: list[Filter]


class Sort(_In):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchRequest(_In):
    """`PublicObjectSearchRequest` (§3); `after` must be an integer string."""

    filterGroups: list[FilterGroup] = Field(default_factory=list)
    sorts: list[Sort | str] = Field(default_factory=list)
    query: str | None = None
    properties: list[str] = Field(default_factory=list)
    limit: int = 10
    after: str | None = None


# --- state ------------------------------------------------------------------------------------------------------


def iso(ts: float) -> str:
    """`2026-12-01T05:40:00.123Z`: how the API writes timestamps."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scopes: list[str]
    app_id: int
    name: str = "leadbridge"
    # the developer account's key (`?hapikey=`) for the webhooks v3 management API of legacy public apps (§6.1)
    developer_api_key: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Owner:
    """An owner (`id`, used to assign records) of a user (`userId`, which assigning with errors) (§4)."""

    id: str
    user_id: int
    email: str
    first_name: str
    last_name: str
    created_at: float

    def body(self) -> dict[str, Any]:
        return OwnerOut(id=self.id, email=self.email, firstName=self.first_name, lastName=self.last_name,
                        userId=self.user_id, createdAt=iso(self.created_at), updatedAt=iso(self.created_at),
                        archived=False).model_dump()


@dataclass
class Record:
    id: str
    properties: dict[str, str]
    created_at: float
    updated_at: float
    archived_at: float | None = None
    # what search's index has seen: (written at, the properties then, or None once archived), oldest first
    versions: list[tuple[float, dict[str, str] | None]] = field(default_factory=list)


@dataclass(frozen=True)
class ChangeSource:
    """Who made a CRM write, as webhook events tell it (§6.2): `INTEGRATION` + the app id for an app's API write,
    `CRM_UI` + `userId:<userId>` for a user's edit."""

    change_source: str
    source_id: str | None = None


# the writer of the request being served: the API sets the calling app, the admin a portal user (CRM_UI)
WRITER: ContextVar[ChangeSource | None] = ContextVar("hubspot_writer", default=None)


@dataclass
class Change:
    """One CRM write, noted by the objects functions for webhook subscriptions: `kind` is `creation`,
    `propertyChange` (one per changed property) or `deletion`; `at` in seconds."""

    obj: str
    object_id: str
    kind: str
    at: float
    source: ChangeSource
    property_name: str | None = None
    property_value: str | None = None


@dataclass
class Portal:
    hub_id: int
    name: str
    time_zone: str
    domain: str
    owners: dict[str, Owner] = field(default_factory=dict)
    records: dict[str, dict[str, Record]] = field(default_factory=dict)  # object type name -> id -> record
    custom_properties: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # object -> name -> def
    # associations v4: (from object, from id, to object, to id) -> type ids; the type table per (from, to) pair
    associations: dict[tuple[str, str, str, str], set[int]] = field(default_factory=dict)
    association_types: dict[tuple[str, str], list[tuple[int, str | None]]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)  # CRM writes not yet turned into webhook events


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    hub_id: int
    user_id: int
    scopes: list[str]
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class RefreshGrant:
    token: str
    client_id: str
    hub_id: int
    user_id: int
    scopes: list[str]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    hub_id: int
    user_id: int
    scopes: list[str]
    issued_at: float
    expires_at: float
    refresh_token: str
    revoked: bool = False
