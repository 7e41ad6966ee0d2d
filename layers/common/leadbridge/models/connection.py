"""Connections to CRM accounts: the stored record, the OAuth state item, API contracts and the connection events.

Tokens never appear here: a `Connection` names the Secrets Manager secret that holds the `Grant`, nothing more.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from leadbridge.models.base import DeferredModel

STATE_LIFETIME = timedelta(minutes=10)
MANUAL_SETUP_STATE = "ManualSetupRequired"  # a webhook registration an admin must make in the CRM (Salesforce)


class ConnectionContext(DeferredModel):
    """The non-secret facts about one connection a connector needs to talk to the CRM."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    crm: str
    account_id: str
    api_base: str
    extra: dict[str, Any] = {}
    crm_user_id: str | None = None  # the CRM user leadbridge writes as (tells its own changes from others')


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class WebhookStatus(StrEnum):
    REGISTERED = "registered"
    FAILED = "failed"  # registration failed; the connection still works (polling), the scheduled sync retries
    NONE = "none"  # not registered (never tried, CRM without webhooks, or disconnected)


class Connection(DeferredModel):
    """One tenant's link to one CRM account (item `T#{tenant}` / `CONN#{crm}`)."""

    tenant_id: str
    crm: str
    status: ConnectionStatus
    account_id: str
    account_name: str | None = None
    api_base: str
    secret_name: str
    connected_by: str
    connected_at: datetime  # the last connect or re-authorization
    # The first connect of this CRM account, kept across re-authorizations and reconnects of the same account and
    # reset when another account is connected: activities created before it are not sent. None on records stored
    # before it existed (`connected_since` falls back to `connected_at`).
    first_connected_at: datetime | None = None
    crm_user_id: str | None = None
    crm_user_email: str | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    # Unguessable id in the webhook target URL, so the public intake can find the connection without a tenant claim.
    # Kept while the CRM account stays the same (a URL set up by hand in the CRM keeps working after a reconnect).
    connection_key: str
    webhook_id: str | None = None
    webhook_status: WebhookStatus = WebhookStatus.NONE
    webhook_error: str | None = None
    webhook_secret_name: str | None = None
    webhook_state: str | None = None  # the CRM's state word of the registration, e.g. "ManualSetupRequired"
    webhook_setup_steps: list[str] = Field(default_factory=list)  # what an admin must do in the CRM, if anything
    webhook_events: list[str] = Field(default_factory=list)  # what the registration covers (CRM object or event names)
    next_run_at: datetime | None = None
    disconnected_at: datetime | None = None
    disconnected_by: str | None = None
    updated_at: datetime | None = None

    def context(self) -> ConnectionContext:
        return ConnectionContext(
            tenant_id=self.tenant_id,
            crm=self.crm,
            account_id=self.account_id,
            api_base=self.api_base,
            crm_user_id=self.crm_user_id,
        )

    @property
    def connected_since(self) -> datetime:
        """When this CRM account was first connected (see `first_connected_at`)."""
        return self.first_connected_at or self.connected_at

    @property
    def manual_webhook(self) -> bool:
        """The CRM's webhook is set up (and removed) by an admin in the CRM, not through its API."""
        return self.webhook_state == MANUAL_SETUP_STATE

    @property
    def is_active(self) -> bool:
        """Holds credentials (connected or waiting for re-authorization)."""
        return self.status in (ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_REAUTH)


class OAuthState(DeferredModel):
    """Server-side half of one authorization attempt (item `STATE#{state}`), single use, 10 minutes."""

    model_config = ConfigDict(frozen=True)

    state: str
    tenant_id: str
    user_id: str
    crm: str
    return_url: str
    code_verifier: str
    nonce: str | None = None
    created_at: datetime
    expires_at: datetime
    browser_binding: str | None = None  # sha256 of the cookie set in the browser that started the attempt
    # require_same_email: the app user's e-mail the CRM user's must equal (None: any CRM user may sign in)
    required_email: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


# --- API contracts ---------------------------------------------------------------------------------------------------


class AuthorizeRequest(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where the browser lands after the CRM login; must start with an allowed return URL.",
    )
    require_same_email: bool = Field(
        default=False,
        strict=True,
        description="Refuse the connection unless the CRM user's e-mail equals the app user's (the token's `email` "
        "claim, compared without case): the callback answers `error=email_mismatch` and nothing is stored.",
    )


class AuthorizeResponse(DeferredModel):
    authorization_url: str = Field(
        description="The CRM's sign-in URL: send the browser that made this call there (the connect page does)."
    )
    expires_at: datetime = Field(description="The authorization must be completed before this time.")


class WebhookSetup(DeferredModel):
    """The step an admin must do in the CRM because its webhooks cannot be created through its API (Salesforce
    Outbound Messages). Shown to admins only: `target_url` carries the connection's secret key."""

    required: bool = Field(description="True while the CRM only notifies leadbridge once an admin set this up.")
    state: str | None = Field(default=None, description="The registration state, e.g. `ManualSetupRequired`.")
    target_url: str = Field(description="The endpoint URL to enter in the CRM. Treat it as a secret.")
    objects: list[str] = Field(default_factory=list, description="The CRM objects to notify about.")
    steps: list[str] = Field(default_factory=list, description="What to do in the CRM, in order.")

    @classmethod
    def of(cls, connection: Connection, target_url: str) -> WebhookSetup | None:
        """None unless the connection is active and its registration waits for a manual step."""
        if not connection.is_active or not connection.manual_webhook:
            return None
        return cls(required=True, state=connection.webhook_state, target_url=target_url,
                   objects=list(connection.webhook_events), steps=list(connection.webhook_setup_steps))  # fmt: skip


class ConnectionView(DeferredModel):
    """What the API shows about a connection. Deliberately no token or secret name; the connection key only inside
    `webhook_setup`, which is filled for admins only."""

    crm: str
    status: ConnectionStatus
    account_id: str | None = None
    account_name: str | None = None
    api_base: str | None = None
    connected_by: str | None = None
    connected_at: datetime | None = Field(default=None, description="The last connect or re-authorization.")
    first_connected_at: datetime | None = Field(
        default=None,
        description="The first connect of this CRM account, kept across re-authorizations and reconnects of the same "
        "account (reset when another account is connected). Activities created before it are not sent to the CRM.",
    )
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    webhook_status: WebhookStatus = WebhookStatus.NONE
    webhook_error: str | None = None
    disconnected_at: datetime | None = None
    disconnected_by: str | None = None
    webhook_setup: WebhookSetup | None = Field(
        default=None,
        description="Admins only: set when the CRM's webhook must be set up by hand in the CRM (Salesforce Outbound "
        "Messages), with the endpoint URL and the steps. Absent for members and when nothing is to be done.",
    )

    @classmethod
    def of(cls, connection: Connection, *, webhook_url: str | None = None) -> ConnectionView:
        """`webhook_url` (the target URL with the connection key) only for an admin: it fills `webhook_setup`."""
        view = cls.model_validate(connection.model_dump(include=set(cls.model_fields) - {"webhook_setup"}))
        view.first_connected_at = connection.connected_since
        if webhook_url is not None:
            view.webhook_setup = WebhookSetup.of(connection, webhook_url)
        return view

    @classmethod
    def never_connected(cls, crm: str) -> ConnectionView:
        return cls(crm=crm, status=ConnectionStatus.DISCONNECTED)


class ConnectionList(DeferredModel):
    connections: list[ConnectionView]


class DisconnectResult(DeferredModel):
    connection: ConnectionView
    revoked_at_crm: bool = Field(description="False when the CRM could not be reached to revoke the grant.")
    webhook_removed: bool = Field(
        description="True when no webhook is left at the CRM: it was removed through the CRM's API, or there was "
        "none. False when the removal failed, or when the CRM's webhook was set up by hand and must be removed by "
        "hand (see `webhook_manual_removal`)."
    )
    webhook_manual_removal: list[str] = Field(
        default_factory=list,
        description="For a CRM whose webhook an admin set up by hand (Salesforce Outbound Messages, which cannot be "
        "removed through its API): what to remove in the CRM, in order, or why it may be kept (reconnecting the same "
        "CRM account keeps the endpoint URL valid). Until it is removed the CRM keeps sending; leadbridge "
        "acknowledges and drops each delivery. Empty for CRMs whose webhook leadbridge removes itself.",
    )
    secret_recovery_days: int


# --- events to the app (EventBridge, source "leadbridge") ------------------------------------------------------------


class ConnectionNeedsReauthDetail(DeferredModel):
    """Detail of `ConnectionNeedsReauth`: the CRM refused our refresh token; an admin must connect again."""

    tenant_id: str
    crm: str
    account_id: str
    account_name: str | None = None
    reason: str
    correlation_id: str | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
