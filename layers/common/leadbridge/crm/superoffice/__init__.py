"""SuperOffice CRM Online connector (registers itself with leadbridge.crm.base as "superoffice").

Settings (environment):
- `SUPEROFFICE_CLIENT_ID` — the app's Application ID.
- `SUPEROFFICE_CLIENT_SECRET` (local/dev) or `SUPEROFFICE_CLIENT_SECRET_NAME` (Secrets Manager secret name; read
  through Powertools parameters with a 5-minute cache, only when a token call needs it).
- `SUPEROFFICE_ENVIRONMENT` — `sod` | `qaonline` | `online` (→ `https://{env}.superoffice.com`); default `sod`.
- `SUPEROFFICE_LOGIN_BASE` — overrides that host (the local sandbox's `login_base`).
- Optional: `SUPEROFFICE_PAGE_SIZE` (archive page size, default 1000), `SUPEROFFICE_CONNECT_TIMEOUT` /
  `SUPEROFFICE_READ_TIMEOUT` (seconds, default 5 / 30).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping

import httpx

from leadbridge.crm.app_registration import client_secret_from_env, timeouts_from_env
from leadbridge.crm.base import ConnectionContext, TokenSource, register
from leadbridge.crm.http import ConnectorHttp, RetryPolicy, Timeouts
from leadbridge.crm.metadata_cache import MetadataCachePolicy
from leadbridge.crm.superoffice import defaults
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.crm.superoffice.oauth import SuperOfficeOAuth, login_base_for
from leadbridge.crm.superoffice.webhooks import SuperOfficeWebhooks
from leadbridge.models.settings import SettingsDocument

__all__ = ["SuperOfficeConnector", "SuperOfficeOAuth", "SuperOfficeProvider", "SuperOfficeWebhooks"]


class SuperOfficeProvider:
    name = "superoffice"
    label = "SuperOffice CRM Online"
    profile = defaults.PROFILE
    request_budget = defaults.REQUEST_BUDGET
    metadata_cache = MetadataCachePolicy()  # exports share field metadata for a few minutes

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        login_base: str,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.login_base = login_base.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.page_size = page_size
        self._oauth = SuperOfficeOAuth(
            client_id=client_id,
            client_secret=client_secret,
            login_base=self.login_base,
            timeouts=self.timeouts,
            transport=transport,
        )
        self._http = ConnectorHttp(
            "SuperOffice", timeouts=self.timeouts, retry=retry, sleep=sleep, rand=rand, transport=transport
        )
        self._webhooks = SuperOfficeWebhooks()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SuperOfficeProvider:
        env = os.environ if environ is None else environ
        return cls(
            client_id=env.get("SUPEROFFICE_CLIENT_ID", ""),
            client_secret=client_secret_from_env(env, "SUPEROFFICE"),
            login_base=env.get("SUPEROFFICE_LOGIN_BASE") or login_base_for(env.get("SUPEROFFICE_ENVIRONMENT", "sod")),
            timeouts=timeouts_from_env(env, "SUPEROFFICE"),
            page_size=int(env.get("SUPEROFFICE_PAGE_SIZE", "1000")),
        )

    def default_settings(self, objects: Mapping[str, str] | None = None) -> SettingsDocument:
        return defaults.default_settings()  # one choice of objects

    def oauth(self) -> SuperOfficeOAuth:
        return self._oauth

    def connector(
        self, context: ConnectionContext, tokens: TokenSource, objects: Mapping[str, str] | None = None
    ) -> SuperOfficeConnector:
        # `objects` is ignored: SuperOffice's objects are fixed (Contact/Person/Sale/Appointment).
        login_base = str(context.extra.get("login_base") or self.login_base)
        return SuperOfficeConnector(
            context=context, tokens=tokens, login_base=login_base, sender=self._http.sender(), page_size=self.page_size
        )

    def webhooks(self) -> SuperOfficeWebhooks:
        return self._webhooks


register("superoffice", SuperOfficeProvider.from_env)
