"""Integration settings (functions/settings, and every area that reads a tenant's settings): the settings services,
with the connected CRM's live metadata for validation and the connection store for the schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadbridge.composition.cache import cached
from leadbridge.composition.connect import token_vault
from leadbridge.composition.stores import connection_store, settings_store, sync_log

if TYPE_CHECKING:
    from leadbridge.settings import SettingsServices


@cached
def settings_services() -> SettingsServices:
    from leadbridge.crm.base import provider, supported
    from leadbridge.settings import SettingsServices, connector_for, object_names

    def stored_objects(tenant: str, crm: str) -> dict[str, str] | None:
        doc = settings_store().current(tenant, crm)
        return object_names(doc) if doc else None

    return SettingsServices(
        store=settings_store(),
        metadata=lambda tenant, crm: connector_for(
            connection_store(), token_vault(), provider, tenant, crm, stored_objects(tenant, crm)
        ),
        metadata_for=lambda tenant, crm, objects: connector_for(
            connection_store(), token_vault(), provider, tenant, crm, objects
        ),
        scheduler=connection_store(),
        supported_crms=supported,
        sync_log=sync_log(),
    )
