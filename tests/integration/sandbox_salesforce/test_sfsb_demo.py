"""The `make run` starter: a seeded demo org whose connected app accepts the local gateway's callback."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from local.sandbox.salesforce import starter
from local.sandbox.salesforce.demo import DEMO_ADMIN, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG_NAME
from local.sandboxes import StackContext


def test_starter_seeds_a_demo_org_and_tells_how_to_connect() -> None:
    context = StackContext(moto_endpoint="http://127.0.0.1:1", region="eu-west-1", stage="local",
                           resources=None,  # type: ignore[arg-type]  # the starter needs no AWS resource
                           gateway_url="http://127.0.0.1:3999", demo_tenant_id="demo-tenant")
    info = starter.start(context)
    try:
        assert info.name == "salesforce" and info.env["SALESFORCE_LOGIN_BASE"] == info.url
        assert info.env["SALESFORCE_CLIENT_ID"] == DEMO_CLIENT_ID
        assert info.secrets == {"leadbridge/local/apps/salesforce": DEMO_CLIENT_SECRET}
        banner = "\n".join(info.banner)
        assert "/connections/salesforce/authorize" in banner and DEMO_ADMIN in banner
        callback = "http://127.0.0.1:3999/oauth/salesforce/callback"
        consent = httpx.get(f"{info.url}/services/oauth2/authorize", params={
            "response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": callback, "state": "s",
            "scope": "api refresh_token", "sandbox_login": DEMO_ADMIN})
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        token: dict[str, Any] = httpx.post(f"{info.url}/services/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET, "redirect_uri": callback}).json()
        count = httpx.get(f"{token['instance_url']}/services/data/v62.0/query",
                          params={"q": "SELECT COUNT() FROM Account"},
                          headers={"Authorization": f"Bearer {token['access_token']}"}).json()
        assert count["totalSize"] == 120
        organization = httpx.get(f"{token['instance_url']}/services/data/v62.0/query",
                                 params={"q": "SELECT Id, Name, Country FROM Organization"},
                                 headers={"Authorization": f"Bearer {token['access_token']}"}).json()["records"]
        assert [(o["Id"], o["Name"], o["Country"]) for o in organization] == [
            (token["id"].split("/")[-2], DEMO_ORG_NAME, "Denmark")]
    finally:
        info.stop()
