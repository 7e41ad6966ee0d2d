"""Connecting a tenant to a CRM account: the OAuth flow (connect page, authorize, callback), webhook registration and
its health, connection status, disconnect and needs-reauth.

| module | owns |
|---|---|
| `ports` | `ConnectionRepository`, `ConnectionVault` and `ConnectionServices`, the ports every flow here takes first |
| `authorization` | start authorization (cookie-bound to the admin's browser), return-URL allow list, callback |
| `connect_page` | the page on the API's origin that makes the authorize call with the app window's token |
| `webhook_registration` | registering the CRM webhook at connect time and until it succeeds |
| `webhook_health` | the scheduled check that repairs a webhook the CRM stopped, lost or never had |
| `status` | a connection as the app sees it, one or one per supported CRM |
| `disconnection` | unregister, revoke, delete the secrets, mark disconnected |
| `reauth` | a refused refresh token: `needs_reauth`, sync log, `ConnectionNeedsReauth` on the bus |
| `log_entries` | the sync log entries of these flows |

Callers use this package's names (`from leadbridge import connect; connect.start_authorization(svc, ...)`).
"""

from leadbridge.connect.authorization import (
    AuthorizationStarted,
    BrowserCookie,
    CallbackError,
    CallbackParams,
    CallbackResult,
    ConnectPageTarget,
    browser_cookie_name,
    complete_authorization,
    connect_page_target,
    return_url_allowed,
    start_authorization,
    with_query,
)
from leadbridge.connect.connect_page import ConnectPage, render_connect_page
from leadbridge.connect.disconnection import disconnect
from leadbridge.connect.ports import ConnectionRepository, ConnectionServices, ConnectionVault, require_supported
from leadbridge.connect.reauth import CONNECTION_NEEDS_REAUTH, mark_needs_reauth
from leadbridge.connect.status import connection_status, list_connections
from leadbridge.connect.webhook_health import HealthOutcome, WebhookHealth, check_registration
from leadbridge.connect.webhook_registration import ensure_webhook

__all__ = [
    "CONNECTION_NEEDS_REAUTH",
    "AuthorizationStarted",
    "BrowserCookie",
    "CallbackError",
    "CallbackParams",
    "CallbackResult",
    "ConnectPage",
    "ConnectPageTarget",
    "ConnectionRepository",
    "ConnectionServices",
    "ConnectionVault",
    "HealthOutcome",
    "WebhookHealth",
    "browser_cookie_name",
    "check_registration",
    "complete_authorization",
    "connect_page_target",
    "connection_status",
    "disconnect",
    "ensure_webhook",
    "list_connections",
    "mark_needs_reauth",
    "render_connect_page",
    "require_supported",
    "return_url_allowed",
    "start_authorization",
    "with_query",
]
