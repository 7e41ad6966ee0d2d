"""HubSpot sandbox: OAuth 2.0 (`2026-03` token endpoints, deprecated v1), CRM v3 objects (CRUD, list, batch, search),
associations v4, properties, deal pipelines, owners, rate limits, webhooks v3 (see README.md). Not in the local stack
yet."""

from local.sandbox.hubspot.model import HubSpotError, OAuthError
from local.sandbox.hubspot.sandbox import HubSpotSandbox
from local.sandbox.hubspot.state import V1_SHUTDOWN

__all__ = ["V1_SHUTDOWN", "HubSpotError", "HubSpotSandbox", "OAuthError"]
