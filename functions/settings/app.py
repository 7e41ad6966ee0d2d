"""SettingsFunction: the integration settings document, its preview, and the CRM lookups the settings screen needs.

Members may read; writes are admin-only. PUT and PATCH need `If-Match` with the ETag of the settings read (428
without it, 412 when stale); `If-Match: *` overwrites whatever is current, deliberately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from leadbridge import runtime
from leadbridge import settings as domain
from leadbridge.api import (
    ERROR_CONTENT,
    SECURED,
    AdminCaller,
    Caller,
    Principal,
    http_lambda_handler,
    make_resolver,
)
from leadbridge.api.responses import BODY_ERRORS
from leadbridge.crm.base import CrmSelection
from leadbridge.models.crm import CrmObject, CrmObjectInfo, CrmUser, FieldInfo, Stage
from leadbridge.models.settings import SettingsDocument, SettingsInput
from leadbridge.store.settings import SettingsChange

app = make_resolver()


# What the routes take from the composition root, asked for per request (see leadbridge.api.dependencies).
def _settings_services() -> domain.SettingsServices:
    return runtime.settings_services()


Services = Annotated[domain.SettingsServices, Depends(_settings_services)]

CrmName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{1,31}$", description="CRM name, e.g. `superoffice`.")]
IfMatch = Annotated[
    str | None,
    Header(max_length=100, description='The `ETag` of the settings you read, e.g. `"3"`; `*` overwrites any version.'),
]
# The success answer comes from each route's return annotation; the 401 of the JWT authorizer is added by
# scripts/generate_openapi.py for every route behind it.
_READ_ERRORS: dict[int, OpenAPIResponse] = {
    403: {"description": "The token carries no tenant", "content": ERROR_CONTENT},
    404: {"description": "Unknown CRM", "content": ERROR_CONTENT},
    503: {"description": "The store is unavailable; retry later", "content": ERROR_CONTENT},
}
_CRM_ERRORS: dict[int, OpenAPIResponse] = {
    **_READ_ERRORS,
    409: {"description": "No CRM account connected, or it needs re-authorisation", "content": ERROR_CONTENT},
    422: {"description": "Invalid request", "content": ERROR_CONTENT},
    502: {"description": "The CRM failed", "content": ERROR_CONTENT},
    503: {"description": "The CRM or the store is unavailable; retry later", "content": ERROR_CONTENT},
}
_PREVIEW_ERRORS: dict[int, OpenAPIResponse] = {**_CRM_ERRORS, **BODY_ERRORS}
_WRITE_ERRORS: dict[int, OpenAPIResponse] = {
    **_CRM_ERRORS,
    **BODY_ERRORS,
    403: {"description": "Not an admin, or the token carries no tenant", "content": ERROR_CONTENT},
    412: {"description": "Stale If-Match: the settings changed since you read them", "content": ERROR_CONTENT},
    422: {"description": "Invalid settings: each error names the field path and the reason", "content": ERROR_CONTENT},
    428: {"description": "If-Match is missing", "content": ERROR_CONTENT},
}


def _with_etag(body: Any, version: int) -> Response[Any]:
    return Response(
        200, content_types.APPLICATION_JSON, body, headers={"ETag": domain.etag(version), "Cache-Control": "no-store"}
    )


def _require_if_match(value: str | None) -> str:
    if value is None or not value.strip():
        raise ServiceError(428, "Send If-Match with the ETag of the settings you read (GET /settings/{crm}).")
    return value


def _save(
    save: Callable[..., domain.SaveResult],
    admin: Principal,
    services: domain.SettingsServices,
    crm: str,
    body: Any,
    if_match: str | None,
) -> Response[Any]:
    """PUT and PATCH alike: admins only (the routes ask for an AdminCaller), If-Match required, the new version's
    ETag in the answer."""
    result = save(services, admin.tenant_id, crm, body, if_match=_require_if_match(if_match), actor=admin.user_id)
    return _with_etag(result, result.settings.version)


@app.get(
    "/settings/<crm>",
    summary="Read the integration settings",
    description="The whole document with defaults filled in (version 0 = nothing saved yet: the CRM's defaults). "
    "The `ETag` header is the version to send back in `If-Match`.",
    tags=["settings"],
    security=SECURED,
    responses=_READ_ERRORS,
)
def get_settings(crm: CrmName, caller: Caller, services: Services) -> Response[SettingsDocument]:
    document = domain.get_settings(services, caller.tenant_id, crm)
    return _with_etag(document, document.version)


@app.put(
    "/settings/<crm>",
    summary="Replace the integration settings",
    description="Admin only. Every section is replaced and validated against the connected CRM's live metadata. "
    "Mapped custom fields the CRM does not have are listed in `missing_fields` (skipped, not an error).",
    tags=["settings"],
    security=SECURED,
    responses=_WRITE_ERRORS,
)
def put_settings(
    crm: CrmName,
    body: Annotated[SettingsInput, Body()],
    admin: AdminCaller,
    services: Services,
    if_match: IfMatch = None,
) -> Response[domain.SaveResult]:
    return _save(domain.replace_settings, admin, services, crm, body, if_match)


@app.patch(
    "/settings/<crm>",
    summary="Change part of the integration settings",
    description="Admin only. A JSON merge patch (RFC 7396) over top-level sections, e.g. "
    '`{"schedule": {"frequency": "daily", "start_time": "06:00"}}`: objects merge, lists and values replace, '
    "null resets to the default. The result is validated as a whole, like PUT.",
    tags=["settings"],
    security=SECURED,
    responses=_WRITE_ERRORS,
)
def patch_settings(
    crm: CrmName,
    body: Annotated[dict[str, Any], Body()],
    admin: AdminCaller,
    services: Services,
    if_match: IfMatch = None,
) -> Response[domain.SaveResult]:
    return _save(domain.patch_settings, admin, services, crm, body, if_match)


@app.get(
    "/settings/<crm>/history",
    summary="Who changed the settings, when, and which sections",
    description="Newest first.",
    tags=["settings"],
    security=SECURED,
    responses=_READ_ERRORS,
)
def get_history(
    crm: CrmName, caller: Caller, services: Services, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[SettingsChange]:
    return domain.settings_history(services, caller.tenant_id, crm, limit=limit)


@app.post(
    "/settings/<crm>/preview",
    summary="Preview what an export of a sample lead would write",
    description="Returns, per object, exactly the CRM fields the current settings would write (the same function "
    "export uses), what is skipped and why, and whether the lead would be sent at all (create stage, selective "
    "sync). Writes nothing.",
    tags=["settings"],
    security=SECURED,
    responses=_PREVIEW_ERRORS,
)
def post_preview(
    crm: CrmName, body: Annotated[domain.PreviewRequest, Body()], caller: Caller, services: Services
) -> domain.PreviewResult:
    return domain.preview(services, caller.tenant_id, crm, body)


# --- lookups ---------------------------------------------------------------------------------------------------------


@app.get(
    "/crm/<crm>/objects",
    summary="CRM objects each app object can map to",
    tags=["settings"],
    security=SECURED,
    responses=_CRM_ERRORS,
)
def get_objects(crm: CrmName, caller: Caller, services: Services) -> list[CrmObjectInfo]:
    return domain.crm_source(services, caller.tenant_id, crm).objects()


@app.get(
    "/crm/<crm>/fields/<object>",
    summary="Fields of a CRM object (type, length, required, read-only, custom, picklist values)",
    tags=["settings"],
    security=SECURED,
    responses=_CRM_ERRORS,
)
def get_fields(
    crm: CrmName,
    object: Annotated[CrmObject, Path(description="company, person, deal or activity")],
    caller: Caller,
    services: Services,
    crm_object: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="A CRM object the CRM offers for `object` (`GET /crm/{crm}/objects`), e.g. `Lead`; default: "
            "the one the saved settings map it to.",
        ),
    ] = None,
) -> list[FieldInfo]:
    return domain.crm_fields(services, caller.tenant_id, crm, object, crm_object)


@app.get(
    "/crm/<crm>/stages",
    summary="Sale stages and statuses of the CRM",
    description='Pipeline stages have `group` "stage"; deal statuses (open/won/lost/stalled) have `group` "status".',
    tags=["settings"],
    security=SECURED,
    responses=_CRM_ERRORS,
)
def get_stages(crm: CrmName, caller: Caller, services: Services) -> list[Stage]:
    return domain.crm_source(services, caller.tenant_id, crm).stages()


@app.get(
    "/crm/<crm>/users",
    summary="CRM users (for default owners)",
    tags=["settings"],
    security=SECURED,
    responses=_CRM_ERRORS,
)
def get_users(crm: CrmName, caller: Caller, services: Services) -> list[CrmUser]:
    return domain.crm_source(services, caller.tenant_id, crm).users()


@app.get(
    "/crm/<crm>/selections",
    summary="CRM static selections (for the person sync picker)",
    description="The static selections of the connected CRM (SuperOffice) the connected user can read: id, name, "
    "what they list (`company`: the companies' current persons sync; `person`) and the member count. Use the ids in "
    "`selections.static_selection_ids`. A CRM without selections answers 404.",
    tags=["settings"],
    security=SECURED,
    responses=_CRM_ERRORS,
)
def get_selections(crm: CrmName, caller: Caller, services: Services) -> list[CrmSelection]:
    return domain.crm_selections(services, caller.tenant_id, crm)


@app.get(
    "/app-fields",
    summary="The app's fields that mappings and selective-sync rules can name",
    description="Per app object (company, person, deal, activity): each field's name and value kind. A save refuses "
    "a mapping or rule naming another (`unknown_app_field`).",
    tags=["settings"],
    security=SECURED,
    responses={403: _READ_ERRORS[403]},
)
def get_app_fields(caller: Caller) -> list[domain.AppField]:
    return domain.app_field_catalogue()


lambda_handler = http_lambda_handler(app)
