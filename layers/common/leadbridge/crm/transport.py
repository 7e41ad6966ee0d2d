"""The one HTTP path from a connector to its CRM's REST API, shared by every CRM package.

- the bearer token comes from the connection's `TokenSource`; a 401 → `refresh_after_unauthorized(token)` once and
  the request is replayed; a second 401 → `NeedsReauth`;
- 429, 5xx, timeouts and connection errors are retried by `RetryingSender` (backoff with jitter, `Retry-After`
  honoured), then `RateLimited` / `CrmUnavailable`;
- every attempt is counted per operation name (`calls`, `request_count()`), which is what sync logs and run budgets
  report;
- the CRM's own rules plug in as hooks: `translate` turns a non-2xx answer into a domain error, `observe` sees every
  answer (e.g. a quota header), and a per-request `replay` says "send it again" after handling an answer itself
  (SuperOffice re-routes after a 421, Salesforce backs off its request limit).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, Unpack

import httpx

from leadbridge.crm.base import TokenSource
from leadbridge.crm.http import RetryingSender
from leadbridge.errors import CrmError, CrmUnavailable, NeedsReauth

# (operation, the non-2xx answer, the JSON body that was sent) → the domain error to raise.
ErrorTranslator = Callable[[str, httpx.Response, Any], CrmError]
# Called with each answer that is not a 401: True sends the request again (the hook did what the answer asked for),
# False hands the answer back; the hook raises when it has given up.
Replay = Callable[[httpx.Response], bool]


class RequestOptions(TypedDict, total=False):
    params: Mapping[str, str] | None
    json_body: Any  # sent as JSON; also what `translate` is given
    content_type: str  # of the JSON body (default application/json)
    headers: Mapping[str, str] | None
    replay: Replay | None


class CrmTransport:
    def __init__(
        self,
        sender: RetryingSender,
        tokens: TokenSource,
        *,
        service: str,
        translate: ErrorTranslator,
        reauth_message: str,
        observe: Callable[[httpx.Response], None] | None = None,
        json_default: Callable[[Any], Any] | None = None,
    ) -> None:
        """`service` names the CRM in messages; `reauth_message` is the `NeedsReauth` for a 401 after a refresh;
        `json_default` encodes values `json` cannot (None: such a value is an error)."""
        self.sender = sender
        self.tokens = tokens
        self.service = service
        self.translate = translate
        self.reauth_message = reauth_message
        self.observe = observe
        self.json_default = json_default

    @property
    def calls(self) -> Counter[str]:
        return self.sender.calls

    def request_count(self) -> int:
        return sum(self.sender.calls.values())

    def request(self, op: str, method: str, url: Callable[[], str], **options: Unpack[RequestOptions]) -> Any:
        """Parsed JSON of a 2xx answer (None for 204 or an empty body); any other answer → `translate`."""
        response = self.send(op, method, url, **options)
        if 200 <= response.status_code < 300:
            return None if response.status_code == 204 or not response.content else self.json(response, op)
        raise self.translate(op, response, options.get("json_body"))

    def send(self, op: str, method: str, url: Callable[[], str], **options: Unpack[RequestOptions]) -> httpx.Response:
        """The first answer that is neither a 401 nor one `replay` sent again. `url` is asked on every attempt, so
        a replay may change where the request goes."""
        json_body, replay, extra_headers = options.get("json_body"), options.get("replay"), options.get("headers")
        token = self.tokens.access_token()
        refreshed = False
        content = json.dumps(json_body, default=self.json_default).encode("utf-8") if json_body is not None else None
        while True:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(extra_headers or {})}
            if content is not None:
                headers["Content-Type"] = options.get("content_type", "application/json")
            request = self.sender.http.build_request(
                method, url(), params=options.get("params"), headers=headers, content=content
            )
            response = self.sender.send(op, request)
            if self.observe is not None:
                self.observe(response)
            if response.status_code == 401:
                if refreshed:
                    raise NeedsReauth(self.reauth_message)
                refreshed = True
                token = self.tokens.refresh_after_unauthorized(token)
                continue
            if replay is not None and replay(response):
                continue
            return response

    def json(self, response: httpx.Response, op: str) -> Any:
        """The body as JSON; a body that is not JSON where JSON is due → `CrmUnavailable` naming its content type."""
        try:
            return response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "unknown content type")
            raise CrmUnavailable(f"{self.service} {op} returned a body that is not JSON ({kind})") from exc
