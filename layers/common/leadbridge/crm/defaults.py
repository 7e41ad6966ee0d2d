"""A CRM's profile, default settings and request budget by CRM name, as its registered `CrmProvider` declares them.

Sync code asks here (or the provider itself) and never names a CRM; a name no provider is registered for gets the
generic profile and settings (`leadbridge.crm.profile`). Each CRM's own values live in `leadbridge.crm.<name>.defaults`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from leadbridge.crm.base import provider, supported
from leadbridge.crm.profile import GENERIC_PROFILE, CrmProfile, generic_settings
from leadbridge.models.settings import SettingsDocument

__all__ = ["FALLBACK_REQUEST_BUDGET", "CrmProfile", "default_settings", "profile", "request_budget"]

FALLBACK_REQUEST_BUDGET = 10_000  # a CRM without a provider (a connection left from a CRM no longer built in)


def profile(crm: str) -> CrmProfile:
    return provider(crm).profile if crm in supported() else GENERIC_PROFILE


def default_settings(crm: str, objects: Mapping[str, str] | None = None) -> SettingsDocument:
    """The settings a tenant starts from (version 0) for `crm`; for `objects` (a CRM object per app object), the
    defaults that fit that choice."""
    if crm not in supported():
        return generic_settings(crm)
    found = provider(crm)
    # A provider written before the choice of objects existed offers one choice: its defaults fit every save.
    if objects is None or "objects" not in inspect.signature(found.default_settings).parameters:
        return found.default_settings()
    return found.default_settings(objects)


def request_budget(crm: str) -> int:
    """CRM requests one scheduled sync run of `crm` may send."""
    return provider(crm).request_budget if crm in supported() else FALLBACK_REQUEST_BUDGET
