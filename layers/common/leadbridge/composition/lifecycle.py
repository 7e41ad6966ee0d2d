"""Lead lifecycle events and activities (functions/export: routes and the bus consumer; the worker's outbound
retries): their services, built on the export services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadbridge.composition.cache import cached
from leadbridge.composition.export import export_services
from leadbridge.composition.stores import connection_store, outbound_store, processed_events

if TYPE_CHECKING:
    from datetime import datetime

    from leadbridge.lifecycle import LifecycleServices
    from leadbridge.lifecycle.activities import ActivityServices


@cached
def lifecycle_services() -> LifecycleServices:
    """What `handle_event` and `retry_pending_outbound` (the scheduled worker) take."""
    from leadbridge.lifecycle import LifecycleServices

    return LifecycleServices(export=export_services(), outbound=outbound_store(), processed=processed_events())


@cached
def activity_services() -> ActivityServices:
    from leadbridge.lifecycle.activities import ActivityServices

    def connected_at(tenant: str, crm: str) -> datetime | None:
        # The first connection of this CRM account: a re-authorization or reconnect does not move the cut-off.
        connection = connection_store().get(tenant, crm)
        return connection.connected_since if connection else None

    return ActivityServices(export=export_services(), connected_at=connected_at)
