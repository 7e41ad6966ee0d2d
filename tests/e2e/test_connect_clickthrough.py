"""What `make run` offers a person: the demo tenant's admin connects the demo SuperOffice sandbox through the sandbox's
HTML sign-in page and lands back on the local gateway's /swagger page (an allowed return URL of the local stack)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from local.stack import LocalStack


@pytest.fixture
def browser(stack: LocalStack) -> Iterator[httpx.Client]:
    stack.reset_aws()
    runtime.reset()
    reset_providers()
    with httpx.Client(timeout=15, follow_redirects=False) as client:
        yield client
    runtime.reset()


def test_demo_admin_clicks_through_connect(stack: LocalStack, browser: httpx.Client) -> None:
    assert any(s.name == "superoffice" for s in stack.sandboxes), "the SuperOffice demo sandbox did not start"
    admin = {"Authorization": f"Bearer {stack.admin_token()}"}
    return_url = f"{stack.gateway_url}/swagger"

    # The app opens leadbridge's connect page; it takes the admin's token from the app window and makes the
    # authorize call from the API's origin, which sets the state cookie in this browser.
    page = browser.get(f"{stack.gateway_url}/connections/superoffice/authorize", params={"return_url": return_url})
    assert page.status_code == 200 and "set-cookie" not in page.headers
    started = browser.post(
        f"{stack.gateway_url}/connections/superoffice/authorize", json={"return_url": return_url}, headers=admin
    )
    assert started.status_code == 200 and "set-cookie" in started.headers, started.text
    crm_url = started.json()["authorization_url"]
    sign_in = browser.get(crm_url)
    assert sign_in.status_code == 200 and sign_in.headers["content-type"].startswith("text/html")
    # The person picks the demo admin in the form and presses "Allow".
    form = {k: html.unescape(v) for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', sign_in.text)}
    assert "admin@demo-leads.dk" in sign_in.text
    action = re.search(r'<form method="post" action="([^"]+)"', sign_in.text)
    assert action is not None
    login_host = crm_url.split("/login/")[0]
    to_callback = browser.post(
        login_host + action.group(1), data={**form, "sandbox_login": "admin@demo-leads.dk", "sandbox_consent": "allow"}
    )
    assert to_callback.status_code == 302
    back = browser.get(to_callback.headers["location"])

    assert back.status_code == 302
    assert back.headers["location"] == f"{return_url}?status=connected&crm=superoffice"
    assert browser.get(back.headers["location"]).status_code == 200  # the landing page exists
    status = browser.get(f"{stack.gateway_url}/connections/superoffice", headers=admin).json()
    assert (status["status"], status["account_id"], status["account_name"]) == (
        "connected",
        "Cust12345",
        "Demo Leads ApS",
    )
