"""ExportFunction: lead export (one lead, or up to 1,000 in the background), lead events, sync status and the sync
log (HTTP API routes of template.yaml)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from leadbridge import export as domain
from leadbridge import lifecycle, runtime
from leadbridge.api import SECURED, Caller, error_responses, http_lambda_handler, make_resolver, model_response
from leadbridge.api.errors import ERROR_CONTENT, domain_error_response
from leadbridge.api.responses import BODY_ERRORS
from leadbridge.errors import Conflict, InvalidInput
from leadbridge.export.bulk import BulkExportServices, start_bulk_export
from leadbridge.export.contracts import BulkExportRequest, MatchRequest
from leadbridge.export.matching import MatchResult
from leadbridge.lifecycle import activities
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.models.runs import SyncRun
from leadbridge.models.synclog import Outcome, SyncLogPage
from leadbridge.observability import logger
from leadbridge.store.ports import SyncLog

app = make_resolver()


# What the routes take from the composition root, asked for per request (see leadbridge.api.dependencies).
def _export_services() -> domain.ExportServices:
    return runtime.export_services()


def _lifecycle_services() -> lifecycle.LifecycleServices:
    return runtime.lifecycle_services()


def _activity_services() -> activities.ActivityServices:
    return runtime.activity_services()


def _sync_log() -> SyncLog:
    return runtime.sync_log()


def _bulk_export_services() -> BulkExportServices:
    return runtime.bulk_export_services()


ExportServices = Annotated[domain.ExportServices, Depends(_export_services)]
LifecycleServices = Annotated[lifecycle.LifecycleServices, Depends(_lifecycle_services)]
ActivityServices = Annotated[activities.ActivityServices, Depends(_activity_services)]
Log = Annotated[SyncLog, Depends(_sync_log)]
BulkServices = Annotated[BulkExportServices, Depends(_bulk_export_services)]


def _export_in_progress(exc: domain.ExportInProgress) -> Response[Any]:
    response = domain_error_response(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


app.exception_handler(domain.ExportInProgress)(_export_in_progress)


LeadId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[^#~]+$", description="The lead's id in the app.")
]
CrmParam = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z][a-z0-9_-]{1,31}$",
        description="The CRM, e.g. `superoffice`; only needed when the tenant has connected more than one.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="A retried request with the same key (and body) returns the first result instead of exporting "
        "again. Kept 24 hours.",
    ),
]


# Every route that takes `?crm=`: a name leadbridge has no provider for is a 404, as an unknown path CRM is.
# (The 401 of the JWT authorizer in front of every route is added by scripts/generate_openapi.py.)
UNKNOWN_CRM: dict[int, OpenAPIResponse] = {
    404: {"description": "`crm` names a CRM leadbridge does not support", "content": ERROR_CONTENT},
}


def _same_lead(lead_id: str, lead: Lead, loc: list[str]) -> None:
    if lead.id != lead_id:
        raise InvalidInput(
            f"The lead in the body has id {lead.id!r}, the path says {lead_id!r}.",
            errors=[{"loc": ["body", *loc, "id"], "type": "mismatch", "message": "must equal the lead id in the path"}],
        )


@app.post(
    "/leads/<lead_id>/match",
    summary="Find the lead's company in the CRM",
    description="Candidate CRM companies, best first, each with why it matched (org number / CVR, normalised name, "
    "website domain, a contact's e-mail domain) and a confidence; `verdict` is `exact`, `possible` or `none`. "
    'Writes nothing. The body is `{"lead": {...}}` as for `/export` and `/preview`; a bare lead (the body of '
    "earlier versions) is still read in this release and answered with `Deprecation: true`.",
    tags=["export"],
    security=SECURED,
    responses={
        200: {"description": "The match", "content": {"application/json": {"model": MatchResult}}},
        **error_responses(403, 409, 422, 429, 502, 503),
        **UNKNOWN_CRM,
        **BODY_ERRORS,
    },
)
def match_lead(
    lead_id: LeadId, body: Annotated[MatchRequest, Body()], caller: Caller, services: ExportServices,
    crm: CrmParam = None,
) -> Response[MatchResult]:  # fmt: skip
    _same_lead(lead_id, body.lead, [] if body.bare_lead else ["lead"])
    result = domain.match_lead(services, caller.tenant_id, body.lead, crm=crm)
    deprecated = {"Deprecation": "true", "Link": '</openapi.json>; rel="deprecation"'} if body.bare_lead else None
    return model_response(200, result, headers=deprecated)


@app.post(
    "/leads/<lead_id>/export",
    summary="Export the lead to the CRM",
    description="Links or creates the company (`choice.mode`: `auto`, `link`, `create`) with its standard and "
    "custom fields, upserts every contact person, and stores the link. A re-export updates only what changed; an "
    "unchanged lead makes no CRM call. Send `Idempotency-Key` to make retries safe.",
    tags=["export"],
    security=SECURED,
    responses={
        200: {"description": "Exported", "content": {"application/json": {"model": domain.ExportResult}}},
        **error_responses(403, 409, 422, 429, 502, 503),
        **UNKNOWN_CRM,
        **BODY_ERRORS,
    },
)
def export_lead(
    lead_id: LeadId,
    body: Annotated[domain.ExportRequest, Body()],
    caller: Caller,
    services: ExportServices,
    crm: CrmParam = None,
    idempotency_key: IdempotencyKey = None,
) -> domain.ExportResult:
    _same_lead(lead_id, body.lead, ["lead"])
    if idempotency_key is None:
        return domain.export_lead(services, caller.tenant_id, body, crm=crm, correlation_id=logger.get_correlation_id())
    # Imported here: Powertools' idempotency package loads its DynamoDB layer and boto3 (~0.1 s of cold start) for
    # the requests that send an Idempotency-Key only.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    resolved = crm or services.active_crm(caller.tenant_id)
    idempotent = runtime.idempotent_export()
    idempotent.config.register_lambda_context(app.lambda_context)
    request = domain.IdempotentExportRequest.of(caller.tenant_id, resolved, idempotency_key, body)
    try:
        return idempotent.run(request=request)
    except IdempotencyValidationError:
        raise InvalidInput(
            "This Idempotency-Key was used with a different request body; use a new key for a new request.",
            errors=[{"loc": ["header", "idempotency-key"], "type": "reused", "message": "used with another body"}],
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "A request with this Idempotency-Key is still running.",
            details={"hint": "Retry in a few seconds to get its result."},
        ) from None


@app.post(
    "/exports",
    summary="Export many leads to the CRM in the background",
    description="Up to 1,000 leads, each exported exactly as `POST /leads/{id}/export` would (match, link or "
    "create the company, persons, custom fields; a linked lead is updated, an unchanged one writes nothing). "
    "Answers 202 with the run (`kind: export`) and `Location: /sync-runs/{id}`; follow it with "
    "`GET /sync-runs/{id}`: `export.totals` counts the leads done, created, linked, updated, unchanged, "
    "`needs_decision` (with `match: auto`, a lead with only possible CRM matches is set aside, never guessed: its "
    "sync log entry names the candidates; export it with a choice) and failed (the log entry says why, with a "
    "hint). Every lead has a sync log entry with the run's id (`run_id`). Everything is checked before the run is "
    "queued: a lead that cannot be sent (unknown field, duplicate id) is a 422 naming its index and field. Send "
    "`Idempotency-Key` to make retries safe: the same key and body answer the same run.",
    tags=["export"],
    security=SECURED,
    responses={
        202: {"description": "Accepted: the run, queued (or, for a repeated Idempotency-Key, as it is now)",
              "content": {"application/json": {"model": SyncRun}}},
        **error_responses(403, 409, 422, 503),
        **UNKNOWN_CRM,
        **BODY_ERRORS,
    },
)  # fmt: skip
def export_leads(
    body: Annotated[BulkExportRequest, Body()],
    caller: Caller,
    services: BulkServices,
    crm: CrmParam = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[SyncRun]:
    run = start_bulk_export(
        services, caller.tenant_id, body, crm=crm, idempotency_key=idempotency_key, requested_by=caller.user_id
    )
    return model_response(202, run, headers={"Location": f"/sync-runs/{run.id}"})


@app.post(
    "/leads/<lead_id>/events",
    summary="Report a lead lifecycle event",
    description="The app tells leadbridge that a lead was created, changed stage, was won, lost, deleted or "
    "transferred; leadbridge applies it to the CRM under the integration settings (create stage, selective sync, "
    "status mapping, on_won/on_lost/on_deleted/on_transferred, owners). `outcome` says what happened: `applied`, "
    "`skipped` (with the reason), `needs_decision` (only possible company matches: export the lead with a choice) "
    "or, with status 202, `queued` (the CRM is unavailable; leadbridge retries). Send `event_id` so a redelivery "
    "returns the first outcome; an event older than the last applied one is skipped.",
    tags=["export"],
    security=SECURED,
    responses={
        200: {"description": "Applied, skipped or needs a decision",
              "content": {"application/json": {"model": lifecycle.LeadEventResult}}},
        202: {"description": "Queued: the CRM is unavailable, leadbridge retries with backoff",
              "content": {"application/json": {"model": lifecycle.LeadEventResult}}},
        **error_responses(403, 409, 422, 502, 503),
        **UNKNOWN_CRM,
        **BODY_ERRORS,
    },
)  # fmt: skip
def lead_event(
    lead_id: LeadId,
    event: Annotated[lifecycle.LeadEvent, Body()],
    caller: Caller,
    services: LifecycleServices,
    crm: CrmParam = None,
) -> Response[lifecycle.LeadEventResult]:
    lifecycle.check_event(event, lead_id)
    result = lifecycle.handle_event(
        services, caller.tenant_id, event, crm=crm, correlation_id=logger.get_correlation_id()
    )
    queued = result.outcome is lifecycle.LeadEventOutcome.QUEUED
    return model_response(202 if queued else 200, result)


@app.post(
    "/leads/<lead_id>/activities",
    summary="Send an activity of the lead to the CRM",
    description="Creates the activity (call, meeting, task, e-mail, note) in the CRM (Salesforce Task, SuperOffice "
    "appointment) under the lead's CRM company and, with `person_ref`, its contact; fields follow the settings' "
    "activity mappings. Posting the same activity again updates it, writing only what changed (`status: done` "
    "completes it). `type` is optional: without it the activity is created as a plain task (as `type: task`; "
    "Salesforce Task `Type` Other, `TaskSubtype` Task) and a re-post without it leaves the CRM activity's type as it "
    "is; a `type` outside the listed values is a 422 naming `type`. Activities created before the CRM was connected "
    "are `skipped` with the reason; 409 when activity sync is off in the settings or the lead has no CRM company yet.",
    tags=["export"],
    security=SECURED,
    responses={
        200: {"description": "Created, updated, unchanged or skipped",
              "content": {"application/json": {"model": activities.ActivityResult}}},
        **error_responses(403, 409, 422, 429, 502, 503),
        **UNKNOWN_CRM,
        **BODY_ERRORS,
    },
)  # fmt: skip
def lead_activity(
    lead_id: LeadId,
    activity: Annotated[activities.Activity, Body()],
    caller: Caller,
    services: ActivityServices,
    crm: CrmParam = None,
) -> activities.ActivityResult:
    return activities.post_activity(
        services, caller.tenant_id, lead_id, activity, crm=crm, correlation_id=logger.get_correlation_id()
    )


@app.get(
    "/leads/<lead_id>/sync-status",
    summary="The lead's sync status",
    description="Whether the lead is linked to CRM records, since when, their ids and deep links, and the last "
    "error when an export failed after the last successful one.",
    tags=["export"],
    security=SECURED,
    responses={
        200: {"description": "The status", "content": {"application/json": {"model": domain.SyncStatus}}},
        **error_responses(403, 409, 422, 503),
        **UNKNOWN_CRM,
    },
)
def get_sync_status(
    lead_id: LeadId, caller: Caller, services: ExportServices, crm: CrmParam = None
) -> domain.SyncStatus:
    return domain.sync_status(services, caller.tenant_id, lead_id, crm=crm)


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
    caller: Caller,
    log: Log,
    status: Annotated[Outcome | None, Query(description="Only entries with this outcome.")] = None,
    object_: Annotated[CrmObject | None, Query(alias="object", description="Only entries about this object.")] = None,
    lead_id: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=r"^[^#]+$", description="Only this lead's entries.")
    ] = None,
    run_id: Annotated[
        str | None,
        Query(min_length=1, max_length=100, pattern=r"^[^#]+$", description="Only entries of this sync or export run."),
    ] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; entries at or after this time.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601; entries at or before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> SyncLogPage:
    return log.query(
        caller.tenant_id,
        status=status,
        object=object_,
        lead_id=lead_id,
        run_id=run_id,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


lambda_handler = http_lambda_handler(app)
