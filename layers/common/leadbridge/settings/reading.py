"""Reading the settings: the stored document or the CRM's defaults (version 0), and the history of changes."""

from __future__ import annotations

from leadbridge.crm.defaults import default_settings
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import app_fields
from leadbridge.models.settings import SettingsDocument
from leadbridge.settings.contracts import AppField
from leadbridge.settings.ports import SettingsServices, require_supported
from leadbridge.store.settings import SettingsChange


def get_settings(svc: SettingsServices, tenant_id: str, crm: str) -> SettingsDocument:
    """The stored document, or the CRM's defaults (version 0) when nothing was saved yet."""
    require_supported(svc, crm)
    return svc.store.current(tenant_id, crm) or default_settings(crm)


def settings_history(svc: SettingsServices, tenant_id: str, crm: str, *, limit: int = 50) -> list[SettingsChange]:
    require_supported(svc, crm)
    return svc.store.history(tenant_id, crm, limit=limit)


def app_field_catalogue() -> list[AppField]:
    """Every app field a mapping or a selective-sync rule may name, per object, with its value kind: the same list
    a save validates against."""
    return [AppField(object=obj, name=name, kind=kind) for obj in CrmObject for name, kind in app_fields(obj).items()]
