"""Salesforce connector (registers itself with leadbridge.crm.base as "salesforce").

Settings (environment):
- `SALESFORCE_CLIENT_ID` — the connected app's consumer key.
- `SALESFORCE_CLIENT_SECRET` (local/dev) or `SALESFORCE_CLIENT_SECRET_NAME` (Secrets Manager secret name; read through
  Powertools parameters with a 5-minute cache, only when a token call needs it).
- `SALESFORCE_LOGIN_BASE` — the login host: `https://login.salesforce.com` (default), `https://test.salesforce.com`
  for sandboxes, or a My Domain URL; `SALESFORCE_ENVIRONMENT` = `production` | `sandbox` | a My Domain name is the
  short form.
- Optional: `SALESFORCE_API_VERSION` (default `v62.0`), `SALESFORCE_SCOPE` (default `api refresh_token`),
  `SALESFORCE_ASSUMED_SESSION_SECONDS` (default 7200: tokens carry no expiry, see oauth.py),
  `SALESFORCE_CONNECT_TIMEOUT` / `SALESFORCE_READ_TIMEOUT` (seconds, default 5 / 30).
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
from leadbridge.crm.salesforce import defaults
from leadbridge.crm.salesforce.client import SalesforceClient
from leadbridge.crm.salesforce.connector import SalesforceConnector
from leadbridge.crm.salesforce.oauth import SalesforceOAuth, login_base_for
from leadbridge.crm.salesforce.webhooks import SalesforceWebhooks
from leadbridge.models.settings import SettingsDocument

__all__ = ["SalesforceConnector", "SalesforceOAuth", "SalesforceProvider", "SalesforceWebhooks"]


class SalesforceProvider:
    name = "salesforce"
    label = "Salesforce"
    profile = defaults.PROFILE
    request_budget = defaults.REQUEST_BUDGET
    metadata_cache = MetadataCachePolicy()  # exports share field metadata for a few minutes

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        login_base: str,
        api_version: str = "v62.0",
        scope: str = "api refresh_token",
        assumed_session_seconds: float = 7200.0,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.login_base = login_base.rstrip("/")
        self.api_version = api_version
        self.timeouts = timeouts or Timeouts()
        self._oauth = SalesforceOAuth(
            client_id=client_id,
            client_secret=client_secret,
            login_base=self.login_base,
            scope=scope,
            api_version=api_version,  # the org name read after a code exchange goes through the same version
            assumed_session_seconds=assumed_session_seconds,
            timeouts=self.timeouts,
            transport=transport,
        )
        self._http = ConnectorHttp(
            "Salesforce", timeouts=self.timeouts, retry=retry, sleep=sleep, rand=rand, transport=transport
        )
        self._webhooks = SalesforceWebhooks()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SalesforceProvider:
        env = os.environ if environ is None else environ
        return cls(
            client_id=env.get("SALESFORCE_CLIENT_ID", ""),
            client_secret=client_secret_from_env(env, "SALESFORCE"),
            login_base=env.get("SALESFORCE_LOGIN_BASE") or login_base_for(env.get("SALESFORCE_ENVIRONMENT", "")),
            api_version=env.get("SALESFORCE_API_VERSION", "v62.0"),
            scope=env.get("SALESFORCE_SCOPE", "api refresh_token"),
            assumed_session_seconds=float(env.get("SALESFORCE_ASSUMED_SESSION_SECONDS", "7200")),
            timeouts=timeouts_from_env(env, "SALESFORCE"),
        )

    def default_settings(self, objects: Mapping[str, str] | None = None) -> SettingsDocument:
        return defaults.default_settings(objects)

    def oauth(self) -> SalesforceOAuth:
        return self._oauth

    def connector(
        self, context: ConnectionContext, tokens: TokenSource, objects: Mapping[str, str] | None = None
    ) -> SalesforceConnector:
        """`objects`: the settings' CRM object per app object (`{"company": "Lead", ...}`); Accounts by default."""
        client = SalesforceClient(instance_url=context.api_base, tokens=tokens, sender=self._http.sender(),
                                  api_version=self.api_version)
        return SalesforceConnector(context=context, client=client, objects=objects)

    def webhooks(self) -> SalesforceWebhooks:
        return self._webhooks


register("salesforce", SalesforceProvider.from_env)
