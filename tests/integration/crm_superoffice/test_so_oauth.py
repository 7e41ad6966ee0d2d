"""SuperOffice OAuth/OIDC against the sandbox's SuperID stand-in, over real HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from leadbridge.crm.superoffice.oauth import CLAIM_PREFIX
from leadbridge.errors import CrmUnavailable, NeedsReauth
from leadbridge.models.crm import CrmObject
from tests.support.superoffice_connector import ADMIN_EMAIL, ADMIN_ID, CTX, REDIRECT_URI, SoEnv


def test_authorization_url_carries_pkce_state_and_nonce(so: SoEnv) -> None:
    oauth = so.oauth()
    request = oauth.authorization_request(redirect_uri=REDIRECT_URI)
    url = urlsplit(request.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == so.sandbox.login_base + "/login/common/oauth/authorize"
    assert query["client_id"] == so.client_id
    assert query["response_type"] == "code"
    assert query["scope"] == "openid"
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["state"] == request.state and len(request.state) >= 32
    assert query["nonce"] == request.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == create_s256_code_challenge(request.code_verifier)
    # Each request is fresh.
    again = oauth.authorization_request(redirect_uri=REDIRECT_URI)
    assert (again.state, again.code_verifier, again.nonce) != (request.state, request.code_verifier, request.nonce)


def test_full_round_trip_yields_a_grant_for_the_tenant(so: SoEnv) -> None:
    oauth, grant = so.connect()
    assert grant.account_id == CTX
    assert grant.account_name == "Tonys Developer Network"
    assert grant.api_base == so.sandbox.webapi_url(CTX).rstrip("/")
    assert grant.user_email == ADMIN_EMAIL
    assert grant.user_id == str(ADMIN_ID)
    assert grant.user_is_admin is True
    assert grant.refresh_token and grant.access_token
    assert grant.expires_at is not None and grant.expires_at > time.time() + 3000
    # Discovery is fetched once and cached across the authorize and exchange steps.
    assert oauth.calls["oidc.metadata"] == 1
    assert oauth.calls["token.exchange"] == 1


def test_code_exchange_without_the_right_verifier_needs_a_new_authorization(so: SoEnv) -> None:
    oauth = so.oauth()
    code, _state, request = so.authorize(oauth)
    with pytest.raises(NeedsReauth):
        oauth.exchange_code(code=code, code_verifier="x" * 64, redirect_uri=REDIRECT_URI, nonce=request.nonce)


def test_id_token_with_another_nonce_is_rejected(so: SoEnv) -> None:
    oauth = so.oauth()
    code, _state, request = so.authorize(oauth)
    with pytest.raises(NeedsReauth) as exc:
        oauth.exchange_code(code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce="other")
    assert "nonce" in exc.value.message


def _claims(so: SoEnv, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": ADMIN_EMAIL,
        CLAIM_PREFIX + "ctx": CTX,
        CLAIM_PREFIX + "webapi_url": so.sandbox.webapi_url(CTX),
        "iat": str(now),
        "nbf": now - 60,
        "exp": now + 300,
        "iss": so.sandbox.issuer,
        "aud": so.client_id,
        "nonce": "n-1",
    }
    claims.update(overrides)
    return claims


def test_a_genuine_token_validates(so: SoEnv) -> None:
    claims = so.oauth().validate_id_token(so.sandbox.signing_key.sign(_claims(so)), nonce="n-1")
    assert claims[CLAIM_PREFIX + "ctx"] == CTX


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}, "exp"),
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example.com"}, "iss"),
        ({"nbf": int(time.time()) + 3600}, "nbf"),
    ],
)
def test_id_tokens_with_bad_claims_are_rejected(so: SoEnv, overrides: dict[str, object], why: str) -> None:
    token = so.sandbox.signing_key.sign(_claims(so, **overrides))
    with pytest.raises(NeedsReauth) as exc:
        so.oauth().validate_id_token(token, nonce="n-1")
    assert why in exc.value.message


def test_forged_id_token_is_rejected_after_re_fetching_the_jwks_once(so: SoEnv) -> None:
    forger = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, auto_kid=True)
    forged = jwt.encode({"alg": "RS256", "kid": str(forger.kid)}, _claims(so), forger)
    oauth = so.oauth()
    oauth.validate_id_token(so.sandbox.signing_key.sign(_claims(so)), nonce="n-1")  # loads the JWKS
    with pytest.raises(NeedsReauth) as exc:
        oauth.validate_id_token(forged, nonce="n-1")
    assert "signature" in exc.value.message
    assert oauth.calls["oidc.jwks"] == 2  # unknown kid → one re-fetch (key rotation), then rejection

    # Same kid as the real key, wrong key material: no re-fetch, still rejected.
    same_kid = jwt.encode({"alg": "RS256", "kid": so.sandbox.signing_key.kid}, _claims(so), forger)
    with pytest.raises(NeedsReauth):
        oauth.validate_id_token(same_kid, nonce="n-1")
    assert oauth.calls["oidc.jwks"] == 2


def test_expired_id_token_from_the_real_flow_is_rejected(so: SoEnv) -> None:
    # The sandbox's id_token lives 300 s; a client clock an hour ahead must see it as expired.
    oauth = so.oauth(clock=lambda: time.time() + 3600)
    code, _state, request = so.authorize(oauth)
    with pytest.raises(NeedsReauth) as exc:
        oauth.exchange_code(
            code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce=request.nonce
        )
    assert "exp" in exc.value.message


def test_refresh_keeps_the_refresh_token_and_yields_a_working_access_token(so: SoEnv) -> None:
    connector, tokens = so.connector()
    first = tokens.grant
    refreshed = tokens.oauth.refresh(first)
    assert refreshed.access_token != first.access_token
    assert refreshed.refresh_token == first.refresh_token  # SuperOffice does not return a new one
    assert (refreshed.account_id, refreshed.api_base) == (first.account_id, first.api_base)
    tokens.grant = refreshed
    company = connector.create(CrmObject.COMPANY, {"Name": "After refresh AS"})
    assert connector.get(CrmObject.COMPANY, company.id).fields["Name"] == "After refresh AS"


def test_revoked_consent_makes_refresh_need_reauth(so: SoEnv) -> None:
    oauth, grant = so.connect()
    so.sandbox.revoke_consent(CTX)
    with pytest.raises(NeedsReauth):
        oauth.refresh(grant)


def test_revoke_at_superoffice_ends_the_grant(so: SoEnv) -> None:
    oauth, grant = so.connect()
    oauth.revoke(grant)
    assert oauth.calls["token.revoke"] == 1
    with pytest.raises(NeedsReauth):
        oauth.refresh(grant)


def test_token_endpoint_failure_is_unavailable_not_reauth(so: SoEnv) -> None:
    oauth, grant = so.connect()
    so.sandbox.inject_fault("500", path_prefix="/login/common/oauth/tokens", count=1)
    with pytest.raises(CrmUnavailable):
        oauth.refresh(grant)
    assert oauth.refresh(grant).access_token  # the fault was transient


def test_denied_consent_redirects_with_access_denied(so: SoEnv) -> None:
    request = so.oauth().authorization_request(redirect_uri=REDIRECT_URI)
    response = httpx.get(request.url + "&" + urlencode({"sandbox_login": ADMIN_EMAIL, "sandbox_consent": "deny"}))
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == [request.state]
    assert "code" not in query
