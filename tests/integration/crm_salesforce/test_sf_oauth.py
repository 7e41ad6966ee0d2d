"""Salesforce OAuth through the connector's flow against the sandbox login host: PKCE, grant facts, refresh on 401,
invalid_grant → NeedsReauth, revoke, provider registration from the environment."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from leadbridge.crm.base import provider, reset_providers
from leadbridge.crm.salesforce import SalesforceProvider
from leadbridge.errors import NeedsReauth
from leadbridge.models.crm import CrmObject
from tests.support.salesforce_connector import ADMIN_EMAIL, REDIRECT_URI, GrantTokens, SfEnv


def test_authorization_url_uses_pkce_and_asks_for_a_refresh_token(sf: SfEnv) -> None:
    request = sf.provider().oauth().authorization_request(redirect_uri=REDIRECT_URI)
    parts = urlsplit(request.url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sf.sandbox.login_base}/services/oauth2/authorize"
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["api refresh_token"] and query["state"] == [request.state]
    assert len(request.code_verifier) >= 43


def test_exchange_gives_org_instance_user_and_an_assumed_expiry(sf: SfEnv) -> None:
    grant = sf.connect(sf.provider().oauth())
    assert grant.account_id == sf.org_id and grant.user_id == sf.admin_id
    assert grant.api_base == sf.sandbox.instance_url != sf.sandbox.login_base
    assert grant.refresh_token and grant.user_email == ADMIN_EMAIL and grant.user_is_admin is True
    assert grant.expires_at is not None and 7000 < grant.expires_at - time.time() <= 7200
    assert grant.extra["login_base"] == sf.sandbox.login_base


def test_expired_session_refreshes_once_and_replays(sf: SfEnv) -> None:
    connector, tokens = sf.connector()
    first = tokens.grant.access_token
    sf.sandbox.expire_sessions(sf.org_id)
    assert connector.users()[0].id == sf.admin_id
    assert tokens.refreshes == 1 and tokens.grant.access_token != first
    assert tokens.grant.refresh_token  # kept although the refresh answer carries none
    # the refused call (an unknown session belongs to no org) and the replay
    assert sf.sandbox.call_counts("anonymous")["GET /query"] == 1
    assert sf.sandbox.call_counts(sf.org_id)["GET /query"] == 1


def test_revoked_refresh_token_is_needs_reauth(sf: SfEnv) -> None:
    connector, _tokens = sf.connector()
    sf.sandbox.revoke_refresh_tokens(sf.org_id)
    with pytest.raises(NeedsReauth):
        connector.get(CrmObject.COMPANY, "001000000000001AAA")


def test_revoke_ends_the_refresh_token(sf: SfEnv) -> None:
    oauth = sf.provider().oauth()
    grant = sf.connect(oauth)
    oauth.revoke(grant)
    with pytest.raises(NeedsReauth):
        oauth.refresh(grant)
    oauth.revoke(grant)  # revoking a dead token again is not an error


def test_a_wrong_client_secret_fails_the_exchange(sf: SfEnv) -> None:
    good = sf.provider().oauth()
    code, request = sf.authorize(good)
    bad = SalesforceProvider(client_id=sf.client_id, client_secret="wrong", login_base=sf.sandbox.login_base).oauth()
    with pytest.raises(Exception) as caught:
        bad.exchange_code(code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI)
    assert "invalid_client" in str(caught.value)


def test_provider_is_registered_and_built_from_env(sf: SfEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", sf.client_id)
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", sf.client_secret)
    monkeypatch.setenv("SALESFORCE_LOGIN_BASE", sf.sandbox.login_base)
    monkeypatch.delenv("SALESFORCE_CLIENT_SECRET_NAME", raising=False)
    reset_providers()
    try:
        built = provider("salesforce")
        assert isinstance(built, SalesforceProvider) and built.label == "Salesforce"
        grant = sf.connect(built.oauth())  # type: ignore[arg-type]
        assert grant.account_id == sf.org_id
        assert isinstance(GrantTokens(built.oauth(), grant).access_token(), str)
    finally:
        reset_providers()
