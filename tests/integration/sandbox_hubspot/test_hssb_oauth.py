"""OAuth 2.0 of the HubSpot sandbox (reference §1): authorize, the `2026-03` token endpoint with form-body parameters
only, the token answer's exact fields and 30-minute lifetime, errors with both RFC 6749 and legacy fields,
introspect, revoke, and the deprecated v1 endpoints up to their shutdown."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import httpx

from tests.integration.sandbox_hubspot.hub_env import ADMIN, REDIRECT_URI, SCOPES, HubEnv

CODE_FORM = {"grant_type": "authorization_code", "client_id": "cid", "client_secret": "sec",
             "redirect_uri": REDIRECT_URI}


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_code_exchange_answers_exactly_the_documented_fields_with_a_30_minute_token(hub: HubEnv) -> None:
    verifier = "v" * 64
    code = hub.authorize(code_challenge=_challenge(verifier), code_challenge_method="S256")
    response = hub.token_call(**CODE_FORM, code=code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    token = response.json()
    assert set(token) == {"access_token", "refresh_token", "expires_in", "token_type", "token_use", "hub_id",
                          "user_id", "scopes"}
    assert token["expires_in"] == 1800 and token["token_use"] == "access_token" and token["token_type"] == "bearer"
    assert token["hub_id"] == hub.hub_id and token["user_id"] == hub.user_id and token["scopes"] == SCOPES
    api = httpx.get(f"{hub.sb.api_base}/crm/v3/owners", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert api.status_code == 200
    hub.clock.advance(1800)
    expired = httpx.get(f"{hub.sb.api_base}/crm/v3/owners",
                        headers={"Authorization": f"Bearer {token['access_token']}"})
    assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_token_errors_carry_error_and_legacy_status_and_codes_are_single_use(hub: HubEnv) -> None:
    verifier = "w" * 64
    code = hub.authorize(code_challenge=_challenge(verifier))
    wrong = hub.token_call(**CODE_FORM, code=code, code_verifier="x" * 64)
    assert wrong.status_code == 400
    assert set(wrong.json()) == {"error", "error_description", "status", "message"}
    assert wrong.json()["error"] == "invalid_grant"
    assert hub.token_call(**CODE_FORM, code=code, code_verifier=verifier).status_code == 200
    reused = hub.token_call(**CODE_FORM, code=code, code_verifier=verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    bad_secret = hub.token_call(**{**CODE_FORM, "client_secret": "nope"}, code=hub.authorize())
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"
    other_redirect = hub.token_call(**{**CODE_FORM, "redirect_uri": "http://127.0.0.1:9/other"}, code=hub.authorize())
    assert other_redirect.json()["error"] == "invalid_grant"


def test_parameters_outside_the_form_body_are_refused(hub: HubEnv) -> None:
    code = hub.authorize()
    as_json = httpx.post(f"{hub.sb.api_base}/oauth/2026-03/token", json={**CODE_FORM, "code": code})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    in_query = httpx.post(f"{hub.sb.api_base}/oauth/2026-03/token", params={**CODE_FORM, "code": code})
    assert in_query.status_code == 400 and in_query.json()["error"] == "invalid_request"
    unknown_field = hub.token_call(**CODE_FORM, code=code, tenant="x")
    assert unknown_field.status_code == 400 and "tenant" in unknown_field.json()["message"]
    assert hub.token_call(**CODE_FORM, code=code).status_code == 200  # the code was not spent by the refusals


def test_refresh_keeps_the_refresh_token_and_revoke_ends_both(hub: HubEnv) -> None:
    refresh = hub.token["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "sec", "refresh_token": refresh}
    renewed = hub.token_call(**form)
    assert renewed.status_code == 200 and renewed.json()["refresh_token"] == refresh
    assert renewed.json()["access_token"] != hub.token["access_token"] and renewed.json()["expires_in"] == 1800
    introspect = hub.token_call("/oauth/2026-03/token/introspect", token=renewed.json()["access_token"],
                                client_id="cid", client_secret="sec")
    assert introspect.json()["active"] is True and introspect.json()["hub_id"] == hub.hub_id
    revoke = hub.token_call("/oauth/2026-03/token/revoke", token=refresh, client_id="cid", client_secret="sec")
    assert revoke.status_code == 200
    again = hub.token_call(**form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert hub.api.get("/crm/v3/owners").status_code == 401
    after = hub.token_call("/oauth/2026-03/token/introspect", token=renewed.json()["access_token"],
                           client_id="cid", client_secret="sec")
    assert after.json() == {"active": False}


def test_rotation_is_an_option_for_the_unconfirmed_case(hub: HubEnv) -> None:
    hub.sb.rotate_refresh_tokens = True
    try:
        form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "sec",
                "refresh_token": hub.token["refresh_token"]}
        rotated = hub.token_call(**form)
        assert rotated.status_code == 200 and rotated.json()["refresh_token"] != hub.token["refresh_token"]
        assert hub.token_call(**form).json()["error"] == "invalid_grant"
    finally:
        hub.sb.rotate_refresh_tokens = False


def test_authorize_page_pinned_hub_and_scope_checks(hub: HubEnv) -> None:
    page = httpx.get(f"{hub.sb.app_base}/oauth/authorize",
                     params={"client_id": "cid", "redirect_uri": REDIRECT_URI, "scope": "oauth"})
    assert page.status_code == 200 and ADMIN in page.text and "Acme Inc" in page.text
    assert hub.authorize(f"/oauth/{hub.hub_id}/authorize")
    other = httpx.get(f"{hub.sb.app_base}/oauth/999/authorize",
                      params={"client_id": "cid", "redirect_uri": REDIRECT_URI, "scope": "oauth",
                              "sandbox_login": ADMIN})
    assert other.status_code == 400
    extra_scope = httpx.get(f"{hub.sb.app_base}/oauth/authorize",
                            params={"client_id": "cid", "redirect_uri": REDIRECT_URI,
                                    "scope": "oauth crm.schemas.companies.write", "sandbox_login": ADMIN})
    assert extra_scope.status_code == 400 and "location" not in extra_scope.headers
    evil = httpx.get(f"{hub.sb.app_base}/oauth/authorize",
                     params={"client_id": "cid", "redirect_uri": "https://evil.test/cb", "scope": "oauth"})
    assert evil.status_code == 400 and "location" not in evil.headers
    denied = httpx.get(f"{hub.sb.app_base}/oauth/authorize",
                       params={"client_id": "cid", "redirect_uri": REDIRECT_URI, "scope": "oauth", "state": "s",
                               "sandbox_login": ADMIN, "sandbox_consent": "deny"})
    assert "error=access_denied" in denied.headers["location"]


def test_v1_endpoints_answer_until_the_shutdown_date(hub: HubEnv) -> None:
    access, refresh = hub.token["access_token"], hub.token["refresh_token"]
    info = httpx.get(f"{hub.sb.api_base}/oauth/v1/access-tokens/{access}")
    assert info.status_code == 200
    assert info.json()["hub_id"] == hub.hub_id and info.json()["user"] == ADMIN and info.json()["scopes"] == SCOPES
    refresh_info = httpx.get(f"{hub.sb.api_base}/oauth/v1/refresh-tokens/{refresh}")
    assert refresh_info.status_code == 200 and refresh_info.json()["hub_id"] == hub.hub_id
    v1_token = hub.token_call("/oauth/v1/token", grant_type="refresh_token", client_id="cid", client_secret="sec",
                              refresh_token=refresh)
    assert v1_token.status_code == 200 and v1_token.json()["expires_in"] == 1800
    hub.clock.now = datetime(2027, 2, 16, tzinfo=UTC).timestamp()
    gone = httpx.get(f"{hub.sb.api_base}/oauth/v1/refresh-tokens/{refresh}")
    assert gone.status_code == 404 and "2027-02-16" in gone.json()["message"]
    current = hub.token_call(grant_type="refresh_token", client_id="cid", client_secret="sec", refresh_token=refresh)
    assert current.status_code == 200
    deleted = httpx.delete(f"{hub.sb.api_base}/oauth/v1/refresh-tokens/{refresh}")
    assert deleted.status_code == 404


def test_v1_delete_of_a_refresh_token_revokes_it(hub: HubEnv) -> None:
    refresh = hub.token["refresh_token"]
    assert httpx.delete(f"{hub.sb.api_base}/oauth/v1/refresh-tokens/{refresh}").status_code == 204
    assert httpx.get(f"{hub.sb.api_base}/oauth/v1/refresh-tokens/{refresh}").status_code == 404
    again = hub.token_call(grant_type="refresh_token", client_id="cid", client_secret="sec", refresh_token=refresh)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert hub.api.get("/crm/v3/owners").status_code == 401
