"""SuperOffice SuperID sign-in: OpenID Connect authorization code flow with PKCE (S256), refresh and revocation.

authlib's httpx `OAuth2Client`, built by the shared `OAuthClientBuilder`, makes the authorize URL and talks to the
token endpoint (`client_secret_post`: the secret goes in the form body, required even with PKCE). The id_token is
validated with joserfc (authlib's JOSE successor): RS256 against the discovery document's JWKS (re-fetched once on an
unknown `kid`), issuer = the environment host, audience = client id, exp/nbf with leeway, and the nonce of the
authorization request.

Which token-endpoint answers refuse the grant is decided in `_token_call` only (the builder translates the rest):
`invalid_grant`/`access_denied`, any OAuth error and HTTP 400/401 on refresh → `NeedsReauth`; anything else →
`CrmUnavailable`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from leadbridge.crm.base import AuthorizationRequest
from leadbridge.crm.http import Timeouts
from leadbridge.crm.oauth import OAuth2Client, OAuthClientBuilder
from leadbridge.errors import CrmUnavailable, NeedsReauth
from leadbridge.models.crm import Grant

log = logging.getLogger(__name__)

CLAIM_PREFIX = "http://schemes.superoffice.net/identity/"
ENVIRONMENTS = ("sod", "qaonline", "online")
METADATA_PATH = "/login/.well-known/openid-configuration"


def login_base_for(environment: str) -> str:
    """`sod` → `https://sod.superoffice.com` (the un-numbered host: login, metadata and Tenant Status API)."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"SUPEROFFICE_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
    return f"https://{environment}.superoffice.com"


def normalise_api_base(url: str) -> str:
    """`webapi_url` claims end in `/api/`, the Tenant Status `Api` field in `/api`: store one form, no slash."""
    return url.rstrip("/")


def expires_at_from(token: dict[str, Any], now: float) -> float | None:
    """`expires_in` arrives as an int or a numeric string (a captured response has `"300"`)."""
    raw = token.get("expires_in")
    try:
        return now + float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


class SuperOfficeOAuth:
    """`OAuthFlow` for one SuperOffice app registration in one environment."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        login_base: str,
        timeouts: Timeouts | None = None,
        leeway: int = 60,
        metadata_ttl: float = 3600.0,
        calls: Counter[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.login_base = login_base.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.leeway = leeway
        self.metadata_ttl = metadata_ttl
        self.calls: Counter[str] = calls if calls is not None else Counter()
        self._clients = OAuthClientBuilder(
            service="SuperOffice",
            client_id=client_id,
            client_secret=client_secret,
            scope="openid",
            timeouts=self.timeouts,
            transport=transport,
            revocation_endpoint_auth_method="client_secret_post",
            calls=self.calls,
        )
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._metadata_fetched_at = 0.0
        self._keys: KeySet | None = None

    # --- discovery ------------------------------------------------------------------------------------------------

    @property
    def client_secret(self) -> str:
        return self._clients.client_secret

    def metadata(self) -> dict[str, Any]:
        """The OpenID configuration of the environment, cached for `metadata_ttl` seconds."""
        if self._metadata is None or self._clock() - self._metadata_fetched_at > self.metadata_ttl:
            document = self._get_json("oidc.metadata", self.login_base + METADATA_PATH)
            missing = [
                k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if k not in document
            ]
            if missing:
                raise CrmUnavailable(f"SuperOffice OpenID configuration lacks {', '.join(missing)}")
            self._metadata = document
            self._metadata_fetched_at = self._clock()
        return self._metadata

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            document = self._get_json("oidc.jwks", str(self.metadata()["jwks_uri"]))
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise CrmUnavailable(f"SuperOffice JWKS is unusable: {exc}") from exc
        return self._keys

    def _get_json(self, op: str, url: str) -> dict[str, Any]:
        self.calls[op] += 1
        try:
            with self._clients.http() as http:
                response = http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CrmUnavailable(f"SuperOffice {op} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise CrmUnavailable(f"SuperOffice {op} answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise CrmUnavailable(f"SuperOffice {op} returned a body that is not JSON") from exc
        if not isinstance(document, dict):
            raise CrmUnavailable(f"SuperOffice {op} returned JSON that is not an object")
        return document

    # --- OAuthFlow ------------------------------------------------------------------------------------------------

    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        return self._clients.authorization_request(str(self.metadata()["authorization_endpoint"]),
                                                   redirect_uri=redirect_uri, state=state, oidc=True)  # fmt: skip

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        token = self._token_call(
            "token.exchange",
            lambda client: client.fetch_token(
                str(self.metadata()["token_endpoint"]),
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            ),
            refreshing=False,
        )
        if not token.get("id_token"):
            raise NeedsReauth("SuperOffice returned no id_token; cannot tell which tenant was connected")
        claims = self.validate_id_token(str(token["id_token"]), nonce=nonce)
        return self._grant(token, claims, previous=None)

    def refresh(self, grant: Grant) -> Grant:
        if not grant.refresh_token:
            raise NeedsReauth("No SuperOffice refresh token stored; the user must connect again")
        refresh_token = grant.refresh_token
        token = self._token_call(
            "token.refresh",
            lambda client: client.refresh_token(
                str(self.metadata()["token_endpoint"]),
                refresh_token=refresh_token,
            ),
            refreshing=True,
        )
        claims = self.validate_id_token(str(token["id_token"])) if token.get("id_token") else {}
        return self._grant(token, claims, previous=grant)

    def revoke(self, grant: Grant) -> None:
        endpoint = self.metadata().get("revocation_endpoint")
        token = grant.refresh_token or grant.access_token
        if not endpoint or not token:
            return  # nothing SuperOffice lets us revoke: forgetting the tokens is all we can do
        hint = "refresh_token" if grant.refresh_token else "access_token"

        def send() -> httpx.Response:
            with self._clients.client() as client:
                response: httpx.Response = client.revoke_token(str(endpoint), token=token, token_type_hint=hint)
                return response

        self._clients.revoke(send)

    # --- id_token -------------------------------------------------------------------------------------------------

    def validate_id_token(self, id_token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The verified claims. Raises `NeedsReauth` naming what is wrong (the connect flow must start over)."""
        try:
            header = jws.extract_compact(id_token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError) as exc:
            raise NeedsReauth(f"SuperOffice id_token is malformed: {exc}") from exc
        if header.get("alg") != "RS256":
            raise NeedsReauth(f"SuperOffice id_token uses {header.get('alg')!r}, expected RS256")
        keys = self._key_set()
        kid = header.get("kid")
        if kid is not None and not any(k.kid == kid for k in keys.keys):
            keys = self._key_set(refresh=True)  # SuperOffice rotated its signing key
        try:
            decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
        except JoseError as exc:
            raise NeedsReauth(f"SuperOffice id_token signature is invalid: {exc.description or exc.error}") from exc
        claims = dict(decoded.claims)
        checked = dict(claims)
        # SuperOffice sends `iat` as a string ("All values are strings except nbf/exp"); compare it as a number.
        if isinstance(checked.get("iat"), str) and checked["iat"].isdigit():
            checked["iat"] = int(checked["iat"])
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": str(self.metadata()["issuer"])},
            "aud": {"essential": True, "value": self.client_id},
            "exp": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(now=int(self._clock()), leeway=self.leeway, **options)
        try:
            registry.validate(checked)
        except JoseError as exc:
            claim = getattr(exc, "claim", None)
            where = f" (claim {claim})" if claim else ""
            raise NeedsReauth(f"SuperOffice id_token rejected{where}: {exc.description or exc.error}") from exc
        if not claims.get(CLAIM_PREFIX + "ctx"):
            raise NeedsReauth("SuperOffice id_token has no tenant (ctx) claim")
        return claims

    # --- helpers --------------------------------------------------------------------------------------------------

    def _token_call(
        self, op: str, call: Callable[[OAuth2Client], dict[str, Any]], *, refreshing: bool
    ) -> dict[str, Any]:
        def refused(exc: OAuthError | httpx.HTTPStatusError) -> NeedsReauth | None:
            if isinstance(exc, OAuthError):
                if exc.error in ("invalid_grant", "access_denied") or refreshing:
                    return NeedsReauth(f"SuperOffice refused the grant ({exc.error}); the user must connect again")
                return None
            status = exc.response.status_code
            if refreshing and status in (400, 401):
                return NeedsReauth(f"SuperOffice refused the refresh (HTTP {status}); the user must connect again")
            return None

        token = self._clients.token_call(op, call, refused=refused)
        if not token.get("access_token"):
            raise CrmUnavailable("SuperOffice token endpoint returned no access_token")
        return token

    def _grant(self, token: dict[str, Any], claims: dict[str, Any], *, previous: Grant | None) -> Grant:
        def claim(name: str) -> str | None:
            value = claims.get(CLAIM_PREFIX + name)
            return str(value) if value not in (None, "") else None

        webapi_url = claim("webapi_url")
        is_admin = claim("is_administrator")
        account_id = claim("ctx") or (previous.account_id if previous else None)
        api_base = normalise_api_base(webapi_url) if webapi_url else (previous.api_base if previous else None)
        if not account_id or not api_base:
            raise NeedsReauth("SuperOffice id_token lacks the tenant (ctx) or web API URL (webapi_url)")
        refresh_token = token.get("refresh_token") or (previous.refresh_token if previous else None)
        return Grant(
            access_token=str(token["access_token"]),
            refresh_token=str(refresh_token) if refresh_token else None,
            expires_at=expires_at_from(token, self._clock()),
            token_type=str(token.get("token_type") or "Bearer"),
            account_id=account_id,
            account_name=claim("company_name") or (previous.account_name if previous else None),
            api_base=api_base,
            user_id=claim("associateid") or (previous.user_id if previous else None),
            user_email=claim("email") or claim("upn") or (previous.user_email if previous else None),
            user_is_admin=(is_admin.lower() == "true") if is_admin else (previous.user_is_admin if previous else None),
            extra={**(previous.extra if previous else {}), "login_base": self.login_base},
        )
