"""SuperID OIDC of the sandbox: authorize (PKCE), tokens, JWKS-verified id_token, refresh, revoke, expiry."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

CLAIM = "http://schemes.superoffice.net/identity/"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def token_request(tenant, **data) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{tenant.sb.login_base}/login/common/oauth/tokens", data=data,
                      headers={"Accept": "application/json"})


def test_metadata_publishes_the_documented_endpoints(tenant) -> None:  # type: ignore[no-untyped-def]
    meta = httpx.get(f"{tenant.sb.login_base}/login/.well-known/openid-configuration").json()
    base = tenant.sb.login_base
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/login/common/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/login/common/oauth/tokens"
    assert meta["jwks_uri"] == f"{base}/login/.well-known/jwks"
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}
    assert meta["revocation_endpoint"].startswith(base) and meta["end_session_endpoint"].startswith(base)


def test_code_flow_with_pkce_yields_verifiable_id_token(tenant) -> None:  # type: ignore[no-untyped-def]
    verifier = "v" * 64
    code = tenant.authorize_code(code_challenge=s256(verifier), code_challenge_method="S256", nonce="n-123",
                          state="st-1")
    response = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                             client_secret=tenant.client_secret, code=code, redirect_uri="http://127.0.0.1:9/callback",
                             code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("8A:Cust12345.")
    assert body["refresh_token"]

    keys = KeySet.import_key_set(httpx.get(f"{tenant.sb.login_base}/login/.well-known/jwks").json())
    token = jwt.decode(body["id_token"], keys)  # raises on a bad signature
    claims = token.claims
    assert token.header["alg"] == "RS256"
    assert claims["iss"] == tenant.sb.login_base and claims["aud"] == tenant.client_id
    assert claims["nonce"] == "n-123" and claims["sub"] == "tony@example.com"
    assert claims[CLAIM + "ctx"] == "Cust12345"
    assert claims[CLAIM + "associateid"] == "5"
    assert claims[CLAIM + "is_administrator"] == "True"
    assert claims[CLAIM + "webapi_url"] == f"{tenant.sb.api_hosts[0]}/Cust12345/api/"
    # documented shape: string values except nbf/exp; nbf = iat - 60, lifetime 300 s
    for key, value in claims.items():
        if key not in ("nbf", "exp"):
            assert isinstance(value, str), key
    assert isinstance(claims["nbf"], int) and isinstance(claims["exp"], int)
    assert claims["nbf"] == int(claims["iat"]) - 60 and claims["exp"] == int(claims["iat"]) + 300

    api = httpx.get(claims[CLAIM + "webapi_url"] + "v1/User/currentPrincipal",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200 and api.json()["AssociateId"] == 5


def test_wrong_pkce_verifier_is_invalid_grant(tenant) -> None:  # type: ignore[no-untyped-def]
    code = tenant.authorize_code(code_challenge=s256("right" * 10), code_challenge_method="S256")
    response = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                             client_secret=tenant.client_secret, code=code,
                             redirect_uri="http://127.0.0.1:9/callback", code_verifier="wrong" * 10)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_plain_pkce_and_missing_verifier(tenant) -> None:  # type: ignore[no-untyped-def]
    code = tenant.authorize_code(code_challenge="plain-verifier-" * 4)  # method defaults to plain
    ok = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                       client_secret=tenant.client_secret, code=code, redirect_uri="http://127.0.0.1:9/callback",
                       code_verifier="plain-verifier-" * 4)
    assert ok.status_code == 200
    code = tenant.authorize_code(code_challenge=s256("x" * 50), code_challenge_method="S256")
    missing = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                            client_secret=tenant.client_secret, code=code, redirect_uri="http://127.0.0.1:9/callback")
    assert missing.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_reuse_revokes_its_tokens(tenant) -> None:  # type: ignore[no-untyped-def]
    code = tenant.authorize_code()
    params = dict(grant_type="authorization_code", client_id=tenant.client_id, client_secret=tenant.client_secret,
                  code=code, redirect_uri="http://127.0.0.1:9/callback")
    first = token_request(tenant, **params)
    assert first.status_code == 200
    second = token_request(tenant, **params)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    api = httpx.get(f"{tenant.base}/User/currentPrincipal",
                    headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert api.status_code == 401


def test_code_is_bound_to_redirect_uri_and_client(tenant) -> None:  # type: ignore[no-untyped-def]
    other = tenant.sb.register_app(["http://127.0.0.1:9/other"])
    code = tenant.authorize_code()
    wrong_redirect = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                                   client_secret=tenant.client_secret, code=code,
                                   redirect_uri="http://127.0.0.1:9/elsewhere")
    assert wrong_redirect.json()["error"] == "invalid_grant"
    code = tenant.authorize_code()
    wrong_client = token_request(tenant, grant_type="authorization_code", client_id=other.client_id,
                                 client_secret=other.client_secret, code=code,
                                 redirect_uri="http://127.0.0.1:9/callback")
    assert wrong_client.json()["error"] == "invalid_grant"


def test_client_authentication(tenant) -> None:  # type: ignore[no-untyped-def]
    code = tenant.authorize_code()
    no_secret = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id, code=code,
                              redirect_uri="http://127.0.0.1:9/callback")
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    wrong = token_request(tenant, grant_type="authorization_code", client_id=tenant.client_id,
                          client_secret="nope", code=code, redirect_uri="http://127.0.0.1:9/callback")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    basic = httpx.post(f"{tenant.sb.login_base}/login/common/oauth/tokens",
                       data={"grant_type": "authorization_code", "code": code,
                             "redirect_uri": "http://127.0.0.1:9/callback"},
                       auth=(tenant.client_id, tenant.client_secret))
    assert basic.status_code == 200, basic.text
    unsupported = token_request(tenant, grant_type="client_credentials", client_id=tenant.client_id,
                                client_secret=tenant.client_secret)
    assert unsupported.json()["error"] == "unsupported_grant_type"
    no_grant = token_request(tenant, client_id=tenant.client_id, client_secret=tenant.client_secret)
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"


def test_refresh_returns_no_new_refresh_token_and_the_old_one_keeps_working(tenant) -> None:  # type: ignore[no-untyped-def]
    refresh = tenant.token["refresh_token"]
    for _ in range(2):
        response = token_request(tenant, grant_type="refresh_token", client_id=tenant.client_id,
                                 client_secret=tenant.client_secret, refresh_token=refresh)
        assert response.status_code == 200
        body = response.json()
        assert "refresh_token" not in body
        assert body["access_token"] != tenant.token["access_token"] and body["id_token"]


def test_revoked_consent_and_revoked_token_give_invalid_grant(tenant) -> None:  # type: ignore[no-untyped-def]
    tenant.sb.revoke_consent("Cust12345")
    response = token_request(tenant, grant_type="refresh_token", client_id=tenant.client_id,
                             client_secret=tenant.client_secret, refresh_token=tenant.token["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert tenant.api.get("/Contact/default").status_code == 401

    fresh = tenant.sb.issue_tokens("Cust12345", "tony@example.com", tenant.client_id)
    revoke = httpx.post(f"{tenant.sb.login_base}/login/common/oauth/revoke",
                        data={"token": fresh["refresh_token"], "client_id": tenant.client_id,
                              "client_secret": tenant.client_secret})
    assert revoke.status_code == 200
    after = token_request(tenant, grant_type="refresh_token", client_id=tenant.client_id,
                          client_secret=tenant.client_secret, refresh_token=fresh["refresh_token"])
    assert after.json()["error"] == "invalid_grant"


def test_expired_access_token_is_401_with_bearer_challenge(tenant) -> None:  # type: ignore[no-untyped-def]
    assert tenant.api.get("/User/currentPrincipal").status_code == 200
    tenant.sb.expire_access_tokens("Cust12345")
    response = tenant.api.get("/User/currentPrincipal")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["Error"] is True
    refreshed = token_request(tenant, grant_type="refresh_token", client_id=tenant.client_id,
                              client_secret=tenant.client_secret, refresh_token=tenant.token["refresh_token"])
    ok = httpx.get(f"{tenant.base}/User/currentPrincipal",
                   headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"})
    assert ok.status_code == 200


class _Later:
    """The `time` module as the sandbox's REST API sees it: `seconds` ahead of the real clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_short_lived_access_tokens_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from local.sandbox.superoffice import SuperOfficeSandbox
    from local.sandbox.superoffice import rest as rest_api

    with SuperOfficeSandbox(access_token_ttl=1) as sb:
        app = sb.register_app(["http://127.0.0.1:9/callback"])
        sb.add_customer("Cust777")
        sb.add_user("Cust777", "a@example.com")
        token = sb.issue_tokens("Cust777", "a@example.com", app.client_id)
        assert token["expires_in"] == 1
        monkeypatch.setattr(rest_api, "time", _Later(seconds=2))  # the token's second has passed, without waiting
        status = httpx.get(f"{sb.api_base('Cust777')}/api/v1/User/currentPrincipal",
                           headers={"Authorization": f"Bearer {token['access_token']}"}).status_code
        assert status == 401


def test_missing_or_unknown_token_is_401(tenant) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(f"{tenant.base}/Contact/default").status_code == 401
    bad = httpx.get(f"{tenant.base}/Contact/default", headers={"Authorization": "Bearer 8A:Cust12345.forged"})
    assert bad.status_code == 401 and "Bearer" in bad.headers["WWW-Authenticate"]


def test_consent_denied_and_unregistered_redirect(tenant) -> None:  # type: ignore[no-untyped-def]
    base = f"{tenant.sb.login_base}/login/common/oauth/authorize"
    params = {"client_id": tenant.client_id, "redirect_uri": "http://127.0.0.1:9/callback", "scope": "openid",
              "response_type": "code", "state": "s", "sandbox_login": "tony@example.com"}
    denied = httpx.get(base, params={**params, "sandbox_consent": "deny"})
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s"]}
    foreign = httpx.get(base, params={**params, "redirect_uri": "https://evil.example/cb"})
    assert foreign.status_code == 400 and "location" not in foreign.headers


def test_html_login_page_submits_to_the_same_redirect(tenant) -> None:  # type: ignore[no-untyped-def]
    base = f"{tenant.sb.login_base}/login/common/oauth/authorize"
    params = {"client_id": tenant.client_id, "redirect_uri": "http://127.0.0.1:9/callback", "scope": "openid",
              "response_type": "code", "state": "s2"}
    page = httpx.get(base, params=params)
    assert page.status_code == 200 and "tony@example.com" in page.text and "<form" in page.text
    submitted = httpx.post(base, data={**params, "sandbox_login": "tony@example.com", "sandbox_consent": "allow"})
    assert submitted.status_code == 302
    query = parse_qs(urlsplit(submitted.headers["location"]).query)
    assert query["state"] == ["s2"] and query["code"]


@pytest.mark.parametrize("mode", ["fragment", "form_post"])
def test_response_modes(tenant, mode: str) -> None:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{tenant.sb.login_base}/login/common/oauth/authorize", params={
        "client_id": tenant.client_id, "redirect_uri": "http://127.0.0.1:9/callback", "scope": "openid",
        "response_type": "code", "state": "s3", "response_mode": mode, "sandbox_login": "tony@example.com"})
    if mode == "fragment":
        assert response.status_code == 302 and "#code=" in response.headers["location"]
    else:
        assert response.status_code == 200 and 'name="code"' in response.text
