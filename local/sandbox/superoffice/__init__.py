"""SuperOffice CRM Online sandbox: SuperID OIDC, Tenant Status API, REST WebAPI v1, webhooks (see README.md)."""

from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from local.sandbox.superoffice.webhooks import Delivery

__all__ = ["Delivery", "SuperOfficeSandbox"]
