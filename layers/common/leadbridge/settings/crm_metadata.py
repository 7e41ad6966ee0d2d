"""Reaching the connected CRM for the settings: the live connector of a tenant's connection (`connector_for`, with
the settings' object choice from `object_names`), the metadata source a document is checked against, and the live
lookups of the settings screen (`crm_source`: objects, fields, stages, users)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from leadbridge.crm.base import Connector, CrmProvider, CrmSelection, SupportsSelections
from leadbridge.crm.defaults import profile
from leadbridge.errors import ConnectionMissing, InvalidInput, NeedsReauth, NotFound
from leadbridge.mapping import MetadataSource
from leadbridge.models.connection import ConnectionStatus
from leadbridge.models.crm import CrmObject, FieldInfo
from leadbridge.models.settings import SettingsDocument
from leadbridge.settings.ports import Connections, SettingsServices, Vault, require_supported


def object_names(doc: SettingsDocument) -> dict[str, str]:
    """The CRM object chosen per app object (`{"company": "Account", ...}`), as `CrmProvider.connector` takes it."""
    return {obj.value: doc.objects.for_object(obj).crm_object for obj in CrmObject}


def connector_for(
    connections: Connections,
    vault: Vault,
    providers: Callable[[str], CrmProvider],
    tenant_id: str,
    crm: str,
    objects: Mapping[str, str] | None = None,
) -> Connector:
    """The live connector of the tenant's connection, or a clear 409 saying what to do. `objects`: the settings'
    object choice (see `object_names`)."""
    connection = connections.get(tenant_id, crm)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        raise ConnectionMissing(
            f"No {crm} account is connected; an admin must connect one before the settings can read the CRM.",
            details={"crm": crm},
        )
    if connection.status is ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauth(f"The {crm} connection must be re-authorised by an admin.", details={"crm": crm})
    if objects is None:
        return providers(crm).connector(connection.context(), vault.tokens(connection))
    return providers(crm).connector(connection.context(), vault.tokens(connection), objects)


def metadata_source(svc: SettingsServices, tenant_id: str, crm: str, doc: SettingsDocument) -> MetadataSource:
    return svc.metadata_for(tenant_id, crm, object_names(doc)) if svc.metadata_for else svc.metadata(tenant_id, crm)


def crm_source(svc: SettingsServices, tenant_id: str, crm: str) -> MetadataSource:
    """The connected CRM's metadata (objects, fields, stages, users), read live."""
    require_supported(svc, crm)
    return svc.metadata(tenant_id, crm)


def crm_fields(
    svc: SettingsServices, tenant_id: str, crm: str, obj: CrmObject, crm_object: str | None = None
) -> list[FieldInfo]:
    """The fields of the CRM object the settings map `obj` to, or of `crm_object` when given: one of the objects
    the CRM offers for `obj` (`GET /crm/{crm}/objects`), so a screen can list a choice's fields before it is saved
    (Salesforce Account or Lead). InvalidInput naming `crm_object` when the CRM does not offer it for `obj`."""
    source = crm_source(svc, tenant_id, crm)
    if crm_object is None:
        return source.fields(obj)
    offered = [o.crm_name for o in source.objects() if o.object is obj]
    if crm_object not in offered:
        raise InvalidInput(
            f"{profile(crm).label} offers {', '.join(offered) or 'no object'} for {obj.value}, not {crm_object!r}",
            errors=[
                {
                    "loc": ["query", "crm_object"],
                    "path": "crm_object",
                    "type": "unknown_crm_object",
                    "message": f"choose one of: {', '.join(offered)}",
                }
            ],
        )
    if svc.metadata_for is None:  # a CRM with one object per app object: the offered one is the saved one
        return source.fields(obj)
    stored = svc.store.current(tenant_id, crm)
    names = object_names(stored) if stored else {}
    return svc.metadata_for(tenant_id, crm, {**names, obj.value: crm_object}).fields(obj)


def crm_selections(svc: SettingsServices, tenant_id: str, crm: str) -> list[CrmSelection]:
    """The connected CRM's static selections for the settings picker (`selections.static_selection_ids`); a CRM
    without selections (its connector is not `SupportsSelections`) answers 404 saying so."""
    source = crm_source(svc, tenant_id, crm)
    if not isinstance(source, SupportsSelections):
        raise NotFound(f"{profile(crm).label} has no static selections to sync persons from.", details={"crm": crm})
    return source.selections()
