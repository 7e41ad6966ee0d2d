"""SyncApiFunction: the change feed (`GET /changes`) and sync runs (`POST /sync-runs`, `GET /sync-runs[/{id}]`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from leadbridge import runtime
from leadbridge.api import (
    SECURED,
    AdminCaller,
    Caller,
    error_responses,
    http_lambda_handler,
    make_resolver,
    model_response,
)
from leadbridge.api.responses import BODY_ERRORS
from leadbridge.inbound import runs as domain
from leadbridge.models.changes import ChangeFeedPage
from leadbridge.models.runs import StartRunRequest, SyncRun, SyncRunPage
from leadbridge.store.ports import ChangeFeed

app = make_resolver()


# What the routes take from the composition root, asked for per request (see leadbridge.api.dependencies).
def _run_services() -> domain.RunServices:
    return runtime.run_services()


def _change_feed() -> ChangeFeed:
    return runtime.change_feed()


RunServices = Annotated[domain.RunServices, Depends(_run_services)]
Changes = Annotated[ChangeFeed, Depends(_change_feed)]

Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")]
CrmParam = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z][a-z0-9_-]{1,31}$",
        description="The CRM, e.g. `superoffice`; only needed when the tenant has connected more than one.",
    ),
]


@app.get(
    "/changes",
    summary="Read the change feed",
    description="Every change leadbridge brought in from the CRM (scheduled sync and webhooks), oldest first, the "
    "same events as on the EventBridge bus. Keep `next_cursor` and pass it next time; it is always present. "
    "`has_more` says more changes are ready now. Delivery is at least once: de-duplicate by `id`. Changes are kept "
    "for the feed's retention (CHANGE_FEED_TTL_DAYS).",
    tags=["changes"],
    security=SECURED,
    responses={
        200: {"description": "A page of changes", "content": {"application/json": {"model": ChangeFeedPage}}},
        **error_responses(400, 403, 422, 503),
    },
)
def get_changes(
    caller: Caller,
    feed: Changes,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
) -> ChangeFeedPage:
    return feed.read(caller.tenant_id, cursor=cursor, limit=limit)


@app.post(
    "/sync-runs",
    summary="Start a sync run now",
    description="Queues a run of the tenant's connection (admin only): changes since the last run, or with "
    "`full: true` the whole data set with deletion detection; `objects` limits it. One run per connection at a "
    "time: 409 names the run in progress. Follow the run with `GET /sync-runs/{id}`.",
    tags=["sync runs"],
    security=SECURED,
    responses={
        202: {"description": "Queued", "content": {"application/json": {"model": SyncRun}}},
        **error_responses(403, 409, 422, 503),
        **BODY_ERRORS,
    },
)
def post_sync_run(
    body: Annotated[StartRunRequest, Body()], caller: AdminCaller, services: RunServices
) -> Response[SyncRun]:
    run = domain.start_run(services, caller.tenant_id, body, requested_by=caller.user_id)
    return model_response(202, run, headers={"Location": f"/sync-runs/{run.id}"})


@app.get(
    "/sync-runs",
    summary="List recent sync runs",
    description="Runs of the tenant's connection, newest first, with their state and counts: sync runs (`kind: sync`) "
    "and bulk exports (`kind: export`). Page with `next_cursor`.",
    tags=["sync runs"],
    security=SECURED,
    responses={
        200: {"description": "A page of runs", "content": {"application/json": {"model": SyncRunPage}}},
        **error_responses(400, 403, 409, 422, 503),
    },
)
def list_sync_runs(
    caller: Caller,
    services: RunServices,
    crm: CrmParam = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Cursor = None,
) -> SyncRunPage:
    return domain.list_runs(services, caller.tenant_id, crm=crm, limit=limit, cursor=cursor)


@app.get(
    "/sync-runs/<run_id>",
    summary="Show a sync run",
    description="State (`queued`, `running`, `continued`, `succeeded`, `failed`), counts per object (read, "
    "created, updated, unchanged, deleted, skipped, failed), progress of an initial import or full run against its "
    "estimated total, CRM calls used of the budget, and the first errors. A bulk export (`kind: export`, "
    "`POST /exports`) shows its leads in `export.totals`: done, created, linked, updated, unchanged, "
    "needs_decision, failed.",
    tags=["sync runs"],
    security=SECURED,
    responses={
        200: {"description": "The run", "content": {"application/json": {"model": SyncRun}}},
        **error_responses(403, 404, 422, 503),
    },
)
def get_sync_run(
    run_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$", description="Run id.")],
    caller: Caller,
    services: RunServices,
) -> SyncRun:
    return domain.get_run(services, caller.tenant_id, run_id)


lambda_handler = http_lambda_handler(app)
