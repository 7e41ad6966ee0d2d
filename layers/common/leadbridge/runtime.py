"""The composition root: the factories handlers call (`runtime.export_services()`, `runtime.sync_log()`), re-exported
from `leadbridge.composition`, one module per area (see its docstring for the map). Domain code receives what they
return as arguments and never imports this module.

Each factory builds its object once per Lambda container. `reset()` (tests whose environment changes between cases)
forgets the settings and everything built so far. A test replacing a factory here (`monkeypatch.setattr(runtime,
"settings_services", ...)`) is seen by the handlers, which look factories up here per request.
"""

from __future__ import annotations

from leadbridge.composition.cache import cached, forget_all
from leadbridge.composition.connect import connection_services, token_vault
from leadbridge.composition.export import bulk_export_services, crm_metadata_cache, export_services
from leadbridge.composition.idempotency import IdempotentExport, idempotent_export
from leadbridge.composition.inbound import (
    change_relay_services,
    inbound_services,
    run_services,
    webhook_processing_services,
    worker_config,
    worker_services,
)
from leadbridge.composition.lifecycle import activity_services, lifecycle_services
from leadbridge.composition.settings import settings_services
from leadbridge.composition.stores import (
    change_feed,
    checkpoint_store,
    connection_store,
    due_index,
    event_publisher,
    lead_leases,
    link_store,
    outbound_store,
    processed_events,
    record_states,
    run_store,
    settings_store,
    sync_job_queue,
    sync_log,
    sync_queue,
    table,
    webhook_connections,
    webhook_event_claims,
    webhook_queue,
    webhook_secrets,
)


def reset() -> None:
    """Forget the settings and every adapter built so far."""
    forget_all()


__all__ = [
    "IdempotentExport",
    "activity_services",
    "bulk_export_services",
    "cached",
    "change_feed",
    "change_relay_services",
    "checkpoint_store",
    "connection_services",
    "connection_store",
    "crm_metadata_cache",
    "due_index",
    "event_publisher",
    "export_services",
    "idempotent_export",
    "inbound_services",
    "lead_leases",
    "lifecycle_services",
    "link_store",
    "outbound_store",
    "processed_events",
    "record_states",
    "reset",
    "run_services",
    "run_store",
    "settings_services",
    "settings_store",
    "sync_job_queue",
    "sync_log",
    "sync_queue",
    "table",
    "token_vault",
    "webhook_connections",
    "webhook_event_claims",
    "webhook_processing_services",
    "webhook_queue",
    "webhook_secrets",
    "worker_config",
    "worker_services",
]
