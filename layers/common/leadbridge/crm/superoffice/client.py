"""The SuperOffice REST v1 HTTP client: the one place that talks HTTP to a tenant and translates its errors.

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

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from leadbridge.crm.base import TokenSource
from leadbridge.crm.http import RetryingSender
from leadbridge.crm.superoffice.oauth import normalise_api_base
from leadbridge.errors import CrmConflict, CrmNotFound, CrmRejected, CrmUnavailable, NeedsReauth

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
        token = self.tokens.access_token()
        refreshed = rerouted = False
        content = json.dumps(json_body).encode("utf-8") if json_body is not None else None
        while True:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = content_type
            http_request = self.sender.http.build_request(
                method, f"{self._api_base}/v1/{path.lstrip('/')}", params=params, headers=headers, content=content
            )
            response = self.sender.send(op, http_request)
            status = response.status_code
            if status == 401:
                if refreshed:
                    raise NeedsReauth("SuperOffice rejected the access token even after a refresh")
                refreshed = True
                token = self.tokens.refresh_after_unauthorized(token)
                continue
            if status == 421:
                if rerouted:
                    raise CrmUnavailable(f"SuperOffice tenant {self.account_id} is still misdirected after re-routing")
                rerouted = True
                self.resolve_tenant()
                continue
            return self._result(op, response, json_body)

    def resolve_tenant(self) -> str:
        """Ask the Tenant Status API where the tenant lives now; updates and returns `api_base`."""
        request = self.sender.http.build_request(
            "GET", f"{self.login_base}/api/state/{self.account_id}", headers={"Accept": "application/json"}
        )
        response = self.sender.send("tenant.state", request)
        if response.status_code != 200:
            raise CrmUnavailable(f"SuperOffice Tenant Status API answered HTTP {response.status_code}")
        status = _json(response, "tenant.state")
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

    # --- translation ----------------------------------------------------------------------------------------------

    def _result(self, op: str, response: httpx.Response, sent: Any) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return None
            return _json(response, op)
        reason = _error_message(response) or f"HTTP {status}"
        if status == 404:
            raise CrmNotFound(f"SuperOffice {op}: {reason}")
        if status in (409, 412):
            raise CrmConflict(f"SuperOffice {op}: {reason}")
        if status == 403:
            raise CrmRejected(f"SuperOffice refused {op}: {reason}", status=status)
        raise CrmRejected(f"SuperOffice rejected {op}: {reason}", fields=_named_keys(reason, sent), status=status)


def _json(response: httpx.Response, op: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "unknown content type")
        raise CrmUnavailable(f"SuperOffice {op} returned a body that is not JSON ({kind})") from exc


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
