"""Salesforce sandbox: OAuth web server flow with PKCE, REST API (sObjects, describe, SOQL, composite, replication),
Outbound Messages (see README.md)."""

from local.sandbox.salesforce.model import ApiError
from local.sandbox.salesforce.outbound import Attempt
from local.sandbox.salesforce.sandbox import SalesforceSandbox
from local.sandbox.salesforce.state import API_VERSION

__all__ = ["API_VERSION", "ApiError", "Attempt", "SalesforceSandbox"]
