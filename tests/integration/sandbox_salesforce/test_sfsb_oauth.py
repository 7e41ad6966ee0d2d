"""The sandbox's login host: web server flow with PKCE, the token answer's shape and signature, refresh, revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx

from tests.support.salesforce_sandbox import ADMIN, REDIRECT_URI, OrgEnv


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_code_flow_with_pkce_answers_instance_url_signature_and_no_expiry(org: OrgEnv) -> None:
    verifier = "v" * 64
    code = org.authorize(code_challenge=_challenge(verifier), code_challenge_method="S256")
    response = org.token_call(grant_type="authorization_code", code=code, client_id="cid", client_secret="sec",
                              redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert response.status_code == 200, response.text
    token = response.json()
    assert "expires_in" not in token
    assert token["instance_url"] == org.sb.instance_url != org.sb.login_base
    assert token["id"] == f"{org.sb.login_base}/id/{org.org_id}/{org.admin_id}"
    assert token["issued_at"].isdigit() and len(token["issued_at"]) == 13  # milliseconds
    expected = base64.b64encode(hmac.new(b"sec", (token["id"] + token["issued_at"]).encode(), hashlib.sha256).digest())
    assert token["signature"] == expected.decode()
    assert token["refresh_token"] and token["scope"] == "api refresh_token"
    me = httpx.get(f"{token['instance_url']}/services/data/v62.0/limits",
                   headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200


def test_pkce_errors_and_single_use_code(org: OrgEnv) -> None:
    verifier = "w" * 64
    code = org.authorize(code_challenge=_challenge(verifier))
    base = {"grant_type": "authorization_code", "client_id": "cid", "client_secret": "sec",
            "redirect_uri": REDIRECT_URI}
    missing = org.token_call(**base, code=code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    wrong = org.token_call(**base, code=code, code_verifier="x" * 64)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_request"
    assert org.token_call(**base, code=code, code_verifier=verifier).status_code == 200
    reused = org.token_call(**base, code=code, code_verifier=verifier)
    assert reused.json()["error"] == "invalid_grant"
    bad_secret = org.token_call(**{**base, "client_secret": "nope"}, code=org.authorize())
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"


def test_authorize_page_and_redirect_checks(org: OrgEnv) -> None:
    page = httpx.get(f"{org.sb.login_base}/services/oauth2/authorize",
                     params={"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT_URI})
    assert page.status_code == 200 and ADMIN in page.text and "Allow" in page.text
    bad = httpx.get(f"{org.sb.login_base}/services/oauth2/authorize",
                    params={"response_type": "code", "client_id": "cid", "redirect_uri": "https://evil.test/cb"})
    assert bad.status_code == 400 and "location" not in bad.headers
    denied = httpx.get(f"{org.sb.login_base}/services/oauth2/authorize",
                       params={"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT_URI,
                               "state": "s", "sandbox_login": ADMIN, "sandbox_consent": "deny"})
    assert "error=access_denied" in denied.headers["location"]


def test_refresh_keeps_refresh_token_out_and_revocation_gives_invalid_grant(org: OrgEnv) -> None:
    refresh = org.token["refresh_token"]
    renewed = org.token_call(grant_type="refresh_token", refresh_token=refresh, client_id="cid", client_secret="sec")
    assert renewed.status_code == 200
    assert "refresh_token" not in renewed.json() and renewed.json()["access_token"] != org.token["access_token"]
    revoke = httpx.post(f"{org.sb.instance_url}/services/oauth2/revoke", data={"token": refresh})
    assert revoke.status_code == 200 and revoke.text == ""
    again = org.token_call(grant_type="refresh_token", refresh_token=refresh, client_id="cid", client_secret="sec")
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant",
                                                         "error_description": "expired access/refresh token"}
    # access tokens issued from the refresh token die with it
    assert org.api.get("/limits").status_code == 401
    unknown = httpx.post(f"{org.sb.login_base}/services/oauth2/revoke", data={"token": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_token"


def test_expired_session_is_401_invalid_session_id(org: OrgEnv) -> None:
    assert org.api.get("/limits").status_code == 200
    org.sb.expire_sessions(org.org_id)
    response = org.api.get("/sobjects/Account/describe")
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
