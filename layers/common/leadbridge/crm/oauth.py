"""The OAuth client every CRM's `OAuthFlow` builds on: authlib's httpx `OAuth2Client` for one app registration
(client id, a secret read only when a token call needs it, PKCE S256, `client_secret_post`), and one token-endpoint
call with one translation of its failures.

Token-endpoint failures: the CRM's `refused` hook decides which answers mean the grant is gone (`NeedsReauth`: the
user must connect again); every other OAuth error or HTTP status, an unreachable endpoint and an unreadable body are
`CrmUnavailable` (try again later). What follows a token answer (id_token validation, signatures, the grant's
fields) stays with each CRM.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    # authlib 1.9 warns at import that its httpx client moves to `httpx2`; httpx is this project's dependency, and the
    # warning would be a line in every cold start's log. Every leadbridge module takes the client from here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client as OAuth2Client  # re-exported

from leadbridge.crm.base import AuthorizationRequest
from leadbridge.crm.http import Timeouts
from leadbridge.errors import CrmUnavailable, NeedsReauth

# An OAuth error answer (`error` set) or an HTTP error status from the token endpoint → NeedsReauth, or None when it
# is not a refusal of the grant.
RefusalCheck = Callable[[OAuthError | httpx.HTTPStatusError], NeedsReauth | None]


class OAuthClientBuilder:
    def __init__(
        self,
        *,
        service: str,
        client_id: str,
        client_secret: str | Callable[[], str],
        scope: str,
        timeouts: Timeouts,
        transport: httpx.BaseTransport | None = None,
        revocation_endpoint_auth_method: str | None = None,
        calls: Counter[str] | None = None,
    ) -> None:
        """`service` names the CRM in messages; `calls` counts token calls per operation name."""
        self.service = service
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.timeouts = timeouts
        self.transport = transport
        self.revocation_endpoint_auth_method = revocation_endpoint_auth_method
        self.calls: Counter[str] = calls if calls is not None else Counter()

    @property
    def client_secret(self) -> str:
        # A callable defers the Secrets Manager read until a token call needs it.
        return self._client_secret() if callable(self._client_secret) else self._client_secret

    def client(self, redirect_uri: str | None = None) -> OAuth2Client:
        """With `redirect_uri`: the browser leg (authorize URL; no secret needed). Without: token and revocation
        calls, authenticated with the secret in the form body."""
        extra: dict[str, Any] = {}
        if self.revocation_endpoint_auth_method is not None:
            extra["revocation_endpoint_auth_method"] = self.revocation_endpoint_auth_method
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret if redirect_uri is None else None,
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post",
            timeout=self.timeouts.to_httpx(),
            transport=self.transport,
            **extra,
        )

    def authorization_request(
        self, authorize_url: str, *, redirect_uri: str, state: str | None, oidc: bool = False
    ) -> AuthorizationRequest:
        """The browser's authorize URL with a fresh state (unless given) and PKCE S256 verifier; `oidc` adds the
        nonce an OpenID Connect provider echoes in its id_token."""
        verifier = generate_token(64)
        nonce = generate_token(32) if oidc else None
        with self.client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                authorize_url, state=state or generate_token(32), code_verifier=verifier,
                **({"nonce": nonce} if nonce else {}),
            )  # fmt: skip
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier, nonce=nonce)

    def http(self) -> httpx.Client:
        """A plain client with the same timeouts and transport (discovery documents, identity, revocation forms)."""
        return httpx.Client(timeout=self.timeouts.to_httpx(), transport=self.transport)

    def token_call(self, op: str, call: Callable[[OAuth2Client], Any], *, refused: RefusalCheck) -> dict[str, Any]:
        """The token endpoint's answer as a dict; failures translated as the module docstring says."""
        self.calls[op] += 1
        try:
            with self.client() as client:
                return dict(call(client))
        except OAuthError as exc:
            raise (refused(exc) or CrmUnavailable(f"{self.service} token endpoint error: {exc.error}")) from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise (refused(exc) or CrmUnavailable(f"{self.service} token endpoint answered HTTP {status}")) from exc
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"{self.service} token endpoint unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # 2xx/4xx with a body that is not a JSON object
            raise CrmUnavailable(f"{self.service} token endpoint returned an unreadable body: {exc}") from exc

    def revoke(self, send: Callable[[], httpx.Response]) -> None:
        """One revocation request (`send`), counted as `token.revoke`. RFC 7009: 200 also for an already invalid
        token, and a 400 means the token is unusable anyway; unreachable, 5xx, 401/403/429 → `CrmUnavailable`."""
        self.calls["token.revoke"] += 1
        try:
            response = send()
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"{self.service} revocation endpoint unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise CrmUnavailable(f"{self.service} revocation failed with HTTP {response.status_code}")
