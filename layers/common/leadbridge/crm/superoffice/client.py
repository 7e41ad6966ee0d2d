"""The SuperOffice REST v1 HTTP client: SuperOffice's rules on top of the shared `CrmTransport` (bearer token, one
refresh on 401, retries, call counting), and the translation of its errors.

- Base URL: the tenant's web API base (`https://sod2.superoffice.com/Cust12345/api`); requests go to `{base}/v1/...`.
- 401 → `TokenSource.refresh_after_unauthorized(token)` once and replay; a second 401 → `NeedsReauth`.
- 421 (wrong numbered host) → re-query the Tenant Status API `{login_base}/api/state/{ctx}`, take its `Api` as the
  new base, replay once. A tenant that is not Running/OnlineMaintenance → `CrmUnavailable` naming the state.
- 429/5xx/timeouts/connection errors → retried by `RetryingSender` (backoff + jitter, Retry-After), then
  `RateLimited` / `CrmUnavailable`.
- 404 → `CrmNotFound`; 409/412 → `CrmConflict`; 400 and other 4xx → `CrmRejected` with SuperOffice's `ErrorMessage`;
  a body that is not JSON where JSON is due → `CrmUnavailable`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from leadbridge.crm.base import TokenSource
from leadbridge.crm.http import RetryingSender
from leadbridge.crm.superoffice.oauth import normalise_api_base
from leadbridge.crm.transport import CrmTransport, Replay
from leadbridge.errors import CrmConflict, CrmError, CrmNotFound, CrmRejected, CrmUnavailable

log = logging.getLogger(__name__)

USABLE_TENANT_STATES = frozenset({"Running", "OnlineMaintenance"})
_MAX_REASON = 500


class SuperOfficeClient:
    def __init__(
        self,
        *,
        api_base: str,
        account_id: str,
        login_base: str,
        tokens: TokenSource,
        sender: RetryingSender,
    ) -> None:
        self._api_base = normalise_api_base(api_base)
        self.account_id = account_id
        self.login_base = login_base.rstrip("/")
        self.tokens = tokens
        self.sender = sender
        self.transport = CrmTransport(
            sender,
            tokens,
            service="SuperOffice",
            translate=_translate,
            reauth_message="SuperOffice rejected the access token even after a refresh",
        )
        self.tenant_state: str | None = None

    @property
    def api_base(self) -> str:
        """The current tenant API base; changes after a 421 re-resolution (the caller persists it)."""
        return self._api_base

    @property
    def calls(self) -> Any:
        return self.sender.calls

    # --- requests -------------------------------------------------------------------------------------------------

    def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """Parsed JSON of a 2xx response (None for 204). `path` is relative to `{api_base}/v1/`."""
        return self.transport.request(
            op,
            method,
            lambda: f"{self._api_base}/v1/{path.lstrip('/')}",  # the base changes when a 421 re-routes
            params=params,
            json_body=json_body,
            content_type=content_type,
            replay=self._reroute_once(),
        )

    def _reroute_once(self) -> Replay:
        """421 (wrong numbered host) → ask the Tenant Status API where the tenant lives and replay, once."""
        rerouted = False

        def replay(response: httpx.Response) -> bool:
            nonlocal rerouted
            if response.status_code != 421:
                return False
            if rerouted:
                raise CrmUnavailable(f"SuperOffice tenant {self.account_id} is still misdirected after re-routing")
            rerouted = True
            self.resolve_tenant()
            return True

        return replay

    def resolve_tenant(self) -> str:
        """Ask the Tenant Status API where the tenant lives now; updates and returns `api_base`."""
        request = self.sender.http.build_request(
            "GET", f"{self.login_base}/api/state/{self.account_id}", headers={"Accept": "application/json"}
        )
        response = self.sender.send("tenant.state", request)
        if response.status_code != 200:
            raise CrmUnavailable(f"SuperOffice Tenant Status API answered HTTP {response.status_code}")
        status = self.transport.json(response, "tenant.state")
        if not isinstance(status, dict):
            raise CrmUnavailable("SuperOffice Tenant Status API returned an unexpected body")
        state = str(status.get("State") or "Unknown")
        self.tenant_state = state
        if state not in USABLE_TENANT_STATES:
            raise CrmUnavailable(f"SuperOffice tenant {self.account_id} is {state}; its API is not usable now")
        api = status.get("Api") or (f"{status['Endpoint']}/api" if status.get("Endpoint") else None)
        if not api:
            raise CrmUnavailable("SuperOffice Tenant Status API gave no API address")
        new_base = normalise_api_base(str(api))
        if new_base != self._api_base:
            log.info("SuperOffice tenant %s moved to %s", self.account_id, new_base)
        self._api_base = new_base
        return new_base


def _translate(op: str, response: httpx.Response, sent: Any) -> CrmError:
    """A non-2xx SuperOffice answer as a domain error."""
    status = response.status_code
    reason = _error_message(response) or f"HTTP {status}"
    if status == 404:
        return CrmNotFound(f"SuperOffice {op}: {reason}")
    if status in (409, 412):
        return CrmConflict(f"SuperOffice {op}: {reason}")
    if status == 403:
        return CrmRejected(f"SuperOffice refused {op}: {reason}", status=status)
    return CrmRejected(f"SuperOffice rejected {op}: {reason}", fields=_named_keys(reason, sent), status=status)


def _error_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:_MAX_REASON] if text and "<" not in text[:1] else None
    if isinstance(body, dict):
        for key in ("ErrorMessage", "Message", "error_description", "error"):
            if body.get(key):
                return str(body[key])[:_MAX_REASON]
    return None


def _named_keys(reason: str, sent: Any) -> list[str]:
    """Top-level JSON keys of what we sent that SuperOffice's message mentions."""
    keys: list[str] = []
    if isinstance(sent, dict):
        keys = list(sent)
    elif isinstance(sent, list):
        keys = [str(op.get("path", "")).lstrip("/").split("/")[0] for op in sent if isinstance(op, dict)]
    return [k for k in dict.fromkeys(keys) if k and re.search(rf"\b{re.escape(k)}\b", reason, re.IGNORECASE)]
