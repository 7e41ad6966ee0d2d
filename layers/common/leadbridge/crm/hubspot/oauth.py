"""HubSpot OAuth 2.0 authorization code flow (reference §1) for one app: the `2026-03` token endpoints, form-body
parameters only.

- Authorize: `{app_base}/oauth/authorize` with the space-separated `scope` of `SCOPES` (exactly what the connector's
  features need, §1.1) and PKCE S256. Whether HubSpot honours `code_challenge` is **unconfirmed** (§9); an
  authorize server that ignores it still accepts the `code_verifier` on the token call (the token endpoint lists it),
  so sending both is harmless either way.
- Tokens: `POST {api_base}/oauth/2026-03/token` (`authorization_code`, `refresh_token`), client id and secret in the
  form body (`client_secret_post`). `expires_in` is read on every answer (1800 s today); a refresh stores whatever
  `refresh_token` comes back (rotation is undocumented) and keeps the old one when none does.
- The grant's `account_id` is the hub id (`hub_id` of the token answer, optional in the schema: when it is missing
  the token is introspected, `POST /oauth/2026-03/token/introspect`, whose fields are **unconfirmed**: both the
  RFC 7662 and the v1 token-info shapes carry `hub_id`).
- The hub's name (`account_name`), after a code exchange only, best effort like Salesforce's org name: the account
  information API, `GET /account-info/{version}/details` (scope `oauth`; documented fields `portalId`,
  `accountType`, `timeZone`, `companyCurrency`, `uiDomain`, `dataHostingLocation`). Only the `2027-03-beta` version
  documents a `portalName`, so that version is asked first and `2026-03` when it does not answer (**unconfirmed**
  whether the beta stays or the name reaches a dated version); no name: the v1 introspection's `hub_domain`, else
  "HubSpot account {hub id}". `uiDomain` (e.g. `app-eu1.hubspot.com` for an EU-hosted account) is kept in
  `extra["ui_domain"]` for record links.
- `invalid_grant` from the token endpoint → `NeedsReauth`; any other answer → `CrmUnavailable` (an `invalid_client`
  is this deployment's misconfiguration, which connecting again would not fix).
- Revoke: `POST /oauth/2026-03/token/revoke` with the refresh token, client id and secret in the form body; revoking
  the refresh token uninstalls nothing but ends the grant (and the access tokens issued from it).
"""

from __future__ import annotations

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

API_BASE = "https://api.hubapi.com"
APP_BASE = "https://app.hubspot.com"
TOKEN_PATH = "/oauth/2026-03/token"
INTROSPECT_PATH = "/oauth/2026-03/token/introspect"
REVOKE_PATH = "/oauth/2026-03/token/revoke"
# The documented version first would never give the name: the beta one answers the same fields plus `portalName`;
# when it does not answer, the documented one still gives `uiDomain`.
ACCOUNT_DETAILS_PATHS = ("/account-info/2027-03-beta/details", "/account-info/2026-03/details")
OWNER_PAGES_FOR_EMAIL = 5  # a user of a portal with more than 500 owners is left without an e-mail
# §1.1: what the connector reads and writes (companies, contacts, deals; owners; property and pipeline metadata).
# `crm.schemas.*.write` is not asked for: the connector never creates properties.
SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.companies.read",
    "crm.schemas.deals.read",
)


class HubSpotOAuth:
    """`OAuthFlow` for one HubSpot app."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        api_base: str = API_BASE,
        app_base: str = APP_BASE,
        scopes: tuple[str, ...] = SCOPES,
        timeouts: Timeouts | None = None,
        calls: Counter[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.api_base = api_base.rstrip("/")
        self.app_base = app_base.rstrip("/")
        self.scope = " ".join(scopes)
        self.timeouts = timeouts or Timeouts()
        self.calls: Counter[str] = calls if calls is not None else Counter()
        self._clock = clock
        self._clients = OAuthClientBuilder(
            service="HubSpot",
            client_id=client_id,
            client_secret=client_secret,
            scope=self.scope,
            timeouts=self.timeouts,
            transport=transport,
            calls=self.calls,
        )

    # --- OAuthFlow ------------------------------------------------------------------------------------------------

    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        return self._clients.authorization_request(f"{self.app_base}/oauth/authorize", redirect_uri=redirect_uri,
                                                   state=state)  # fmt: skip

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        token = self._token_call(
            "token.exchange",
            lambda client: client.fetch_token(
                f"{self.api_base}{TOKEN_PATH}",
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            ),
            refreshing=False,
        )
        grant = self._grant(token, previous=None)
        return grant.model_copy(update=self._account_details(grant))

    def refresh(self, grant: Grant) -> Grant:
        if not grant.refresh_token:
            raise NeedsReauth("No HubSpot refresh token stored; the user must connect again")
        refresh_token = grant.refresh_token
        token = self._token_call(
            "token.refresh",
            lambda client: client.refresh_token(f"{self.api_base}{TOKEN_PATH}", refresh_token=refresh_token),
            refreshing=True,
        )
        return self._grant(token, previous=grant)

    def revoke(self, grant: Grant) -> None:
        token = grant.refresh_token or grant.access_token

        def send() -> httpx.Response:
            form = {"token": token, "client_id": self.client_id, "client_secret": self._clients.client_secret}
            with self._clients.http() as http:
                return http.post(f"{self.api_base}{REVOKE_PATH}", data=form)

        self._clients.revoke(send)

    # --- helpers --------------------------------------------------------------------------------------------------

    def _token_call(self, op: str, call: Callable[[OAuth2Client], Any], *, refreshing: bool) -> dict[str, Any]:
        def refused(exc: OAuthError | httpx.HTTPStatusError) -> NeedsReauth | None:
            what = "refresh token" if refreshing else "authorization code"
            if isinstance(exc, OAuthError) and exc.error == "invalid_grant":
                return NeedsReauth(f"HubSpot refused the {what} (invalid_grant); the user must connect again")
            # §1: any other 4xx on a refresh is terminal too (retrying it cannot help); a 5xx is retried.
            if refreshing and isinstance(exc, OAuthError) and exc.error in ("invalid_client", "unauthorized_client"):
                return NeedsReauth(f"HubSpot does not accept this deployment's app credentials ({exc.error}): the "
                                   "operator must correct the client id or the secret at leadbridge/<stage>/apps/"
                                   "hubspot; connecting again will not help until then")  # fmt: skip
            if refreshing and isinstance(exc, OAuthError):
                return NeedsReauth(f"HubSpot refused the {what} ({exc.error}); the user must connect again")
            if refreshing and isinstance(exc, httpx.HTTPStatusError) and 400 <= exc.response.status_code < 500:
                return NeedsReauth(f"HubSpot refused the {what} (HTTP {exc.response.status_code}); the user must "
                                   "connect again")  # fmt: skip
            return None

        token = self._clients.token_call(op, call, refused=refused)
        if not token.get("access_token"):
            raise CrmUnavailable("HubSpot token answer lacks access_token")
        return token

    def _grant(self, token: dict[str, Any], *, previous: Grant | None) -> Grant:
        hub_id = token.get("hub_id")
        user_id = token.get("user_id")
        if hub_id is None:
            info = self._introspect(str(token["access_token"]))
            hub_id, user_id = info.get("hub_id"), user_id or info.get("user_id")
        if hub_id is None:
            raise CrmUnavailable("HubSpot did not say which account the token is for (no hub_id)")
        if previous is not None and previous.account_id != str(hub_id):
            raise NeedsReauth("HubSpot refreshed the token for another account")
        expires_in = _seconds(token.get("expires_in"))
        refresh_token = token.get("refresh_token") or (previous.refresh_token if previous else None)
        return Grant(
            access_token=str(token["access_token"]),
            refresh_token=str(refresh_token) if refresh_token else None,
            expires_at=self._clock() + expires_in if expires_in is not None else None,
            token_type="Bearer",
            account_id=str(hub_id),
            account_name=previous.account_name if previous else None,
            api_base=self.api_base,
            user_id=str(user_id) if user_id is not None else (previous.user_id if previous else None),
            user_email=previous.user_email if previous else None,
            user_is_admin=previous.user_is_admin if previous else None,
            extra=dict(previous.extra) if previous else {"hub_id": str(hub_id)},
        )

    def _introspect(self, access_token: str) -> dict[str, Any]:
        """The token's facts from the introspection endpoint ({} when it does not answer usefully)."""
        self.calls["token.introspect"] += 1
        form = {"token": access_token, "client_id": self.client_id, "client_secret": self._clients.client_secret}
        try:
            with self._clients.http() as http:
                response = http.post(f"{self.api_base}{INTROSPECT_PATH}", data=form)
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            log.info("hubspot token introspection failed: %s", type(exc).__name__)
            return {}
        return body if isinstance(body, dict) else {}

    def _account_details(self, grant: Grant) -> dict[str, Any]:
        """The connection's account name and UI host, best effort: a failure never fails the connect."""
        details: dict[str, Any] = {}
        for path in ACCOUNT_DETAILS_PATHS:
            self.calls["account.details"] += 1
            try:
                with self._clients.http() as http:
                    response = http.get(f"{self.api_base}{path}",
                                        headers={"Authorization": f"Bearer {grant.access_token}"})
                if response.status_code == 200 and isinstance(response.json(), dict):
                    details = response.json()
                    break
                log.info("hubspot %s answered HTTP %s", path, response.status_code)
            except (httpx.HTTPError, ValueError) as exc:
                log.info("hubspot %s unreadable: %s", path, type(exc).__name__)
        name = details.get("portalName") or self._introspect(grant.access_token).get("hub_domain")
        extra = dict(grant.extra)
        if details.get("uiDomain"):
            extra["ui_domain"] = str(details["uiDomain"])
        facts: dict[str, Any] = {"account_name": str(name) if name else f"HubSpot account {grant.account_id}",
                                 "extra": extra}  # fmt: skip
        email = self._user_email(grant)
        if email:
            facts["user_email"] = email
        return facts

    def _user_email(self, grant: Grant) -> str | None:
        """The consenting user's e-mail (the connect page binds the sign-in to the app user's address): the token
        answer gives only `user_id`; the owner record of that user (`userId`, scope `crm.objects.owners.read`) holds
        it. Best effort: a user who owns nothing in the portal may have no owner record."""
        if not grant.user_id:
            return None
        url: str | None = f"{self.api_base}/crm/v3/owners?limit=100"
        for _ in range(OWNER_PAGES_FOR_EMAIL):
            if url is None:
                break
            self.calls["owners.email"] += 1
            try:
                with self._clients.http() as http:
                    response = http.get(url, headers={"Authorization": f"Bearer {grant.access_token}"})
                body = response.json() if response.status_code == 200 else {}
            except (httpx.HTTPError, ValueError) as exc:
                log.info("hubspot owners unreadable: %s", type(exc).__name__)
                return None
            for owner in body.get("results") or []:
                if str(owner.get("userId")) == grant.user_id and owner.get("email"):
                    return str(owner["email"])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            url = f"{self.api_base}/crm/v3/owners?limit=100&after={after}" if after else None
        return None


def _seconds(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None
