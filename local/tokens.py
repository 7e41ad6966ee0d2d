"""A local stand-in for the lead app's identity provider: an RSA key, its JWKS, and RS256 user tokens.

The gateway verifies bearers against `jwks()` exactly as the HTTP API's JWT authorizer verifies the real issuer's.
"""

from __future__ import annotations

import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from authlib.deprecate import AuthlibDeprecationWarning  # installs an "always" filter on import

with warnings.catch_warnings():
    # authlib 1.9 points at joserfc; the project uses authlib's jose (same API, kept until authlib 2.0).
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, JsonWebToken, KeySet
    from authlib.jose.errors import JoseError

from local.template import LOCAL_PARAMETERS

_JWT = JsonWebToken(["RS256"])


class InvalidToken(ValueError):
    """The bearer is not a token this issuer signed for this audience, or it has expired."""


class LocalIssuer:
    def __init__(
        self,
        issuer: str = LOCAL_PARAMETERS["JwtIssuer"],
        audience: str = LOCAL_PARAMETERS["JwtAudience"],
        *,
        key_path: Path | None = None,
        tenant_claim: str = "tenant_id",
        role_claim: str = "role",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.tenant_claim = tenant_claim
        self.role_claim = role_claim
        self._key = _load_or_create_key(key_path)
        self.kid = self._key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(is_private=False)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def mint(
        self,
        tenant_id: str,
        sub: str,
        role: str,
        email: str | None = None,
        ttl: int = 3600,
        **extra: Any,
    ) -> str:
        """A signed user token; `extra` claims override the defaults (e.g. exp=<past> for an expired token)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "nbf": now - 5,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            self.tenant_claim: tenant_id,
            self.role_claim: role,
        }
        if email is not None:
            claims["email"] = email
        claims.update(extra)
        token = _JWT.encode({"alg": "RS256", "kid": self.kid, "typ": "JWT"}, claims, self._key)
        return str(token.decode("ascii"))

    def verify(
        self, token: str, *, issuer: str | None = None, audience: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """Claims of a valid token; raises InvalidToken with the reason API Gateway would log."""
        expected_issuer = issuer or self.issuer
        audiences = list(audience or (self.audience,))
        try:
            claims = _JWT.decode(
                token,
                KeySet([JsonWebKey.import_key(k) for k in self.jwks()["keys"]]),
                claims_options={
                    "iss": {"essential": True, "value": expected_issuer},
                    "exp": {"essential": True},
                },
            )
            claims.validate(leeway=0)
        except (JoseError, ValueError) as exc:
            raise InvalidToken(_reason(exc)) from exc
        # API Gateway accepts a token whose aud, or else client_id, matches one of the configured audiences.
        token_audience = claims.get("aud", claims.get("client_id"))
        token_audiences = token_audience if isinstance(token_audience, list) else [token_audience]
        if not set(token_audiences) & set(audiences):
            raise InvalidToken("the token does not have a valid audience")
        return dict(claims)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "description", None) or str(exc)
    if "expired" in text.lower():
        return "the token has expired"
    return f"invalid token: {text}"


def _load_or_create_key(key_path: Path | None) -> Any:
    if key_path is not None and key_path.is_file():
        return JsonWebKey.import_key(key_path.read_bytes(), {"kty": "RSA"})
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
    if key_path is not None:
        # Kept across `make run` restarts so tokens pasted into a front end stay valid.
        key_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.write_bytes(key.as_pem(is_private=True))
        key_path.chmod(0o600)
    return key
