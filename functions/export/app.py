"""ExportFunction: lead export, lead events, sync status and the sync log (HTTP API routes of template.yaml)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from leadbridge import runtime
from leadbridge.api import SECURED, current_principal, error_responses, http_lambda_handler, make_resolver
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Outcome, SyncLogPage

app = make_resolver()


@app.get(
    "/sync-log",
    summary="Read the sync log",
    description="Record-level sync operations of the caller's tenant, newest first. Any member of the tenant may "
    "read it. Page with `next_cursor`.",
    tags=["sync log"],
    security=SECURED,
    responses={
        200: {"description": "A page of entries", "content": {"application/json": {"model": SyncLogPage}}},
        **error_responses(400, 401, 403, 422, 503),
    },
)
def get_sync_log(
    status: Annotated[Outcome | None, Query(description="Only entries with this outcome.")] = None,
    object_: Annotated[CrmObject | None, Query(alias="object", description="Only entries about this object.")] = None,
    lead_id: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=r"^[^#]+$", description="Only this lead's entries.")
    ] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; entries at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; entries at or before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> SyncLogPage:
    principal = current_principal(app)
    return runtime.sync_log().query(
        principal.tenant_id,
        status=status,
        object=object_,
        lead_id=lead_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


lambda_handler = http_lambda_handler(app)
