"""The Salesforce org's name at connect (`SalesforceOAuth.exchange_code` → `Grant.account_name`) is best effort: an
org whose `Organization` record cannot be read (a server error, a refused profile, a dropped connection) still
connects, without a name. An httpx MockTransport stands in for the login host and the instance; the successful read
runs against the Salesforce sandbox (tests/e2e/test_connect_salesforce.py)."""

from __future__ import annotations

import httpx
import pytest

from leadbridge.crm.salesforce import SalesforceProvider
from leadbridge.crm.salesforce.oauth import SalesforceOAuth, token_signature

SECRET = "sf-app-secret"
ORG = "00D000000000001AAA"
IDENTITY = f"https://login.example.com/id/{ORG}/005000000000001AAA"
INSTANCE = "https://org.example.my.salesforce.com"


def _org(organization: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        if request.url.path == "/services/oauth2/token":
            issued = "1708058728442"
            return httpx.Response(200, json={
                "access_token": "00D!token", "refresh_token": "rt", "instance_url": INSTANCE, "id": IDENTITY,
                "issued_at": issued, "token_type": "Bearer", "scope": "api refresh_token",
                "signature": token_signature(SECRET, IDENTITY, issued)})  # fmt: skip
        if request.url.path.startswith("/id/"):
            return httpx.Response(200, json={"email": "admin@example.com", "is_admin": True})
        if "/sobjects/Organization/" in request.url.path:
            if isinstance(organization, Exception):
                raise organization
            return organization
        return httpx.Response(404, json=[{"errorCode": "NOT_FOUND", "message": "unexpected"}])

    return httpx.MockTransport(answer), asked


@pytest.mark.parametrize(
    "organization",
    [
        httpx.Response(500, json=[{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]),
        httpx.Response(403, json=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access to Organization"}]),
        httpx.Response(200, content=b"<html>maintenance</html>"),
        httpx.ConnectError("connection reset"),
    ],
    ids=["server_error", "refused", "not_json", "dropped"],
)
def test_an_unreadable_org_name_leaves_it_unset_and_the_connect_goes_on(
    organization: httpx.Response | Exception,
) -> None:
    transport, asked = _org(organization)
    oauth = SalesforceOAuth(client_id="c", client_secret=SECRET, login_base="https://login.example.com",
                            transport=transport)  # fmt: skip

    grant = oauth.exchange_code(code="code", code_verifier="v" * 43, redirect_uri="https://api.example.com/cb")

    assert grant.account_id == ORG and grant.access_token == "00D!token" and grant.user_email == "admin@example.com"
    assert grant.account_name is None
    assert f"GET /services/data/v62.0/sobjects/Organization/{ORG}" in asked


def test_the_org_name_is_read_through_the_deployments_api_version() -> None:
    transport, asked = _org(httpx.Response(200, json={"Id": ORG, "Name": "Acme Inc"}))
    env = {"SALESFORCE_CLIENT_ID": "c", "SALESFORCE_CLIENT_SECRET": SECRET,
           "SALESFORCE_LOGIN_BASE": "https://login.example.com", "SALESFORCE_API_VERSION": "v60.0"}  # fmt: skip
    configured = SalesforceProvider.from_env(env)
    provider = SalesforceProvider(client_id="c", client_secret=SECRET, login_base=configured.login_base,
                                  api_version=configured.api_version, transport=transport)  # fmt: skip

    grant = provider.oauth().exchange_code(code="code", code_verifier="v" * 43,
                                           redirect_uri="https://api.example.com/cb")  # fmt: skip

    assert grant.account_name == "Acme Inc"
    assert [a for a in asked if "/sobjects/" in a] == [f"GET /services/data/v60.0/sobjects/Organization/{ORG}"]
