"""HubSpot connector (registers itself with leadbridge.crm.base as "hubspot").

Settings (environment):
- `HUBSPOT_CLIENT_ID` — the app's client id; `HUBSPOT_CLIENT_SECRET` (local/dev) or `HUBSPOT_CLIENT_SECRET_NAME`
  (Secrets Manager, read only when a token call or a webhook check needs it): `crm/app_registration.py`.
- `HUBSPOT_APP_ID` — the app's id: webhook events carry it (`appId`), and `sourceId` of our own writes names it.
- `HUBSPOT_API_BASE` (default `https://api.hubapi.com`), `HUBSPOT_APP_BASE` (default `https://app.hubspot.com`: the
  authorize page and record links).
- `HUBSPOT_WEBHOOK_URL` — the app's one webhook target (default `{PUBLIC_API_URL}/webhooks/hubspot`).
- Optional: `HUBSPOT_CHANGES_LOOKBACK_SECONDS` (default 120: how far before `since` a change read starts, for search
  indexing lag), `HUBSPOT_CONNECT_TIMEOUT` / `HUBSPOT_READ_TIMEOUT` (seconds, default 5 / 30).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from leadbridge.crm.app_registration import client_secret_from_env, timeouts_from_env
from leadbridge.crm.base import ConnectionContext, TokenSource, register
from leadbridge.crm.http import RETRYABLE_STATUSES, ConnectorHttp, RetryPolicy, Timeouts
from leadbridge.crm.hubspot import defaults, pacing
from leadbridge.crm.hubspot.client import HubSpotClient
from leadbridge.crm.hubspot.connector import SEARCH_CAP, SEARCH_PAGE, HubSpotConnector
from leadbridge.crm.hubspot.oauth import API_BASE, APP_BASE, HubSpotOAuth
from leadbridge.crm.hubspot.webhooks import HubSpotWebhooks
from leadbridge.crm.metadata_cache import MetadataCachePolicy

if TYPE_CHECKING:  # the settings models load when a tenant's defaults are built, not for a webhook's verification
    from leadbridge.models.settings import SettingsDocument

__all__ = ["HubSpotConnector", "HubSpotOAuth", "HubSpotProvider", "HubSpotWebhooks"]

# 429 and 423 are the client's own (pacing, the DAILY policy, the 2 s lock wait); the sender retries 5xx and timeouts.
SENDER_RETRIES = RETRYABLE_STATUSES - {429}


class HubSpotProvider:
    name = "hubspot"
    label = "HubSpot"
    profile = defaults.PROFILE
    request_budget = defaults.REQUEST_BUDGET
    metadata_cache = MetadataCachePolicy()  # exports share properties and association types for a few minutes

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        app_id: str | None = None,
        api_base: str = API_BASE,
        app_base: str = APP_BASE,
        webhook_url: str = "",
        lookback_seconds: float = 120.0,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        search_page: int = SEARCH_PAGE,
        search_cap: int = SEARCH_CAP,
    ) -> None:
        """`clock` and `sleep` pace requests per account (`pacing.py`); tests pass a settable clock whose sleep moves
        it. `search_page` / `search_cap`: HubSpot's 200 and 10,000 (smaller in tests, to cross the cap quickly)."""
        self.api_base = api_base.rstrip("/")
        self.app_base = app_base.rstrip("/")
        self.app_id = app_id
        self.webhook_url = webhook_url
        self.lookback = timedelta(seconds=lookback_seconds)
        self.timeouts = timeouts or Timeouts()
        self.clock = clock
        self.search_page = search_page
        self.search_cap = search_cap
        self._oauth = HubSpotOAuth(client_id=client_id, client_secret=client_secret, api_base=self.api_base,
                                   app_base=self.app_base, timeouts=self.timeouts, transport=transport)  # fmt: skip
        policy = retry or RetryPolicy()
        self._http = ConnectorHttp(
            "HubSpot", timeouts=self.timeouts, sleep=sleep, rand=rand, transport=transport,
            retry=RetryPolicy(policy.max_attempts, policy.base_delay, policy.max_delay, policy.max_total_wait,
                              policy.retry_statuses & SENDER_RETRIES),
        )  # fmt: skip
        self._webhooks = HubSpotWebhooks(app_id=app_id, client_secret=client_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSpotProvider:
        env = os.environ if environ is None else environ
        public = env.get("PUBLIC_API_URL", "").rstrip("/")
        return cls(
            client_id=env.get("HUBSPOT_CLIENT_ID", ""),
            client_secret=client_secret_from_env(env, "HUBSPOT"),
            app_id=env.get("HUBSPOT_APP_ID") or None,
            api_base=env.get("HUBSPOT_API_BASE") or API_BASE,
            app_base=env.get("HUBSPOT_APP_BASE") or APP_BASE,
            webhook_url=env.get("HUBSPOT_WEBHOOK_URL") or (f"{public}/webhooks/hubspot" if public else ""),
            lookback_seconds=float(env.get("HUBSPOT_CHANGES_LOOKBACK_SECONDS", "120")),
            timeouts=timeouts_from_env(env, "HUBSPOT"),
        )

    def default_settings(self, objects: Mapping[str, str] | None = None) -> SettingsDocument:
        return defaults.default_settings(objects)

    def oauth(self) -> HubSpotOAuth:
        return self._oauth

    def connector(
        self, context: ConnectionContext, tokens: TokenSource, objects: Mapping[str, str] | None = None
    ) -> HubSpotConnector:
        """`objects` is ignored: HubSpot has one object per app object."""
        sender = self._http.sender()
        client = HubSpotClient(api_base=context.api_base or self.api_base, tokens=tokens, sender=sender,
                               limits=pacing.for_account(context.account_id, clock=self.clock))  # fmt: skip
        return HubSpotConnector(context=context, client=client, app_base=self.app_base, webhook_url=self.webhook_url,
                                lookback=self.lookback, search_page=self.search_page,
                                search_cap=self.search_cap)  # fmt: skip

    def webhooks(self) -> HubSpotWebhooks:
        return self._webhooks


register("hubspot", HubSpotProvider.from_env)
