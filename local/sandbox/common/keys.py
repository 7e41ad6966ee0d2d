"""RS256 signing keys and JWKS for sandbox identity providers (via joserfc, authlib's JOSE implementation)."""

from __future__ import annotations

import threading
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

_cache_lock = threading.Lock()
_cached: dict[str, RSAKey] = {}


class SigningKey:
    """An RSA key pair that signs JWTs and publishes its public half as a JWKS.

    Keys are cached per `name` for the life of the process: generating RSA keys costs ~0.1 s each and tests start
    many sandboxes.
    """

    def __init__(self, name: str = "default") -> None:
        with _cache_lock:
            key = _cached.get(name)
            if key is None:
                key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
                _cached[name] = key
        self._key = key

    @property
    def kid(self) -> str:
        return str(self._key.kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"typ": "JWT", "alg": "RS256", "kid": self.kid}, claims, self._key)
