"""The app's lead lifecycle events (stage changed, won, lost, deleted, transferred: CRM deals, deferred outbound
writes) and activities, written to the CRM.

| module | owns |
|---|---|
| `ports` | `Outbound` (pending outbound items), `Processed` (outcomes of applied events), `LifecycleServices` |
| `contracts` | the lead event and its result (`LeadEvent`, `LeadEventMessage`, `LeadEventResult`, `DealResult`, ...) |
| `events` | `check_event` (domain checks) and `handle_event` (lease, replay, apply, defer, remember) |
| `event_handlers` | applying one event: order check, selective-sync rules, the handler per event type |
| `event_context` | one event being applied (`EventContext`): its log entries, results, CRM call counts |
| `deals` | the CRM deal (export, create, write, delete), its link, the won/lost status, the owner on transfer |
| `deferred_outbound` | `defer` a retryable failure, `retry_pending_outbound` with `backoff`, drop for good |
| `event_delivery` | the retry-or-drop policy of an event delivered from the app's bus |
| `activities` | app activities as CRM activities (`post_activity`) |

Callers use this package's names (`from leadbridge import lifecycle; lifecycle.handle_event(svc, ...)`).
"""

from leadbridge.lifecycle.activities import (
    Activity,
    ActivityOutcome,
    ActivityResult,
    ActivityServices,
    ActivityStatus,
    ActivityType,
    post_activity,
)
from leadbridge.lifecycle.contracts import (
    DealAction,
    DealResult,
    LeadEvent,
    LeadEventMessage,
    LeadEventOutcome,
    LeadEventResult,
    LeadEventType,
    RetryCounts,
    RetryInfo,
)
from leadbridge.lifecycle.deferred_outbound import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    MAX_ATTEMPTS,
    RETRYABLE,
    backoff,
    defer,
    retry_pending_outbound,
)
from leadbridge.lifecycle.event_delivery import (
    DeliveryOutcome,
    EventDelivery,
    MalformedLeadEvent,
    deliver_lead_event,
    read_delivered_event,
)
from leadbridge.lifecycle.events import check_event, handle_event
from leadbridge.lifecycle.ports import LifecycleServices, Outbound, Processed

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "MAX_ATTEMPTS",
    "RETRYABLE",
    "Activity",
    "ActivityOutcome",
    "ActivityResult",
    "ActivityServices",
    "ActivityStatus",
    "ActivityType",
    "DealAction",
    "DealResult",
    "DeliveryOutcome",
    "EventDelivery",
    "LeadEvent",
    "LeadEventMessage",
    "LeadEventOutcome",
    "LeadEventResult",
    "LeadEventType",
    "LifecycleServices",
    "MalformedLeadEvent",
    "Outbound",
    "Processed",
    "RetryCounts",
    "RetryInfo",
    "backoff",
    "check_event",
    "defer",
    "deliver_lead_event",
    "handle_event",
    "post_activity",
    "read_delivered_event",
    "retry_pending_outbound",
]
