"""The connect page: the window the app opens (`window.open`) to connect a CRM. It lives on the API's own origin so the
authorize call it makes is same-origin and the browser-binding cookie it receives is first-party in every browser.

The page holds nothing secret and grants nothing by itself: it asks its opener for the admin's token with
`postMessage` (sent only to the origin of the allowed return URL, accepted only from that origin and from the window
that opened it), makes the authenticated authorize call with it, and goes on to the CRM sign-in URL the call returns.
Opened by anyone else (a leaked link, another site's window) it gets no token, so it gets no cookie and no sign-in URL.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass

from leadbridge.connect.authorization import ConnectPageTarget

READY = "leadbridge:connect:ready"  # page -> app: "send the token"
TOKEN = "leadbridge:connect:token"  # app -> page: {type, token, require_same_email?}

# Runs in the page; its configuration comes from the JSON block (never interpolated into the script).
_SCRIPT = """
(() => {
  const cfg = JSON.parse(document.getElementById("lb-connect").textContent);
  const status = document.getElementById("status");
  const back = (error) => {
    const url = new URL(cfg.return_url);
    url.searchParams.set("status", "error");
    url.searchParams.set("error", error);
    url.searchParams.set("crm", cfg.crm);
    window.location.replace(url.toString());
  };
  const opener = window.opener;
  if (!opener) {
    status.textContent = "Open this page with the app's Connect button.";
    return;
  }
  let used = false;
  window.addEventListener("message", async (event) => {
    if (used || event.origin !== cfg.app_origin || event.source !== opener) return;
    const data = event.data || {};
    if (data.type !== cfg.token_message || typeof data.token !== "string") return;
    used = true;
    status.textContent = "Opening the sign-in page...";
    let answer;
    try {
      // The same URL as this page, as POST: the authorize call, same-origin, so its cookie is first-party.
      answer = await fetch(window.location.pathname, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Authorization": "Bearer " + data.token, "Content-Type": "application/json"},
        body: JSON.stringify({return_url: cfg.return_url, require_same_email: data.require_same_email === true}),
      });
    } catch (e) {
      back("temporarily_unavailable");
      return;
    }
    if (answer.ok) {
      window.location.replace((await answer.json()).authorization_url);
    } else {
      back(answer.status === 401 || answer.status === 403 ? "not_authorized" : "authorize_failed");
    }
  });
  opener.postMessage({type: cfg.ready_message, crm: cfg.crm}, cfg.app_origin);
})();
"""


@dataclass(frozen=True)
class ConnectPage:
    body: str
    content_security_policy: str


def render_connect_page(target: ConnectPageTarget) -> ConnectPage:
    nonce = secrets.token_urlsafe(16)
    config = {
        "crm": target.crm,
        "return_url": target.return_url,
        "app_origin": target.app_origin,
        "ready_message": READY,
        "token_message": TOKEN,
    }
    # `<` escaped so no value can close the script element.
    config_json = json.dumps(config).replace("<", "\\u003c")
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Connecting {html.escape(target.crm)}</title></head>"
        f"<body><h1>Connecting {html.escape(target.crm)}</h1><p id=status>Waiting for the app...</p>"
        f'<script type="application/json" id="lb-connect" nonce="{nonce}">{config_json}</script>'
        f'<script nonce="{nonce}">{_SCRIPT}</script></body></html>'
    )
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"  # a framed page's cookie would be third-party: the page works in its own window only
    )
    return ConnectPage(body=body, content_security_policy=policy)
