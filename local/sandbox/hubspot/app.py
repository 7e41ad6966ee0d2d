"""The HTTP side of the HubSpot sandbox: one WSGI app per host.

- app host (`app_base`, plays `https://app.hubspot.com`): `/oauth/authorize`, `/oauth/{hubId}/authorize`, and the
  admin API `/__admin/...`.
- api host (`api_base`, plays `https://api.hubapi.com`): the token endpoints (oauth.py) and the CRM API: v3 objects
  (CRUD, list, batch, search), properties, deal pipelines, owners, associations v4 (associations.py).

Every CRM request is counted under its portal, may meet an injected fault, is authenticated with its bearer token,
and spends the installed account's budget (110 per 10 s, search 5 per s apart) before it is served. Errors are
HubSpot's body (`status`, `message`, `correlationId`, `category`, `errors[]`); 429 is the rate-limit body of §7.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from local.sandbox.common import Fault
from local.sandbox.common.http import SandboxHttpApp, json_response
from local.sandbox.hubspot import associations as links
from local.sandbox.hubspot import oauth, webhooks_http
from local.sandbox.hubspot import objects as ops
from local.sandbox.hubspot import search as crm_search
from local.sandbox.hubspot.admin_http import handle_admin
from local.sandbox.hubspot.model import (
    WRITER,
    AccessToken,
    AccountDetails,
    AssociationBatchArchive,
    AssociationBatchCreate,
    AssociationBatchDefault,
    AssociationReadResult,
    AssociationType,
    BatchArchive,
    BatchCreate,
    BatchRead,
    BatchUpdate,
    BatchUpsert,
    ChangeSource,
    DefaultAssociation,
    HubSpotError,
    LabelledAssociation,
    NextPage,
    OAuthError,
    ObjectInput,
    OwnerPage,
    Paging,
    Pipeline,
    PipelineList,
    Portal,
    PropertyCreate,
    PropertyDefinition,
    PropertyList,
    RateLimited,
    Record,
    SearchRequest,
    SearchResponse,
    SimplePublicObject,
    UpdateInput,
    UpsertedObject,
    checked,
    not_found,
    page_body,
    validation_error,
)
from local.sandbox.hubspot.parsing import parse, parse_list
from local.sandbox.hubspot.pipelines import DEFAULT_PIPELINE
from local.sandbox.hubspot.state import HubSpotState, object_name

_PINNED_AUTHORIZE = re.compile(r"^/oauth/(\d+)/authorize/?$")
_NUMERIC_SEGMENT = re.compile(r"/\d{3,}(?=/|$)")
# what `query` searches, per object
_QUERY_PROPERTIES = {"contacts": ["firstname", "lastname", "email", "phone", "company"],
                     "companies": ["name", "domain", "phone"], "deals": ["dealname"], "tasks": ["hs_task_subject"]}
# scopes (§1.1) a request needs; tasks' scope is not in the reference, so task requests need none
_READ_SCOPE = {"contacts": "crm.objects.contacts.read", "companies": "crm.objects.companies.read",
               "deals": "crm.objects.deals.read"}
_WRITE_SCOPE = {k: v.replace(".read", ".write") for k, v in _READ_SCOPE.items()}
_SCHEMA_SCOPE = {k: f"crm.schemas.{k}.read" for k in _READ_SCOPE}
_FAULT_MESSAGES = {
    423: ("LOCKED", "The resource is locked during a high-volume upsert; retry in at least 2 seconds"),
    477: ("MIGRATION_IN_PROGRESS", "The account is being migrated; retry after the Retry-After interval"),
    502: ("BAD_GATEWAY", "Bad Gateway"),
    504: ("GATEWAY_TIMEOUT", "Gateway Timeout"),
    500: ("INTERNAL_ERROR", "Internal error"),
    401: ("INVALID_AUTHENTICATION", "Authentication credentials not found"),
}


def operation(method: str, path: str) -> str:
    """`GET /crm/v3/objects/contacts/{id}`: the call-count key (record ids folded)."""
    return f"{method} {_NUMERIC_SEGMENT.sub('/{id}', path.rstrip('/'))}"


class HubSpotApp(SandboxHttpApp):
    def __init__(self, sandbox: HubSpotState, role: str) -> None:
        self.sb = sandbox
        self.role = role

    def failure_response(self, exc: Exception) -> Response:
        if isinstance(exc, OAuthError):
            return json_response(exc.body(), exc.status)
        if isinstance(exc, HubSpotError):
            return json_response(exc.body(), exc.status, exc.headers)
        error = HubSpotError(500, "INTERNAL_ERROR", f"sandbox bug: {type(exc).__name__}: {exc}")
        return json_response(error.body(), 500)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if self.role == "app":
            if path.startswith("/__admin"):
                return handle_admin(self.sb, request)
            pinned = _PINNED_AUTHORIZE.match(path)
            if path.rstrip("/") == "/oauth/authorize" or pinned:
                return oauth.authorize(self.sb, request, int(pinned.group(1)) if pinned else None)
            return Response("Not found", status=404)
        if path.startswith("/oauth/"):
            return self.oauth(request)
        if path.startswith("/webhooks/v3/"):
            self.sb.calls.hit("developer", operation(request.method, path))
            return webhooks_http.handle(self.sb, request)
        return self.crm(request)

    def oauth(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        self.sb.calls.hit("oauth", operation(request.method, path))
        fault = self.sb.faults.hold(request.method, (path,), "oauth")
        if fault is not None:
            status = fault.status or 504
            raise OAuthError("server_error" if status >= 500 else "invalid_request",
                             fault.message or f"Injected fault: HTTP {status}", "ERROR", status)
        if path.startswith("/oauth/v1/"):
            return oauth.v1(self.sb, request)
        handlers = {**{p: oauth.token for p in oauth.TOKEN_PATHS}, "/oauth/2026-03/token/introspect":
                    oauth.introspect, "/oauth/2026-03/token/revoke": oauth.revoke}
        handler = handlers.get(path)
        if handler is None:
            raise OAuthError("invalid_request", f"{request.method} {path} does not exist", "NOT_FOUND", 404)
        return handler(self.sb, request)

    # --- the CRM API: budget, faults, authentication ---------------------------------------------------------------

    def crm(self, request: Request) -> Response:
        access = self._bearer(request)
        scope = str(access.hub_id) if isinstance(access, AccessToken) else "anonymous"
        self.sb.calls.hit(scope, operation(request.method, request.path))
        fault = self.sb.faults.hold(request.method, (request.path,), scope)
        if fault is not None:
            raise self._fault_error(fault)
        if not isinstance(access, AccessToken):
            raise HubSpotError(401, access or "INVALID_AUTHENTICATION",
                               "The OAuth token used to make this call expired." if access
                               else "Authentication credentials not found.")
        is_search = request.method == "POST" and request.path.rstrip("/").endswith("/search")
        headers = self._spend_budget(access, is_search)
        with self.sb.lock:
            portal = self.sb.portals.get(access.hub_id)
        if portal is None:
            raise HubSpotError(401, "INVALID_AUTHENTICATION", "The portal of this token no longer exists.")
        writer = WRITER.set(ChangeSource("INTEGRATION", str(self.sb.apps[access.client_id].app_id)))
        try:
            response = self.route(request, portal, access)
        except HubSpotError as err:  # an error answer spent the budget too, and says so
            err.headers = {**headers, **err.headers}
            raise
        finally:
            WRITER.reset(writer)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    def _bearer(self, request: Request) -> AccessToken | str | None:
        """The live token; "EXPIRED_AUTHENTICATION" for an expired one; None without a usable one."""
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        value = auth[7:].strip()
        live = self.sb.access_for(value)
        if live is not None:
            return live
        with self.sb.lock:
            known = self.sb.tokens.get(value)
        return "EXPIRED_AUTHENTICATION" if known is not None and not known.revoked else None

    def _fault_error(self, fault: Fault) -> HubSpotError:
        status = fault.status or 504
        headers = fault.retry_after_headers()
        if status == 429:
            return RateLimited("TEN_SECONDLY_ROLLING", fault.message or "You have reached your ten_secondly_rolling "
                               "limit.", headers)
        category, message = _FAULT_MESSAGES.get(status, ("ERROR", f"Injected fault: HTTP {status}"))
        return HubSpotError(status, category, fault.message or message, headers=headers)

    def _spend_budget(self, access: AccessToken, is_search: bool) -> dict[str, str]:
        """Count the request against the installed account's budget; 429 over it. Search has its own budget and
        answers no rate-limit headers (§3, §7)."""
        if is_search:
            if self.sb.search_limit.take(str(access.hub_id)) is None:
                raise RateLimited("SECONDLY", "You have reached your secondly limit.", {})
            return {}
        window = self.sb.general_limit
        remaining = window.take(f"{access.hub_id}:{access.client_id}")
        headers = self._limit_headers(0 if remaining is None else remaining)
        if remaining is None:
            raise RateLimited(window.policy.name, "You have reached your ten_secondly_rolling limit.", headers)
        return headers

    def _limit_headers(self, remaining: int) -> dict[str, str]:
        policy = self.sb.general_limit.policy
        style = self.sb.rate_limit_headers
        headers: dict[str, str] = {}
        if style in ("current", "both"):
            headers.update({"X-HubSpot-RateLimit-Max": str(policy.limit),
                            "X-HubSpot-RateLimit-Remaining": str(remaining),
                            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(policy.window_s * 1000))})
        if style in ("legacy", "both"):
            headers.update({"X-HubSpot-RateLimit-Secondly": str(policy.limit),
                            "X-HubSpot-RateLimit-Secondly-Remaining": str(remaining)})
        return headers

    # --- routes ----------------------------------------------------------------------------------------------------

    def route(self, request: Request, portal: Portal, access: AccessToken) -> Response:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            return self.objects(request, portal, access, parts[3:])
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and method == "POST":
            obj = self._object(parts[3])
            self._require(access, _SCHEMA_SCOPE[obj].replace(".read", ".write") if obj in _SCHEMA_SCOPE else None)
            spec = parse(PropertyCreate, request)
            if spec.name in self.sb.property_defs(portal.hub_id, obj):
                raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"A property named '{spec.name}' already exists.")
            definition = self.sb.add_property(
                portal.hub_id, obj, spec.name, spec.label, spec.type, spec.fieldType,
                options=[(o.value, o.label) for o in spec.options], unique=spec.hasUniqueValue,
                group=spec.groupName, description=spec.description or "")
            return json_response(checked(PropertyDefinition, definition), 201)
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) in (4, 5) and method == "GET":
            obj = self._object(parts[3])
            self._require(access, _SCHEMA_SCOPE.get(obj))
            defs = self.sb.property_defs(portal.hub_id, obj)
            if len(parts) == 5:
                if parts[4] not in defs:
                    raise not_found(f"Unable to find property {parts[4]} on {obj}")
                return json_response(checked(PropertyDefinition, defs[parts[4]]))
            return json_response(checked(PropertyList, {"results": list(defs.values())}))
        if parts[:4] == ["crm", "v3", "pipelines", "deals"] and method == "GET":
            if len(parts) == 4:
                return json_response(checked(PipelineList, {"results": [DEFAULT_PIPELINE]}))
            if len(parts) == 5 and parts[4] == DEFAULT_PIPELINE["id"]:
                return json_response(checked(Pipeline, DEFAULT_PIPELINE))
            raise not_found(f"Pipeline {parts[4:]} not found")
        if parts[:2] == ["crm", "v4"]:
            return self.associations(request, portal, parts[2:])
        if parts[0] == "account-info" and len(parts) == 3 and parts[2] == "details" and method == "GET":
            return json_response(self._account_details(portal, parts[1]))
        if parts[:3] == ["crm", "v3", "owners"] and method == "GET":
            self._require(access, "crm.objects.owners.read")
            return self.owners(request, portal, parts[3:])
        raise not_found(f"{method} {request.path} does not exist")

    def _account_details(self, portal: Portal, version: str) -> dict[str, Any]:
        """`GET /account-info/{version}/details` (scope `oauth`). The documented versions (`v3`, `2026-03`) carry no
        account name; only the `2027-03-beta` version adds `portalName` (HubSpot's account information guide)."""
        if version not in ("v3", "2026-03", "2027-03-beta"):
            raise not_found(f"GET /account-info/{version}/details does not exist")
        offset_ms = 3_600_000 if portal.time_zone.startswith("Europe/") else 0
        return AccountDetails(
            portalId=portal.hub_id, portalName=portal.name if version == "2027-03-beta" else None,
            accountType="STANDARD", timeZone=portal.time_zone,
            companyCurrency="DKK" if portal.time_zone == "Europe/Copenhagen" else "USD",
            additionalCurrencies=[], utcOffset="+01:00" if offset_ms else "+00:00",
            utcOffsetMilliseconds=offset_ms, uiDomain="app-eu1.hubspot.com", dataHostingLocation="eu1",
        ).model_dump(exclude_none=True)

    def _object(self, name: str) -> str:
        try:
            return object_name(name)
        except KeyError:
            raise validation_error(f"Unable to infer object type from: {name}") from None

    def _require(self, access: AccessToken, scope: str | None) -> None:
        if scope is not None and scope not in access.scopes:
            raise HubSpotError(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes to make "
                               "this call.", errors=[{"message": "One or more of the following scopes are required.",
                                                      "context": {"requiredGranularScopes": [scope]}}])

    def owners(self, request: Request, portal: Portal, rest: list[str]) -> Response:
        with self.sb.lock:
            owners = sorted(portal.owners.values(), key=lambda o: int(o.id))
        if rest:
            found = next((o for o in owners if o.id == rest[0]), None)
            if found is None:
                raise not_found(f"Owner {rest[0]} not found")
            return json_response(found.body())
        email = request.args.get("email")
        chosen = [o.body() for o in owners if email is None or o.email.lower() == email.lower()]
        return json_response(checked(OwnerPage, self._page(chosen, request, key=lambda o: o["id"])))

    def _page(self, items: list[dict[str, Any]], request: Request, *, key: Callable[[dict[str, Any]], str],
              limit_max: int | None = 100) -> dict[str, Any]:
        """`{results, paging.next.after}` over items in id order; `after` is the id of the first item not yet seen."""
        raw_limit = request.args.get("limit", "10")
        if not raw_limit.isdigit() or int(raw_limit) < 1 or (limit_max is not None and int(raw_limit) > limit_max):
            raise validation_error(f"limit must be an integer between 1 and {limit_max}")
        limit = int(raw_limit)
        after = request.args.get("after")
        start = 0
        if after is not None:
            start = next((i for i, item in enumerate(items) if int(key(item)) >= int(after)), len(items)) \
                if after.isdigit() else len(items)
        page = items[start:start + limit]
        if start + limit >= len(items):
            return page_body(page, None)
        next_after = key(items[start + limit])
        return page_body(page, next_after, f"{self.sb.api_base}{request.path}?after={next_after}")

    # --- CRM v3 objects -------------------------------------------------------------------------------------------

    def objects(self, request: Request, portal: Portal, access: AccessToken, rest: list[str]) -> Response:
        obj = self._object(rest[0])
        method = request.method
        reading = method == "GET" or rest[1:] in (["search"], ["batch", "read"])
        self._require(access, (_READ_SCOPE if reading else _WRITE_SCOPE).get(obj))
        defs = self.sb.property_defs(portal.hub_id, obj)
        if len(rest) == 1 and method == "GET":
            return self.list_objects(request, portal, obj, defs)
        if len(rest) == 1 and method == "POST":
            body = parse(ObjectInput, request)
            record = self._create(portal, obj, defs, body)
            return json_response(ops.public(obj, record, list(body.properties), defs, body.objectWriteTraceId), 201)
        if rest[1:] == ["search"] and method == "POST":
            return self.search(request, portal, obj, defs)
        if len(rest) == 3 and rest[1] == "batch" and method == "POST":
            return self.batch(request, portal, obj, defs, rest[2])
        if len(rest) == 2 and method in ("GET", "PATCH", "DELETE"):
            return self.one_object(request, portal, obj, defs, rest[1])
        raise not_found(f"{method} {request.path} does not exist")

    def _create(self, portal: Portal, obj: str, defs: ops.PropertyDefs, body: ObjectInput) -> Record:
        """A record and the associations of its create body, all or nothing: the targets are checked first."""
        with self.sb.lock:
            targets = []
            for link in body.associations:
                for spec in link.types:
                    target = links.target_object(portal, obj, spec.associationTypeId)
                    links.check_live(portal, target, link.to.id, status=400)
                    targets.append((target, link.to.id, spec.associationTypeId))
            record = ops.create(portal, obj, defs, body.properties, self.sb.next_record_id(), self.sb.clock())
            for target, target_id, type_id in targets:
                links.associate(portal, obj, record.id, target, target_id, [type_id])
            return record

    def _wanted(self, request: Request) -> list[str] | None:
        names = [n for raw in request.args.getlist("properties") for n in raw.split(",") if n]
        return names or None

    def list_objects(self, request: Request, portal: Portal, obj: str, defs: ops.PropertyDefs) -> Response:
        archived = request.args.get("archived", "false").lower() == "true"
        wanted = self._wanted(request)
        with self.sb.lock:
            records = sorted((r for r in portal.records[obj].values() if (r.archived_at is not None) == archived),
                             key=lambda r: int(r.id))
            shown = [ops.public(obj, r, wanted, defs) for r in records]
        return json_response(self._page(shown, request, key=lambda o: str(o["id"]), limit_max=self.sb.list_limit_max))

    def one_object(self, request: Request, portal: Portal, obj: str, defs: ops.PropertyDefs,
                   record_id: str) -> Response:
        id_property = request.args.get("idProperty")
        ops.check_id_property(defs, id_property)
        with self.sb.lock:
            if request.method == "GET":
                archived = request.args.get("archived", "false").lower() == "true"
                record = ops.find(portal, obj, record_id, id_property, archived=archived)
                return json_response(ops.public(obj, record, self._wanted(request), defs))
            record = ops.find(portal, obj, record_id, id_property)
            if request.method == "DELETE":
                ops.archive(portal, obj, record, self.sb.clock())
                return Response(status=204)
        body = parse(UpdateInput, request)
        with self.sb.lock:
            ops.update(portal, obj, defs, record, body.properties, self.sb.clock())
            return json_response(ops.public(obj, record, list(body.properties), defs))

    def batch(self, request: Request, portal: Portal, obj: str, defs: ops.PropertyDefs, action: str) -> Response:
        started = self.sb.clock()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        if action == "create":
            creates = parse(BatchCreate, request).inputs
            ops.check_batch_size(len(creates))
            for item in creates:
                try:
                    record = self._create(portal, obj, defs, item)
                    results.append(ops.public(obj, record, list(item.properties), defs, item.objectWriteTraceId))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, item.objectWriteTraceId))
            body, status = ops.batch_answer(results, errors, started, self.sb.clock(), 201)
            return json_response(body, status)
        if action == "update":
            updates = parse(BatchUpdate, request).inputs
            ops.check_batch_size(len(updates))
            for change in updates:
                try:
                    ops.check_id_property(defs, change.idProperty)
                    with self.sb.lock:
                        record = ops.find(portal, obj, change.id, change.idProperty)
                        ops.update(portal, obj, defs, record, change.properties, self.sb.clock())
                    results.append(ops.public(obj, record, list(change.properties), defs, change.objectWriteTraceId))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, change.objectWriteTraceId, change.id))
            body, status = ops.batch_answer(results, errors, started, self.sb.clock(), 200)
            return json_response(body, status)
        if action == "upsert":
            upserts = parse(BatchUpsert, request).inputs
            ops.check_batch_size(len(upserts))
            for up in upserts:
                try:
                    with self.sb.lock:
                        record, new = ops.upsert(portal, obj, defs, up.idProperty, up.id, up.properties,
                                                 self.sb.next_record_id(), self.sb.clock())
                    shown = ops.public(obj, record, list(up.properties), defs, up.objectWriteTraceId)
                    results.append(UpsertedObject.model_validate({**shown, "new": new}).model_dump(exclude_none=True))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, up.objectWriteTraceId, up.id))
            body, status = ops.batch_answer(results, errors, started, self.sb.clock(), 200)
            return json_response(body, status)
        if action == "read":
            read = parse(BatchRead, request)
            ops.check_batch_size(len(read.inputs))
            ops.check_id_property(defs, read.idProperty)
            archived = request.args.get("archived", "false").lower() == "true"
            for wanted in read.inputs:
                try:
                    with self.sb.lock:
                        record = ops.find(portal, obj, wanted.id, read.idProperty, archived=archived)
                    results.append(ops.public(obj, record, read.properties or None, defs))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, None, wanted.id))
            body, status = ops.batch_answer(results, errors, started, self.sb.clock(), 200)
            return json_response(body, status)
        if action == "archive":
            gone = parse(BatchArchive, request).inputs
            ops.check_batch_size(len(gone))
            with self.sb.lock:
                for target in gone:
                    doomed = portal.records[obj].get(target.id)
                    if doomed is not None and doomed.archived_at is None:
                        ops.archive(portal, obj, doomed, self.sb.clock())
            return Response(status=204)
        raise not_found(f"batch/{action} is not supported by the sandbox")

    def search(self, request: Request, portal: Portal, obj: str, defs: ops.PropertyDefs) -> Response:
        body = parse(SearchRequest, request)
        with self.sb.lock:
            as_of = self.sb.clock() - self.sb.search_index_lag
            live = [seen for r in portal.records[obj].values() if (seen := ops.indexed(r, as_of)) is not None]
            total, page, offset = crm_search.run(
                body, live, lambda name: defs[name]["type"] if name in defs else None, _QUERY_PROPERTIES[obj])
            results = [ops.public(obj, r, body.properties or None, defs) for r in page]
        # the cursor can point at 10,000: following it is the documented 400 (§3)
        paging = Paging(next=NextPage(after=str(offset + len(page)))) if offset + len(page) < total else None
        answer = SearchResponse(total=total, results=[SimplePublicObject.model_validate(r) for r in results],
                                paging=paging)
        return json_response(answer.model_dump(exclude_none=True))

    # --- associations v4 -------------------------------------------------------------------------------------------

    def associations(self, request: Request, portal: Portal, parts: list[str]) -> Response:
        """`objects/{obj}/{id}/associations/...` and `associations/{from}/{to}/labels|batch/...` (§5)."""
        method = request.method
        if parts[:1] == ["objects"] and len(parts) >= 5 and parts[3] == "associations":
            obj, record_id, rest = self._object(parts[1]), parts[2], parts[4:]
            if rest[:1] == ["default"] and len(rest) == 3 and method == "PUT":
                with self.sb.lock:
                    written = links.associate(portal, obj, record_id, self._object(rest[1]), rest[2])
                    return json_response(links.default_batch_body(written, [], self.sb.clock(), self.sb.clock()))
            to_obj = self._object(rest[0])
            if len(rest) == 1 and method == "GET":
                with self.sb.lock:
                    return json_response(links.list_body(links.read(portal, obj, record_id, to_obj)))
            if len(rest) == 2 and method == "PUT":
                specs = parse_list(AssociationType, request)
                with self.sb.lock:
                    links.associate(portal, obj, record_id, to_obj, rest[1], [s.associationTypeId for s in specs])
                    return json_response(links.labelled(obj, record_id, to_obj, rest[1], portal).model_dump(), 201)
            if len(rest) == 2 and method == "DELETE":
                with self.sb.lock:
                    links.remove(portal, obj, record_id, to_obj, rest[1])
                return Response(status=204)
        if parts[:1] == ["associations"] and len(parts) >= 4:
            from_obj, to_obj, action = self._object(parts[1]), self._object(parts[2]), "/".join(parts[3:])
            if action == "labels" and method == "GET":
                with self.sb.lock:
                    return json_response(links.labels_body(links.labels(portal, from_obj, to_obj)))
            if method == "POST" and action.startswith("batch/"):
                return self.association_batch(request, portal, from_obj, to_obj, action.removeprefix("batch/"))
        raise not_found(f"{method} {request.path} does not exist")

    def association_batch(self, request: Request, portal: Portal, from_obj: str, to_obj: str,
                          action: str) -> Response:
        """create (201), associate/default and read (200); 207 with per-input errors (`context.ids` = the from id);
        archive 204."""
        started = self.sb.clock()
        errors: list[dict[str, Any]] = []
        if action == "archive":
            gone = parse(AssociationBatchArchive, request).inputs
            ops.check_batch_size(len(gone))
            with self.sb.lock:
                for g in gone:
                    for target in g.to:
                        links.remove(portal, from_obj, g.from_.id, to_obj, target.id)
            return Response(status=204)
        if action == "create":
            creates = parse(AssociationBatchCreate, request).inputs
            ops.check_batch_size(len(creates))
            created: list[LabelledAssociation] = []
            for c in creates:
                try:
                    with self.sb.lock:
                        links.associate(portal, from_obj, c.from_.id, to_obj, c.to.id,
                                        [t.associationTypeId for t in c.types])
                        created.append(links.labelled(from_obj, c.from_.id, to_obj, c.to.id, portal))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, None, c.from_.id))
            body = links.labelled_batch_body(created, errors, started, self.sb.clock())
            return json_response(body, 207 if errors else 201)
        if action == "associate/default":
            pairs = parse(AssociationBatchDefault, request).inputs
            ops.check_batch_size(len(pairs))
            written: list[DefaultAssociation] = []
            for p in pairs:
                try:
                    with self.sb.lock:
                        written += links.associate(portal, from_obj, p.from_.id, to_obj, p.to.id)
                except HubSpotError as err:
                    errors.append(ops.item_error(err, None, p.from_.id))
            body = links.default_batch_body(written, errors, started, self.sb.clock())
            return json_response(body, 207 if errors else 200)
        if action == "read":
            reads = parse(BatchArchive, request).inputs  # the same `{inputs: [{id}]}` shape
            ops.check_batch_size(len(reads))
            found: list[AssociationReadResult] = []
            for r in reads:
                try:
                    with self.sb.lock:
                        found.append(links.read_result(portal, from_obj, r.id, to_obj))
                except HubSpotError as err:
                    errors.append(ops.item_error(err, None, r.id))
            body = links.read_batch_body(found, errors, started, self.sb.clock())
            return json_response(body, 207 if errors else 200)
        raise not_found(f"associations batch/{action} is not supported by the sandbox")
