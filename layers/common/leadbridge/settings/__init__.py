"""Integration settings: read with defaults, validate against the CRM's metadata, save with optimistic concurrency,
version, preview an export, and compute the schedule's next run.

| module | owns |
|---|---|
| `ports` | `SettingsServices` (store, live metadata, scheduler, log), `Connections`, `Vault`, `require_supported` |
| `contracts` | `AppField`, `SaveResult`, `PreviewRequest`, `PreviewResult` |
| `reading` | the stored document or the CRM's defaults (`get_settings`), the history of changes, the app fields |
| `saving` | replace / merge-patch with If-Match (ETags), a new version with its audit record and log entry |
| `validation` | a document against the CRM's live metadata; pydantic errors as 422s naming each field path |
| `previewing` | what exporting a sample lead would write; writes nothing |
| `crm_metadata` | the connector of a tenant's connection, the settings' object choice, the settings screen's lookups |
| `schedule` | the schedule's next run and the runs in a window |

Every function takes its ports in `SettingsServices`; nothing here imports boto3 or httpx. Callers use this package's
names (`from leadbridge import settings; settings.get_settings(svc, tenant_id, crm)`).
"""

from typing import TYPE_CHECKING

from leadbridge.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from leadbridge.settings.contracts import AppField, PreviewRequest, PreviewResult, SaveResult
    from leadbridge.settings.crm_metadata import (
        connector_for,
        crm_fields,
        crm_selections,
        crm_source,
        metadata_source,
        object_names,
    )
    from leadbridge.settings.ports import (
        Connections,
        Scheduler,
        SettingsServices,
        SyncLogWriter,
        Vault,
        require_supported,
    )
    from leadbridge.settings.previewing import preview
    from leadbridge.settings.reading import app_field_catalogue, get_settings, settings_history
    from leadbridge.settings.saving import etag, merge_patch, parse_if_match, patch_settings, replace_settings
    from leadbridge.settings.schedule import next_run, runs_between
    from leadbridge.settings.validation import invalid_from_pydantic, validate_against_crm

# Imported when first read (leadbridge.lazy_exports): a submodule's import no longer loads the whole area.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AppField": "contracts",
        "PreviewRequest": "contracts",
        "PreviewResult": "contracts",
        "SaveResult": "contracts",
        "connector_for": "crm_metadata",
        "crm_fields": "crm_metadata",
        "crm_selections": "crm_metadata",
        "crm_source": "crm_metadata",
        "metadata_source": "crm_metadata",
        "object_names": "crm_metadata",
        "Connections": "ports",
        "Scheduler": "ports",
        "SettingsServices": "ports",
        "SyncLogWriter": "ports",
        "Vault": "ports",
        "require_supported": "ports",
        "preview": "previewing",
        "app_field_catalogue": "reading",
        "get_settings": "reading",
        "settings_history": "reading",
        "etag": "saving",
        "merge_patch": "saving",
        "parse_if_match": "saving",
        "patch_settings": "saving",
        "replace_settings": "saving",
        "next_run": "schedule",
        "runs_between": "schedule",
        "invalid_from_pydantic": "validation",
        "validate_against_crm": "validation",
    },
)

__all__ = [
    "AppField",
    "Connections",
    "PreviewRequest",
    "PreviewResult",
    "SaveResult",
    "Scheduler",
    "SettingsServices",
    "SyncLogWriter",
    "Vault",
    "app_field_catalogue",
    "connector_for",
    "crm_fields",
    "crm_selections",
    "crm_source",
    "etag",
    "get_settings",
    "invalid_from_pydantic",
    "merge_patch",
    "metadata_source",
    "next_run",
    "object_names",
    "parse_if_match",
    "patch_settings",
    "preview",
    "replace_settings",
    "require_supported",
    "runs_between",
    "settings_history",
    "validate_against_crm",
]
