"""The registered SuperOffice provider, built from environment settings (client secret from Secrets Manager in moto)."""

from __future__ import annotations

from collections.abc import Mapping

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from leadbridge.crm import base
from leadbridge.crm.base import ConnectionContext, Connector, OAuthFlow, WebhookRequest
from leadbridge.crm.superoffice import SuperOfficeProvider
from leadbridge.models.crm import CrmObject
from tests.support.superoffice_connector import CTX, SoEnv


def delivery(raw_body: bytes, headers: Mapping[str, str] | None = None) -> WebhookRequest:
    """A webhook delivery as the intake hands it to a verifier."""
    return WebhookRequest(url="https://api.test/webhooks", headers=dict(headers or {}), raw_body=raw_body)


def test_environment_selects_the_superoffice_host() -> None:
    assert SuperOfficeProvider.from_env({"SUPEROFFICE_ENVIRONMENT": "online"}).login_base == (
        "https://online.superoffice.com"
    )
    assert SuperOfficeProvider.from_env({}).login_base == "https://sod.superoffice.com"
    override = {"SUPEROFFICE_ENVIRONMENT": "online", "SUPEROFFICE_LOGIN_BASE": "http://127.0.0.1:1234/"}
    assert SuperOfficeProvider.from_env(override).login_base == "http://127.0.0.1:1234"
    with pytest.raises(ValueError, match="SUPEROFFICE_ENVIRONMENT"):
        SuperOfficeProvider.from_env({"SUPEROFFICE_ENVIRONMENT": "production"})


def test_registered_provider_reads_the_client_secret_from_secrets_manager(
    so: SoEnv, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="leadbridge/test/superoffice-client", SecretString=f'{{"client_secret": "{so.client_secret}"}}'
    )
    parameters.clear_caches()
    monkeypatch.setenv("SUPEROFFICE_CLIENT_ID", so.client_id)
    monkeypatch.setenv("SUPEROFFICE_CLIENT_SECRET_NAME", "leadbridge/test/superoffice-client")
    monkeypatch.setenv("SUPEROFFICE_LOGIN_BASE", so.sandbox.login_base)
    monkeypatch.delenv("SUPEROFFICE_CLIENT_SECRET", raising=False)
    base.reset_providers()
    try:
        provider = base.provider("superoffice")
        assert "superoffice" in base.supported()
        oauth = provider.oauth()
        assert isinstance(oauth, OAuthFlow)
        _, grant = so.connect(oauth)  # the token exchange only works with the secret from Secrets Manager
        assert grant.account_id == CTX

        tokens = _Tokens(grant.access_token)
        context = ConnectionContext(tenant_id="t", crm="superoffice", account_id=CTX, api_base=grant.api_base)
        connector = provider.connector(context, tokens)
        assert isinstance(connector, Connector)
        assert connector.create(CrmObject.COMPANY, {"Name": "Via env AS"}).fields["Name"] == "Via env AS"
        assert provider.webhooks().verify(delivery(b"{}"), "secret") is False
    finally:
        base.reset_providers()
        parameters.clear_caches()


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        raise AssertionError("no refresh expected")
