"""Salesforce OAuth 2.0 web server flow with PKCE (S256), refresh and revocation.

- Login hosts: `https://login.salesforce.com` (production), `https://test.salesforce.com` (sandboxes) or the org's My
  Domain; paths `/services/oauth2/authorize|token|revoke`. API calls go to the token's `instance_url`, never the
  login host.
- The token answer has no `expires_in`: the session lasts the org's (unknown) session timeout. The grant gets an
  *assumed* expiry (`assumed_session_seconds`, default 2 h) so the vault refreshes ahead of it, and the client
  refreshes once on 401 `INVALID_SESSION_ID` anyway.
- `signature` = base64(HMAC-SHA256(key = client secret, msg = `id` + `issued_at`)) is checked on every token answer;
  a mismatch means the answer was not made for this app and is refused.
- Refresh answers carry no new refresh token: the stored one is kept. `invalid_grant` (revoked/expired) →
  `NeedsReauth`; anything else from the token endpoint → `CrmUnavailable` (the shared `OAuthClientBuilder` builds the
  authlib client and translates; `_token_call` says which answers refuse the grant).
- After a code exchange (a connect or a re-authorization) the org's name is read from its `Organization` record
  (`GET {instance_url}/services/data/vXX.X/sobjects/Organization/{orgId}?fields=Name`) for the connection's
  `account_name`; best effort, like the identity read: a failure leaves it unset and never fails the connect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError

from leadbridge.crm.base import AuthorizationRequest
from leadbridge.crm.http import Timeouts
from leadbridge.crm.oauth import OAuth2Client, OAuthClientBuilder
from leadbridge.errors import CrmUnavailable, NeedsReauth
from leadbridge.models.crm import Grant

log = logging.getLogger(__name__)

PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
DEFAULT_SCOPE = "api refresh_token"


def login_base_for(environment: str) -> str:
    """`production` / `sandbox` → the login host; a My Domain name or URL → `https://{name}.my.salesforce.com`."""
    if environment in ("", "production", "login"):
        return PRODUCTION_LOGIN
    if environment in ("sandbox", "test"):
        return SANDBOX_LOGIN
    if environment.startswith(("https://", "http://")):
        return environment.rstrip("/")
    return f"https://{environment}.my.salesforce.com"


def token_signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    digest = hmac.new(client_secret.encode("utf-8"), (identity_url + issued_at).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def issued_at_seconds(raw: Any) -> float | None:
    """`issued_at` is documented as seconds but sent as milliseconds: tell them apart by size."""
    try:
        value = float(str(raw))
    except (TypeError, ValueError):
        return None
    return value / 1000.0 if value > 1e11 else value


def ids_from_identity_url(identity_url: str) -> tuple[str, str]:
    """`https://login.salesforce.com/id/{orgId}/{userId}` → (org id, user id)."""
    parts = [p for p in identity_url.split("/") if p]
    if len(parts) < 3 or parts[-3] != "id" or not parts[-2].startswith("00D"):
        raise NeedsReauth(f"Salesforce returned an identity URL without org and user ids: {identity_url[:120]!r}")
    return parts[-2], parts[-1]


class SalesforceOAuth:
    """`OAuthFlow` for one Salesforce connected app and login host."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        login_base: str,
        scope: str = DEFAULT_SCOPE,
        api_version: str = "v62.0",
        assumed_session_seconds: float = 7200.0,
        verify_signature: bool = True,
        timeouts: Timeouts | None = None,
        calls: Counter[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.login_base = login_base.rstrip("/")
        self.scope = scope
        self.api_version = api_version
        self.assumed_session_seconds = assumed_session_seconds
        self.verify_signature = verify_signature
        self.timeouts = timeouts or Timeouts()
        self.calls: Counter[str] = calls if calls is not None else Counter()
        self._clock = clock
        self._clients = OAuthClientBuilder(
            service="Salesforce",
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            timeouts=self.timeouts,
            transport=transport,
            calls=self.calls,
        )

    @property
    def client_secret(self) -> str:
        return self._clients.client_secret

    # --- OAuthFlow ------------------------------------------------------------------------------------------------

    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        return self._clients.authorization_request(f"{self.login_base}/services/oauth2/authorize",
                                                   redirect_uri=redirect_uri, state=state)  # fmt: skip

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        token = self._token_call(
            "token.exchange",
            lambda client: client.fetch_token(
                f"{self.login_base}/services/oauth2/token",
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                format="json",
            ),
            refreshing=False,
        )
        grant = self._grant(token, previous=None)
        return grant.model_copy(update={**self._identity(grant), "account_name": self._org_name(grant)})

    def refresh(self, grant: Grant) -> Grant:
        if not grant.refresh_token:
            raise NeedsReauth("No Salesforce refresh token stored; the user must connect again")
        refresh_token = grant.refresh_token
        token = self._token_call(
            "token.refresh",
            lambda client: client.refresh_token(
                f"{self._login_of(grant)}/services/oauth2/token", refresh_token=refresh_token, format="json"
            ),
            refreshing=True,
        )
        return self._grant(token, previous=grant)

    def revoke(self, grant: Grant) -> None:
        """Revoking the refresh token also ends every access token issued from it."""
        token = grant.refresh_token or grant.access_token

        def send() -> httpx.Response:
            with self._clients.http() as http:
                return http.post(f"{self._login_of(grant)}/services/oauth2/revoke", data={"token": token})

        self._clients.revoke(send)  # 400 invalid_token: the token is already unusable, which is what we wanted

    # --- helpers --------------------------------------------------------------------------------------------------

    def _login_of(self, grant: Grant) -> str:
        return str(grant.extra.get("login_base") or self.login_base).rstrip("/")

    def _token_call(self, op: str, call: Callable[[OAuth2Client], Any], *, refreshing: bool) -> dict[str, Any]:
        def refused(exc: OAuthError | httpx.HTTPStatusError) -> NeedsReauth | None:
            # Only `invalid_grant` means the grant is gone; an HTTP error status is the endpoint's trouble.
            if isinstance(exc, OAuthError) and exc.error == "invalid_grant":
                what = "refresh token" if refreshing else "authorization code"
                return NeedsReauth(f"Salesforce refused the {what} (invalid_grant); the user must connect again")
            return None

        token = self._clients.token_call(op, call, refused=refused)
        missing = [k for k in ("access_token", "instance_url", "id") if not token.get(k)]
        if missing:
            raise CrmUnavailable(f"Salesforce token answer lacks {', '.join(missing)}")
        if self.verify_signature:
            self._check_signature(token)
        return token

    def _check_signature(self, token: dict[str, Any]) -> None:
        received = str(token.get("signature") or "")
        expected = token_signature(self.client_secret, str(token["id"]), str(token.get("issued_at") or ""))
        if not received or not hmac.compare_digest(expected.encode("ascii"), received.encode("utf-8")):
            raise NeedsReauth("Salesforce token answer has a signature that does not match this app's secret")

    def _grant(self, token: dict[str, Any], *, previous: Grant | None) -> Grant:
        org_id, user_id = ids_from_identity_url(str(token["id"]))
        if previous is not None and previous.account_id != org_id:
            raise NeedsReauth("Salesforce refreshed the token for another org")
        issued = issued_at_seconds(token.get("issued_at")) or self._clock()
        refresh_token = token.get("refresh_token") or (previous.refresh_token if previous else None)
        return Grant(
            access_token=str(token["access_token"]),
            refresh_token=str(refresh_token) if refresh_token else None,
            expires_at=issued + self.assumed_session_seconds,
            token_type=str(token.get("token_type") or "Bearer"),
            account_id=org_id,
            account_name=previous.account_name if previous else None,
            api_base=str(token["instance_url"]).rstrip("/"),
            user_id=user_id,
            user_email=previous.user_email if previous else None,
            user_is_admin=previous.user_is_admin if previous else None,
            extra={
                **(previous.extra if previous else {}),
                "login_base": self._login_of(previous) if previous else self.login_base,
                "identity_url": str(token["id"]),
                "scope": str(token.get("scope") or ""),
            },
        )

    def _identity(self, grant: Grant) -> dict[str, Any]:
        """The consenting user's e-mail and admin flag from the identity URL; best effort (the connect works
        without them)."""
        url = str(grant.extra.get("identity_url") or "")
        self.calls["identity"] += 1
        try:
            with self._clients.http() as http:
                response = http.get(url, headers={"Authorization": f"Bearer {grant.access_token}"})
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            body = {}
        if not isinstance(body, dict):
            return {}
        update: dict[str, Any] = {}
        if body.get("email"):
            update["user_email"] = str(body["email"])
        if isinstance(body.get("is_admin"), bool):
            update["user_is_admin"] = body["is_admin"]
        return update

    def _org_name(self, grant: Grant) -> str | None:
        """The org's name (shown as the connection's account name); None when it cannot be read now."""
        url = f"{grant.api_base}/services/data/{self.api_version}/sobjects/Organization/{grant.account_id}"
        self.calls["organization"] += 1
        try:
            with self._clients.http() as http:
                response = http.get(
                    url, params={"fields": "Name"}, headers={"Authorization": f"Bearer {grant.access_token}"}
                )
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return None
        name = body.get("Name") if isinstance(body, dict) else None
        return (name.strip()[:255] or None) if isinstance(name, str) else None
