"""`HubSpotState`: what the HubSpot sandbox knows (apps, portals with their owners, properties and records, OAuth
codes and tokens, request budgets) and the Python admin API over it. State lives in memory behind one lock; the HTTP
apps (app.py, admin_http.py) read and change it; `HubSpotSandbox` (sandbox.py) serves them."""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from local.sandbox.common.shell import SandboxShell
from local.sandbox.hubspot import associations, objects
from local.sandbox.hubspot.model import (
    WRITER,
    AccessToken,
    AccessTokenResponse,
    Change,
    ChangeSource,
    OAuthApp,
    Owner,
    Portal,
    PropertyValue,
    Record,
    RefreshGrant,
)
from local.sandbox.hubspot.properties import OBJECT_BY_TYPE_ID, OBJECT_TYPE_IDS, prop, standard_properties
from local.sandbox.hubspot.ratelimit import Policy, RollingWindow
from local.sandbox.hubspot.webhooks import (
    RETRY_DELAYS,
    Subscription,
    Target,
    WebhookAttempt,
    WebhookDispatcher,
    WebhookFault,
    WebhooksConfig,
    WebhookSettings,
    check_event_type,
)

V1_SHUTDOWN = date(2027, 2, 16)  # §1: /oauth/v1/* shuts off on this day
OBJECTS = tuple(OBJECT_TYPE_IDS)
RateLimitHeaders = Literal["current", "legacy", "both", "none"]
IntrospectStyle = Literal["rfc7662", "v1"]


class HubSpotState(SandboxShell):
    """The sandbox's state and admin API. Call counts are per hub id by operation (`call_counts(hub_id)` →
    `{"POST /crm/v3/objects/contacts": 1}`), or under "oauth" for the token endpoints.

    Options (the reference's **unconfirmed** points are options, defaults in brackets):
    - `clock` [time.time]: every timestamp, token expiry and rate window reads it; tests pass a settable one.
    - `today` [the clock's UTC date]: the day the v1 OAuth endpoints compare with `v1_shutdown` [2027-02-16].
    - `token_ttl` [1800 s], `code_ttl` [600 s].
    - `rotate_refresh_tokens` [False]: a refresh answers a new refresh token and retires the old one.
    - `require_pkce` [False]: authorize without `code_challenge` is refused (PKCE on authorize is unconfirmed).
    - `introspect_style` ["rfc7662"]: introspect answers RFC 7662 fields, or "v1" the v1 token-info fields.
    - `rate_limit` [110 per 10 s per installed account], `search_rate_limit` [5 per 1 s per account].
    - `rate_limit_headers` ["current"]: `X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`; "legacy"
      `-Secondly/-Secondly-Remaining`; "both"; "none". Search answers carry none either way.
    - `search_index_lag` [0 s]: a write reaches search this long after it (the reference gives no magnitude).
    - `list_limit_max` [100]: `limit` above it on a list is a 400 (None: no cap).
    - `webhook_retry_delays` [1 min doubling, 10 retries]: the waits before each webhook retry (§6.3 gives only
      "up to 10 retries over 24 h"); events older than 24 h are dropped either way.
    - `webhook_background` [False]: deliver webhooks from a background thread every `webhook_poll` [0.2] seconds
      (else only on `tick_webhooks()`, what tests on a settable clock want).
    - `app_port`, `api_port` [0 = ephemeral].
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        today: Callable[[], date] | None = None,
        v1_shutdown: date = V1_SHUTDOWN,
        token_ttl: int = 1800,
        code_ttl: int = 600,
        rotate_refresh_tokens: bool = False,
        require_pkce: bool = False,
        introspect_style: IntrospectStyle = "rfc7662",
        rate_limit: tuple[int, float] = (110, 10.0),
        search_rate_limit: tuple[int, float] = (5, 1.0),
        rate_limit_headers: RateLimitHeaders = "current",
        list_limit_max: int | None = 100,
        search_index_lag: float = 0.0,
        webhook_retry_delays: tuple[float, ...] = RETRY_DELAYS,
        webhook_background: bool = False,
        webhook_poll: float = 0.2,
        app_port: int = 0,
        api_port: int = 0,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.today = today or (lambda: datetime.fromtimestamp(self.clock(), UTC).date())
        self.v1_shutdown = v1_shutdown
        self.token_ttl = token_ttl
        self.code_ttl = code_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.require_pkce = require_pkce
        self.introspect_style: IntrospectStyle = introspect_style
        self.rate_limit_headers: RateLimitHeaders = rate_limit_headers
        self.list_limit_max = list_limit_max
        self.search_index_lag = search_index_lag
        self.general_limit = RollingWindow(Policy("TEN_SECONDLY_ROLLING", *rate_limit), clock)
        self.search_limit = RollingWindow(Policy("SECONDLY", *search_rate_limit), clock)
        self.app_port = app_port
        self.api_port = api_port
        self.webhooks = WebhookDispatcher(lock=self.lock, clock=clock, target_of=self._webhook_target,
                                          retry_delays=webhook_retry_delays)
        self.webhook_background = webhook_background
        self.webhook_poll = webhook_poll
        self._clear_state()
        self.serve_hosts()

    def start_workers(self) -> None:
        if self.webhook_background:
            self.webhooks.start(self.tick_webhooks, self.webhook_poll)

    def stop_workers(self) -> None:
        self.webhooks.stop()

    def serve_hosts(self) -> None:
        """Register the "app" (app.hubspot.com) and "api" (api.hubapi.com) hosts: `HubSpotSandbox` does."""

    @property
    def app_base(self) -> str:
        """Plays `https://app.hubspot.com`: the authorize page and the admin API."""
        return self.host_url("app")

    @property
    def api_base(self) -> str:
        """Plays `https://api.hubapi.com`: token endpoints and the CRM API."""
        return self.host_url("api")

    def _clear_state(self) -> None:
        self.apps: dict[str, OAuthApp] = {}
        self.portals: dict[int, Portal] = {}
        self.codes: dict[str, Any] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}
        self.webhook_settings: dict[str, WebhookSettings] = {}  # client id -> target URL and subscriptions
        self.webhooks.clear()
        self._subscription_ids = itertools.count(3_923_621)
        self._event_ids = itertools.count(531_833_541)
        self._hub_ids = itertools.count(48_807_701)
        self._app_ids = itertools.count(16_111_050)
        self._user_ids = itertools.count(76_023_601)
        self._owner_ids = itertools.count(110_000_001)
        self._record_ids = itertools.count(138_017_612_001)
        self.general_limit.reset()
        self.search_limit.reset()

    def reset(self) -> None:
        """Forget everything: apps, portals, tokens, request budgets, faults, call counts."""
        with self.lock:
            self._clear_state()
        super().reset()

    def call_counts(self, scope: str | int) -> dict[str, int]:
        return super().call_counts(str(scope))

    # --- apps, portals, owners, properties ---------------------------------------------------------------------

    def register_app(self, redirect_uris: list[str], client_id: str | None = None, client_secret: str | None = None,
                     scopes: list[str] | None = None, *, name: str = "leadbridge") -> OAuthApp:
        """An OAuth app; `scopes` are those its settings allow (a request for another is refused on authorize)."""
        app = OAuthApp(client_id or secrets.token_hex(18), client_secret or secrets.token_hex(18),
                       list(redirect_uris), list(scopes or []), next(self._app_ids), name)
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def add_portal(self, name: str = "Sandbox Portal", *, hub_id: int | None = None,
                   time_zone: str = "Europe/Copenhagen", domain: str | None = None) -> Portal:
        with self.lock:
            hub = hub_id or next(self._hub_ids)
            if hub in self.portals:
                raise ValueError(f"hub {hub} exists")
            portal = Portal(hub, name, time_zone, domain or f"{name.lower().replace(' ', '')}.example",
                            records={obj: {} for obj in OBJECTS},
                            custom_properties={obj: {} for obj in OBJECTS},
                            association_types=associations.default_types())
            self.portals[hub] = portal
        return portal

    def portal(self, hub_id: int) -> Portal:
        with self.lock:
            return self.portals[hub_id]

    def add_user(self, hub_id: int, email: str, first_name: str = "", last_name: str = "") -> Owner:
        """A user of the portal and the owner record that goes with it (`id` ≠ `userId`)."""
        with self.lock:
            portal = self.portals[hub_id]
            owner = Owner(str(next(self._owner_ids)), next(self._user_ids), email, first_name, last_name,
                          self.clock())
            portal.owners[owner.id] = owner
        return owner

    def find_user(self, email: str) -> tuple[Portal, Owner] | None:
        with self.lock:
            for portal in self.portals.values():
                for owner in portal.owners.values():
                    if owner.email.lower() == email.lower():
                        return portal, owner
        return None

    def add_property(self, hub_id: int, object_type: str, name: str, label: str, type_: str = "string",
                     field_type: str = "text", *, options: list[tuple[str, str]] | None = None,
                     read_only: bool = False, calculated: bool = False, unique: bool = False,
                     group: str | None = None, description: str = "") -> dict[str, Any]:
        """A custom property (e.g. a CVR number on companies); `options` are (value, label) pairs; a `unique` one
        can be an `idProperty`."""
        from local.sandbox.hubspot.properties import options as make_options

        obj = object_name(object_type)
        definition = prop(name, label, type_, field_type, opts=make_options(*(options or [])), read_only=read_only,
                          calculated=calculated, unique=unique, hubspot_defined=False,
                          group=group or f"{obj[:-1]}information")
        definition["description"] = description
        with self.lock:
            if name in self.property_defs(hub_id, obj):
                raise ValueError(f"property {name} exists on {obj}")
            self.portals[hub_id].custom_properties[obj][name] = definition
        return definition

    def property_defs(self, hub_id: int, object_type: str) -> dict[str, dict[str, Any]]:
        obj = object_name(object_type)
        with self.lock:
            custom = self.portals[hub_id].custom_properties[obj]
            defs = standard_properties()[obj]
            defs.update(copy.deepcopy(custom))
            if "hubspot_owner_id" in defs:  # the owner property's options are the portal's owners
                defs["hubspot_owner_id"]["options"] = [
                    {"label": f"{o.first_name} {o.last_name}".strip() or o.email, "value": o.id, "description": "",
                     "displayOrder": i, "hidden": False}
                    for i, o in enumerate(self.portals[hub_id].owners.values())]
            return defs

    # --- records (admin: validated as the API validates) --------------------------------------------------------

    # Admin writes play a user's edits in the CRM: their webhook events carry `changeSource: CRM_UI` and
    # `sourceId: userId:<user id>` (of `user_id`, else the portal's first user).

    def _as_user(self, hub_id: int, user_id: int | None) -> ChangeSource:
        if user_id is None:
            user_id = next((o.user_id for o in self.portals[hub_id].owners.values()), None)
        return ChangeSource("CRM_UI", f"userId:{user_id}" if user_id is not None else None)

    def add_record(self, hub_id: int, object_type: str, properties: dict[str, PropertyValue], *,
                   user_id: int | None = None) -> Record:
        return self.add_records(hub_id, object_type, [properties], user_id=user_id)[0]

    def add_records(self, hub_id: int, object_type: str, many: list[dict[str, PropertyValue]], *,
                    user_id: int | None = None) -> list[Record]:
        """Many records at once (e.g. the 10,001 a search-cap test needs), validated as the API validates."""
        obj = object_name(object_type)
        with self.lock:
            portal = self.portals[hub_id]
            defs = self.property_defs(hub_id, obj)
            writer = WRITER.set(self._as_user(hub_id, user_id))
            try:
                return [objects.create(portal, obj, defs, values, self.next_record_id(), self.clock())
                        for values in many]
            finally:
                WRITER.reset(writer)

    def update_record(self, hub_id: int, object_type: str, record_id: str, properties: dict[str, PropertyValue],
                      *, user_id: int | None = None) -> Record:
        obj = object_name(object_type)
        with self.lock:
            portal = self.portals[hub_id]
            writer = WRITER.set(self._as_user(hub_id, user_id))
            try:
                return objects.update(portal, obj, self.property_defs(hub_id, obj),
                                      objects.find(portal, obj, record_id), properties, self.clock())
            finally:
                WRITER.reset(writer)

    def archive_record(self, hub_id: int, object_type: str, record_id: str, *, user_id: int | None = None) -> None:
        obj = object_name(object_type)
        with self.lock:
            portal = self.portals[hub_id]
            writer = WRITER.set(self._as_user(hub_id, user_id))
            try:
                objects.archive(portal, obj, objects.find(portal, obj, record_id), self.clock())
            finally:
                WRITER.reset(writer)

    def associate(self, hub_id: int, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """A default (primary) association both ways, as a CRM user links two records (demo data, tests)."""
        from local.sandbox.hubspot import associations as edges

        with self.lock:
            edges.associate(self.portals[hub_id], object_name(from_type), from_id, object_name(to_type), to_id)

    def records(self, hub_id: int, object_type: str, *, archived: bool = False) -> list[Record]:
        obj = object_name(object_type)
        with self.lock:
            return [r for r in self.portals[hub_id].records[obj].values() if (r.archived_at is not None) == archived]

    def next_record_id(self) -> str:
        with self.lock:
            return str(next(self._record_ids))

    # --- tokens -------------------------------------------------------------------------------------------------

    def issue_tokens(self, client_id: str, hub_id: int, user_id: int, scopes: list[str],
                     refresh_token: str | None = None) -> dict[str, Any]:
        """A token answer (§1) for `user_id` of `hub_id`; a new refresh grant unless one is given."""
        with self.lock:
            if refresh_token is None:
                refresh_token = secrets.token_hex(18)
                self.refresh_grants[refresh_token] = RefreshGrant(refresh_token, client_id, hub_id, user_id,
                                                                  list(scopes))
            now = self.clock()
            access = AccessToken("CO" + secrets.token_urlsafe(48), client_id, hub_id, user_id, list(scopes), now,
                                 now + self.token_ttl, refresh_token)
            self.tokens[access.token] = access
            return AccessTokenResponse(access_token=access.token, refresh_token=refresh_token,
                                       expires_in=self.token_ttl, token_type="bearer", token_use="access_token",
                                       hub_id=hub_id, user_id=user_id, scopes=list(scopes)).model_dump(
                                           exclude_none=True)

    def access_for(self, token: str) -> AccessToken | None:
        """The live access token, None when unknown, revoked or expired."""
        with self.lock:
            access = self.tokens.get(token)
            if access is None or access.revoked or self.clock() >= access.expires_at:
                return None
            return access

    def expire_tokens(self, hub_id: int) -> None:
        """Every access token of the portal answers 401 from now on (refresh tokens keep working)."""
        with self.lock:
            for access in self.tokens.values():
                if access.hub_id == hub_id:
                    access.expires_at = self.clock()

    # --- webhooks (§6) ------------------------------------------------------------------------------------------

    def configure_webhooks(self, client_id: str, hsmeta: dict[str, Any]) -> WebhookSettings:
        """Settings and subscriptions from a project app's `webhooks/*-hsmeta.json` (the whole file or its `config`),
        replacing the app's; ValueError for a subscription the sandbox cannot serve."""
        config = WebhooksConfig.model_validate(hsmeta.get("config", hsmeta))
        settings = WebhookSettings(config.settings.targetUrl, config.settings.maxConcurrentRequests)
        with self.lock:
            if client_id not in self.apps:
                raise KeyError(f"no app {client_id}")
            for sub in config.subscriptions.legacyCrmObjects:
                type_id = check_event_type(sub.subscriptionType, sub.propertyName)
                settings.subscriptions.append(Subscription(next(self._subscription_ids), sub.subscriptionType,
                                                           sub.propertyName, sub.active, type_id))
            for sub in config.subscriptions.crmObjects:
                type_id = check_event_type(sub.subscriptionType, sub.propertyName, sub.objectType)
                settings.subscriptions.append(Subscription(next(self._subscription_ids), sub.subscriptionType,
                                                           sub.propertyName, sub.active, type_id))
            self.webhook_settings[client_id] = settings
        return settings

    def set_webhook_target(self, client_id: str, target_url: str, max_concurrent_requests: int = 10) -> None:
        """The v3 settings (`targetUrl`, `throttling.maxConcurrentRequests`); subscriptions are kept."""
        with self.lock:
            if client_id not in self.apps:
                raise KeyError(f"no app {client_id}")
            current = self.webhook_settings.get(client_id)
            self.webhook_settings[client_id] = WebhookSettings(
                target_url, max_concurrent_requests, current.subscriptions if current else [])

    def subscribe(self, client_id: str, event_type: str, property_name: str | None = None, *,
                  active: bool = True) -> Subscription:
        """A v3 subscription (`contact.creation`, `company.propertyChange` + `property_name`, `deal.deletion`, ...);
        the app needs its target URL first (`set_webhook_target`)."""
        type_id = check_event_type(event_type, property_name)
        with self.lock:
            settings = self.webhook_settings[client_id]
            sub = Subscription(next(self._subscription_ids), event_type, property_name, active, type_id)
            settings.subscriptions.append(sub)
            return sub

    def subscription(self, client_id: str, subscription_id: int) -> Subscription:
        with self.lock:
            settings = self.webhook_settings.get(client_id)
            found = next((s for s in settings.subscriptions if s.id == subscription_id), None) if settings else None
            if found is None:
                raise KeyError(f"no subscription {subscription_id}")
            return found

    def set_subscription_active(self, client_id: str, subscription_id: int, active: bool) -> Subscription:
        with self.lock:
            found = self.subscription(client_id, subscription_id)
            found.active = active
            return found

    def unsubscribe(self, client_id: str, subscription_id: int) -> None:
        with self.lock:
            found = self.subscription(client_id, subscription_id)
            self.webhook_settings[client_id].subscriptions.remove(found)

    def clear_webhook_settings(self, client_id: str) -> None:
        """No target URL any more: nothing is delivered (queued batches are dropped); subscriptions go too."""
        with self.lock:
            self.webhook_settings.pop(client_id, None)

    def _webhook_target(self, client_id: str) -> Target | None:
        with self.lock:
            settings = self.webhook_settings.get(client_id)
            app = self.apps.get(client_id)
            if settings is None or app is None:
                return None
            return Target(settings.target_url, app.client_secret, settings.max_concurrent_requests)

    def _installed_apps(self, hub_id: int) -> list[str]:
        return sorted({g.client_id for g in self.refresh_grants.values() if g.hub_id == hub_id and not g.revoked})

    def _fan_out(self) -> None:
        """Turn the writes the portals noted into events for the subscriptions of the apps installed there."""
        with self.lock:
            for portal in self.portals.values():
                changes, portal.changes = portal.changes, []
                for client_id in self._installed_apps(portal.hub_id):
                    settings = self.webhook_settings.get(client_id)
                    if settings is None:
                        continue
                    app_id = self.apps[client_id].app_id
                    events = [self._event(portal.hub_id, app_id, sub, change)
                              for change in changes for sub in settings.subscriptions if sub.matches(change)]
                    if events:
                        self.webhooks.enqueue(client_id, portal.hub_id, events)

    def _event(self, hub_id: int, app_id: int, sub: Subscription, change: Change) -> dict[str, Any]:
        """One event as §6.2 shows it (`attemptNumber` is set per delivery)."""
        event: dict[str, Any] = {"eventId": next(self._event_ids), "subscriptionId": sub.id, "portalId": hub_id,
                                 "appId": app_id, "occurredAt": int(change.at * 1000),
                                 "subscriptionType": sub.event_type, "attemptNumber": 0,
                                 "objectId": int(change.object_id)}
        if sub.object_type_id is not None:
            event["objectTypeId"] = sub.object_type_id
        if change.kind == "propertyChange":
            event.update(propertyName=change.property_name, propertyValue=change.property_value)
        else:  # CREATED per §6.2; DELETED for a deletion is the sandbox's choice
            event["changeFlag"] = "CREATED" if change.kind == "creation" else "DELETED"
        event["changeSource"] = change.source.change_source
        if change.source.source_id is not None:
            event["sourceId"] = change.source.source_id
        return event

    def pending_webhook_events(self) -> list[dict[str, Any]]:
        """Events queued for delivery (new ones and those waiting for a retry)."""
        self._fan_out()
        return self.webhooks.pending()

    def tick_webhooks(self) -> list[WebhookAttempt]:
        """Deliver what is due now (new events, retries whose wait has passed); the POSTs made."""
        self._fan_out()
        return self.webhooks.tick()

    def add_webhook_fault(self, kind: WebhookFault, count: int = 1) -> None:
        """The next `count` webhook POSTs go wrong: `stale_timestamp` (signed, but 301 s old), `bad_signature`,
        `duplicate_event` (the first event twice), `out_of_order` (the batch reversed)."""
        self.webhooks.add_fault(kind, count)

    def webhook_attempts(self) -> list[WebhookAttempt]:
        with self.lock:
            return list(self.webhooks.attempts)

    def dropped_webhook_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.webhooks.dropped)

    def v1_available(self) -> bool:
        return self.today() < self.v1_shutdown


def object_name(object_type: str) -> str:
    """`contacts` or its type id `0-1` → `contacts`; KeyError for an object the sandbox does not have."""
    name = OBJECT_BY_TYPE_ID.get(object_type, object_type.lower())
    if name not in OBJECT_TYPE_IDS:
        raise KeyError(object_type)
    return name
