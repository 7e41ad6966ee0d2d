"""Connecting a tenant to a CRM account: the OAuth flow (authorize, browser hop, callback), webhook registration and
its health, connection status, disconnect and needs-reauth."""
