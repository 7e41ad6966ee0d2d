"""The one connector interface every CRM implements, and the registry that finds a CRM by name.

Sync code talks only to these protocols; adding a CRM means adding a package under `leadbridge.crm.<name>` that
registers a `CrmProvider`, and touches no sync code (docs/adding-a-crm.md lists what the package provides).

Every method raises only `leadbridge.errors` CRM errors: `NeedsReauth`, `CrmNotFound`, `CrmConflict`,
`RateLimited`, `CrmUnavailable`, `CrmRejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadbridge.crm.metadata_cache import MetadataCachePolicy
from leadbridge.crm.profile import CrmProfile
from leadbridge.errors import CrmError
from leadbridge.models.connection import ConnectionContext as ConnectionContext  # part of the connector interface
from leadbridge.models.crm import (
    ChangePage,
    CrmObject,
    CrmObjectInfo,
    CrmRecord,
    CrmUser,
    FieldInfo,
    Grant,
    Stage,
    WebhookEvent,
    WebhookRegistration,
)
from leadbridge.observability import trace_crm_http

if TYPE_CHECKING:  # the settings models cost ~0.05-0.1 s at cold start; functions that never read settings skip them
    from leadbridge.models.settings import SettingsDocument


class AuthorizationRequest(BaseModel):
    """What the OAuth function needs to send the browser to the CRM and to check the callback later."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    url: str
    state: str
    code_verifier: str
    nonce: str | None = None


class TokenSource(Protocol):
    """Gives a connector a valid access token for one connection (implemented by the token vault)."""

    def access_token(self) -> str:
        """A token that is valid now; refreshes ahead of expiry (single-flight)."""
        ...

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        """Called once when the CRM answered 401 to `rejected_token`. Returns a fresh token (refreshing unless another
        caller already did), or raises `NeedsReauth`."""
        ...


@runtime_checkable
class OAuthFlow(Protocol):
    """Authorization for one CRM app registration (client id/secret, redirect URI, environment)."""

    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        """Build the authorize URL with a fresh state, PKCE S256 verifier and (for OIDC) nonce."""
        ...

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        """Exchange the code; validate any id_token (signature, issuer, audience, expiry, nonce)."""
        ...

    def refresh(self, grant: Grant) -> Grant:
        """Refresh; keeps the old refresh token when the CRM returns none. `invalid_grant` raises NeedsReauth."""
        ...

    def revoke(self, grant: Grant) -> None:
        """Revoke at the CRM where it offers revocation; a no-op otherwise."""
        ...


@runtime_checkable
class Connector(Protocol):
    """One CRM account, authenticated through a `TokenSource`. What a CRM can do beyond this is a capability
    protocol (`SupportsCreateMany`, `SupportsSelections`) that sync code checks with `isinstance`."""

    crm: str

    # --- what sync code reports about the work done ---
    def request_count(self) -> int:
        """HTTP requests this connector sent to the CRM so far, every attempt counted (sync logs and run budgets)."""
        ...

    def take_skipped_fields(self) -> list[str]:
        """CRM fields the last create/update left out because this account lacks them (not published, read-only);
        cleared by the call, so each skip is reported once."""
        ...

    # --- metadata ---
    def objects(self) -> list[CrmObjectInfo]: ...

    def fields(self, obj: CrmObject) -> list[FieldInfo]: ...

    def stages(self) -> list[Stage]: ...

    def users(self) -> list[CrmUser]: ...

    # --- records ---
    def get(self, obj: CrmObject, record_id: str) -> CrmRecord: ...

    def create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord: ...

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        """Partial update: only the given fields change."""
        ...

    def delete(self, obj: CrmObject, record_id: str) -> None: ...

    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
        org_nr_field: str | None = None,
        domain_field: str | None = None,
    ) -> list[CrmRecord]:
        """Candidates for matching; each criterion given is searched, results de-duplicated by id. `org_nr_field` /
        `domain_field`: the company object's fields holding the org number and the web address (the settings'
        `matching`, resolved by `export.company`); None: the connector's standard fields. Each record carries the
        searched fields' values under their names. A field the CRM does not have or cannot search by raises
        `RefusedBeforeWrite` naming `matching.<key>` before any query; with no criterion given nothing is searched,
        so a call with only the field names checks them (settings validation does)."""
        ...

    def list_persons(self, company_id: str) -> list[CrmRecord]: ...

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        """Deep link to the record in the CRM's UI."""
        ...

    # --- incremental reads ---
    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        """Records of `obj` changed at or after `since` (inclusive), one page per call."""
        ...

    def deleted_since(self, obj: CrmObject, since: datetime) -> list[str]:
        """Ids of records deleted since `since`, where the CRM can tell; [] where it cannot."""
        ...

    def all_ids(self, obj: CrmObject) -> Iterable[str]:
        """Every live id, for reconciliation (deletion detection by absence)."""
        ...

    # --- webhooks ---
    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration: ...

    def list_webhooks(self) -> list[WebhookRegistration]: ...

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration: ...

    def unregister_webhook(self, webhook_id: str) -> None: ...


@runtime_checkable
class SupportsCreateMany(Protocol):
    """Optional: a CRM that creates many records in one request (Salesforce sObject Collections). The export creates
    the persons of a company it just created with one call; other CRMs get one create per person."""

    def create_many(
        self, obj: CrmObject, records: list[Mapping[str, Any]], *, parent_id: str | None = None
    ) -> list[CrmRecord | CrmError]:
        """Each result is the created record or the error for it, in input order (not all-or-none)."""
        ...


class CrmSelection(BaseModel):
    """A static selection in the CRM (SuperOffice), for the settings picker (`GET /crm/{crm}/selections`)."""

    model_config = ConfigDict(defer_build=True)

    id: str
    name: str
    target: CrmObject = Field(description="What it lists: `company` (its companies' persons sync) or `person`.")
    member_count: int | None = Field(default=None, description="Members when the CRM says, for the picker.")


@runtime_checkable
class SupportsSelections(Protocol):
    """Optional: a CRM whose users keep static selections and favourites (SuperOffice). The scheduled sync brings in
    the persons they name (seed 003); sync code checks `isinstance(connector, SupportsSelections)` and stays
    CRM-agnostic."""

    def selection_person_ids(self, selection_id: str) -> list[str]:
        """Persons that are members of a (person-based) static selection."""
        ...

    def selection_company_ids(self, selection_id: str) -> list[str]:
        """Companies that are members of a (company-based) static selection."""
        ...

    def company_person_ids(self, company_id: str, *, include_retired: bool = False) -> list[str]:
        """Persons of one company; former employees only when asked for."""
        ...

    def favourite_person_ids(self) -> list[str]:
        """Persons the connected user marked as favourites."""
        ...

    def favourite_company_person_ids(self) -> list[str]:
        """Current (not former) persons of the companies the connected user marked as favourites."""
        ...

    def appointment_person_ids(self) -> list[str]:
        """Persons linked to the connected user's appointments (from 30 days back on)."""
        ...

    def selections(self) -> list[CrmSelection]:
        """The static selections the connected user can read, for a picker and to check configured ids."""
        ...


class WebhookRequest(BaseModel):
    """One webhook delivery as the CRM sent it: everything a CRM's signature may cover.

    `url` is the public URL the CRM called (scheme, host, path, query), rebuilt from the configured public base URL
    (`PUBLIC_API_URL`), never from the Host headers the gateway passes inside AWS. `headers` are lower-cased.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    method: str = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    raw_body: bytes = b""

    @field_validator("headers")
    @classmethod
    def _lower_names(cls, headers: dict[str, str]) -> dict[str, str]:
        return {name.lower(): value for name, value in headers.items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WebhookVerifier(Protocol):
    """Stateless webhook checks for one CRM; needs no token, so the intake runs it before anything else.

    Per-connection webhooks (SuperOffice, Salesforce) arrive at `/webhooks/{crm}/{connection_key}` and are checked
    with the connection's secret. A CRM whose webhooks belong to its app (one URL for every account) implements
    `AppWebhookVerifier` as well."""

    def verify(self, request: WebhookRequest, secret: str) -> bool:
        """Constant-time check of the CRM's signature over the request (the raw body, and whatever else it signs)."""
        ...

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        """Raises `WebhookRejected` on a malformed body."""
        ...

    def test_response(self, events: list[WebhookEvent]) -> tuple[int, str, str] | None:
        """(status, content type, body) to answer directly, e.g. a SOAP Ack; None for a plain 200."""
        ...


@runtime_checkable
class AppWebhookVerifier(WebhookVerifier, Protocol):
    """Webhooks of the CRM *app* (HubSpot): one target URL, `/webhooks/{crm}`, for every installed account, signed
    with the app's secret; the intake routes each event to its connection(s) by the event's `account_id`."""

    def app_secret(self) -> str | None:
        """The app's signing secret (HubSpot: the client secret); None when the deployment has none configured."""
        ...

    def is_own_write(self, event: WebhookEvent) -> bool:
        """The event reports a change leadbridge's own app made: never reported back to the app (echo)."""
        ...


class CrmProvider(Protocol):
    """Everything leadbridge knows about one CRM. One instance per process, built from environment settings."""

    name: str  # "superoffice", "salesforce", "hubspot"
    label: str  # "SuperOffice CRM Online"
    profile: CrmProfile  # the fields leadbridge fills itself (owner, stage, status, activity status, country values)
    request_budget: int  # CRM requests one scheduled sync run may send (WorkerConfig.request_budget overrides it)
    metadata_cache: MetadataCachePolicy  # whether exports share this CRM's field metadata, and for how long

    def default_settings(self, objects: Mapping[str, str] | None = None) -> SettingsDocument:
        """The settings a tenant of this CRM starts from (version 0). `objects`: a choice of CRM object per app
        object (`{"company": "Lead"}`): the defaults whose mappings fit it (what the settings propose on a switch)."""
        ...

    def oauth(self) -> OAuthFlow: ...

    def connector(
        self, context: ConnectionContext, tokens: TokenSource, objects: Mapping[str, str] | None = None
    ) -> Connector:
        """`objects`: the settings' CRM object per app object (`{"company": "Lead", ...}`, from
        `SettingsDocument.objects`), for CRMs where the choice changes what the connector writes; None = defaults."""
        ...

    def webhooks(self) -> WebhookVerifier: ...


ProviderFactory = Callable[[], CrmProvider]
_registry: dict[str, ProviderFactory] = {}
_instances: dict[str, CrmProvider] = {}


def register(name: str, factory: ProviderFactory) -> None:
    """Called by each CRM package at import time."""
    _registry[name] = factory


def provider(name: str) -> CrmProvider:
    """The provider for `name`; raises KeyError for a CRM leadbridge does not support."""
    _load_builtin()
    if name not in _instances:
        _instances[name] = _registry[name]()
    return _instances[name]


def unregister(name: str) -> None:
    """Forget a CRM registered with `register` (tests that register a CRM of their own)."""
    _registry.pop(name, None)
    _instances.pop(name, None)


def supported() -> list[str]:
    _load_builtin()
    return sorted(_registry)


def reset_providers() -> None:
    """Forget built providers (tests change environment settings between stacks)."""
    _instances.clear()


def _load_builtin() -> None:
    # Import side effect: each package calls register(). Listed here, not discovered, so a typo fails loudly. Once
    # per process: `provider` and `supported` are asked for every record an inbound sync maps (the CRM's profile).
    global _builtin_loaded
    if _builtin_loaded:
        return
    import importlib

    trace_crm_http()
    for module in ("leadbridge.crm.superoffice", "leadbridge.crm.salesforce", "leadbridge.crm.hubspot"):
        importlib.import_module(module)
    _builtin_loaded = True


_builtin_loaded = False
