"""The Salesforce sandbox seen by a client of its own APIs (for the sandbox's tests, not leadbridge's).

- `OrgEnv`: an org with its admin's token and an `httpx.Client` on the instance's REST API; `authorize()` runs the
  login host's authorize step non-interactively, `token_call(**form)` posts to the token endpoint.
- `Receiver`: what an Outbound Message listener recorded, and the (status, body) replies it still has to give.
- `ACK`: the SOAP acknowledgement Salesforce waits for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from local.sandbox.salesforce import SalesforceSandbox

REDIRECT_URI = "http://127.0.0.1:9/callback"
ADMIN = "admin@acme.test"
ACK = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


@dataclass
class OrgEnv:
    sb: SalesforceSandbox
    org_id: str
    admin_id: str
    token: dict[str, Any]
    api: httpx.Client

    def authorize(self, **extra: str) -> str:
        params = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT_URI,
                  "scope": "api refresh_token", "state": "st", "sandbox_login": ADMIN, **extra}
        response = httpx.get(f"{self.sb.login_base}/services/oauth2/authorize", params=params)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["st"]
        return query["code"][0]

    def token_call(self, **form: str) -> httpx.Response:
        return httpx.post(f"{self.sb.login_base}/services/oauth2/token", data=form)


@dataclass
class Receiver:
    url: str
    bodies: list[bytes] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
