"""DispatcherFunction: every minute, queue a sync job for each connection whose scheduled run is due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadbridge import runtime
from leadbridge.inbound.dispatch import dispatch_due
from leadbridge.models.settings import Schedule
from leadbridge.observability import logger, metrics, tracer


def _schedule_of(tenant_id: str, crm: str) -> Schedule | None:
    document = runtime.settings_store().current(tenant_id, crm)
    return None if document is None else document.schedule


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = dispatch_due(
        datetime.now(UTC),
        index=runtime.due_index(),
        schedule_of=_schedule_of,
        queue=runtime.sync_queue(),
        remaining_ms=context.get_remaining_time_in_millis,
    )
    metrics.add_metric(name="SyncJobsQueued", unit=MetricUnit.Count, value=report.queued)
    logger.info("dispatched due connections", extra=report.model_dump(mode="json", exclude={"jobs"}))
    return report.model_dump(mode="json", exclude={"jobs"})
