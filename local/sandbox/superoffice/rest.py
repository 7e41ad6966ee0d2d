"""A numbered API host (`https://sod2.superoffice.com`): the tenant REST API under `/{ctx}/api/v1/...`.

Order of checks per request: customer known (404) → customer lives on this host (421) → call counted → injected
faults → tenant state usable (503) → spec check of the request → bearer token (401) → route → spec check of the
response.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import SandboxHttpApp, json_response
from local.sandbox.superoffice import archives, odata, udef
from local.sandbox.superoffice.entities import COUNTRIES, KINDS, LISTS, SALE_STAGES, Kind, full_name
from local.sandbox.superoffice.http_errors import error_response, fault_response, misdirected
from local.sandbox.superoffice.model import EMPTY_DATE, ApiError, Customer, User, bad_request, utcnow
from local.sandbox.superoffice.state import USABLE_STATES, SuperOfficeState

_TENANT = re.compile(r"^/(Cust\d+)(/.*)?$", re.IGNORECASE)
_EVENT_NAME = re.compile(r"^[a-z]+(\.[a-z]+)?$|^webhook\d+\.(started|stopped|errors)$|^\*$")
PATCH_OPS = ("unknown", "add", "replace", "remove", "test", "move", "copy")

Handler = Callable[..., tuple[int, Any] | tuple[int, Any, dict[str, str]]]


class RestApp(SandboxHttpApp):
    def __init__(self, sandbox: SuperOfficeState, host_index: int) -> None:
        self.sb = sandbox
        self.host_index = host_index
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._build_routes()

    def failure_response(self, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return error_response(exc)
        return error_response(ApiError(500, "SandboxError", f"{type(exc).__name__}: {exc}"))  # a sandbox bug

    def dispatch(self, request: Request) -> Response:
        m = _TENANT.match(request.path)
        if not m:
            raise ApiError(404, "SoNotFoundException", f"No tenant in path {request.path}; use /CustNNNNN/api/v1/...")
        ctx, rest = m.group(1), m.group(2) or "/"
        with self.sb.lock:
            customer = self.sb.customers.get(ctx)
        if customer is None:
            raise ApiError(404, "SoNotFoundException", f"Unknown tenant {ctx}")
        op, _path_params, _ = self.sb.spec.match(request.method, rest) if rest.lower().startswith("/api/v1/") \
            else (None, {}, [])
        self.sb.calls.hit(ctx, op.label if op else f"{request.method} {rest}")
        if customer.api_host != self.host_index:
            return misdirected(ctx)
        faulted = fault_response(self.sb.faults, request, (request.path, rest), ctx)
        if faulted is not None:
            return faulted
        if customer.state not in USABLE_STATES:
            raise ApiError(503, "TenantNotRunning", f"Tenant {ctx} is {customer.state}")
        if rest.rstrip("/").lower() == "/api":
            return json_response({"v1": f"{self.sb.api_base(ctx)}/api/v1", "NetServerVersion": "11.10.0",
                          "Version": "Release_11.10_2026.02.24-02"})
        if not rest.lower().startswith("/api/v1/"):
            raise ApiError(404, "SoNotFoundException", f"No such endpoint {rest}")

        raw = request.get_data()
        body: Any = None
        body_is_json = False
        if raw.strip():
            try:
                body = json.loads(raw)
                body_is_json = True
            except ValueError:
                body_is_json = False
        query = list(request.args.items(multi=True))
        if self.sb.spec_check:
            # POST /Archive/{provider} takes its OData options form-encoded (SOD), which the spec does not describe.
            form = request.mimetype == "application/x-www-form-urlencoded"
            _, problems = self.sb.checker.check_request(
                request.method, rest, query, body, bool(raw.strip()) and not form, body_is_json
            )
            self.sb.record_violations(problems)
        user = self._authenticate(request, customer)
        status, payload, headers = self._route(request, customer, user, rest, body, raw, body_is_json)
        if self.sb.spec_check and op is not None:
            self.sb.record_violations(
                self.sb.checker.check_response(op, rest, status, payload, payload is not None or status == 204)
            )
        response = Response(status=status) if status == 204 or payload is None else json_response(payload, status)
        for k, v in headers.items():
            response.headers[k] = v
        return response

    def _authenticate(self, request: Request, customer: Customer) -> User:
        header = request.headers.get("Authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="SuperOffice"'}
        if not header.lower().startswith("bearer "):
            raise ApiError(401, "UnauthorizedAccessException", "Authorization: Bearer <access token> required",
                           headers=challenge)
        value = header[7:].strip()
        with self.sb.lock:
            token = self.sb.access_tokens.get(value)
            if token is None or token.revoked:
                raise ApiError(401, "UnauthorizedAccessException", "Invalid or revoked access token",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            if time.time() >= token.expires_at:
                raise ApiError(401, "UnauthorizedAccessException", "Access token expired",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                            'error_description="The access token expired"'})
            if token.ctx != customer.ctx:
                raise ApiError(401, "UnauthorizedAccessException",
                               f"Token was issued for {token.ctx}, not {customer.ctx}", headers=challenge)
            user = customer.users.get(token.associate_id)
        if user is None:
            raise ApiError(401, "UnauthorizedAccessException", "User no longer exists", headers=challenge)
        return user

    # --- routing ------------------------------------------------------------------------------------------------

    def _add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$"
        self.routes.append((method, re.compile(regex, re.IGNORECASE), handler))

    def _build_routes(self) -> None:
        for kind in KINDS.values():
            n = kind.name
            self._add("GET", f"/api/v1/{n}/default", self._with_kind(self.entity_default, kind))
            self._add("GET", f"/api/v1/{n}/UdefLayout/Published", self._with_kind(self.udef_layout, kind))
            self._add("GET", f"/api/v1/{n}/UdefLayout/Published/{{key}}", self._with_kind(self.udef_field, kind))
            self._add("GET", f"/api/v1/{n}/CustomField", self._with_kind(self.custom_field_info, kind))
            self._add("GET", f"/api/v1/{n}", self._with_kind(self.entity_archive, kind))
            self._add("POST", f"/api/v1/{n}", self._with_kind(self.entity_create, kind))
            self._add("GET", f"/api/v1/{n}/{{id}}/Simple", self._with_kind(self.entity_simple, kind))
            self._add("GET", f"/api/v1/{n}/{{id}}", self._with_kind(self.entity_get, kind))
            self._add("PUT", f"/api/v1/{n}/{{id}}", self._with_kind(self.entity_put, kind))
            self._add("PATCH", f"/api/v1/{n}/{{id}}", self._with_kind(self.entity_patch, kind))
            self._add("DELETE", f"/api/v1/{n}/{{id}}", self._with_kind(self.entity_delete, kind))
        self._add("GET", "/api/v1/Contact/{id}/Persons", self.contact_persons)
        self._add("GET", "/api/v1/Contact/Duplicates/{name}", self.duplicates_by_name)
        self._add("GET", "/api/v1/Contact/DuplicateDomains/{domain}", self.duplicates_by_domain)
        self._add("GET", "/api/v1/Archive/{provider}", self.archive)
        self._add("POST", "/api/v1/Archive/{provider}", self.archive)
        self._add("GET", "/api/v1/Selection", self.selection_list)
        self._add("GET", "/api/v1/Selection/{id}/Members", self.selection_members)
        self._add("GET", "/api/v1/List/Rating/Items", self.sale_stages)
        self._add("GET", "/api/v1/List/SaleType/Items", self.sale_types)
        self._add("GET", "/api/v1/MDOList/{listname}", self.mdo_list)
        self._add("GET", "/api/v1/User/currentPrincipal", self.current_principal)
        self._add("GET", "/api/v1/User/currentAssociate", self.current_associate)
        self._add("GET", "/api/v1/Webhook/default", self.webhook_default)
        self._add("GET", "/api/v1/Webhook", self.webhook_list)
        self._add("POST", "/api/v1/Webhook/Test", self.webhook_test)
        self._add("POST", "/api/v1/Webhook", self.webhook_create)
        self._add("GET", "/api/v1/Webhook/{id}/LastError", self.webhook_last_error)
        self._add("GET", "/api/v1/Webhook/{id}", self.webhook_get)
        self._add("PUT", "/api/v1/Webhook/{id}", self.webhook_put)
        self._add("PATCH", "/api/v1/Webhook/{id}", self.webhook_patch)
        self._add("DELETE", "/api/v1/Webhook/{id}", self.webhook_delete)

    @staticmethod
    def _with_kind(fn: Handler, kind: Kind) -> Handler:
        def bound(ctx: Ctx, **params: str) -> Any:
            return fn(ctx, kind, **params)

        return bound

    def _route(
        self, request: Request, customer: Customer, user: User, rest: str, body: Any, raw: bytes, is_json: bool
    ) -> tuple[int, Any, dict[str, str]]:
        allowed = []
        for method, regex, handler in self.routes:
            m = regex.match(rest)
            if not m:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            ctx = Ctx(self.sb, request, customer, user, body, raw, is_json)
            result = handler(ctx, **m.groupdict())
            status, payload, *extra = result
            return status, payload, (extra[0] if extra else {})
        if allowed:
            raise ApiError(405, "MethodNotAllowed", f"{request.method} not allowed on {rest}; use {sorted(allowed)}")
        raise ApiError(404, "SoNotFoundException", f"The sandbox does not implement {request.method} {rest}")

    # --- entities -----------------------------------------------------------------------------------------------

    def entity_default(self, c: Ctx, kind: Kind) -> tuple[int, Any]:
        from local.sandbox.superoffice.entities import new_record

        rec = new_record(kind)
        rec["Associate"] = c.user.associate_id  # preference default: the signed-in user owns new records
        if "Country" in kind.refs:
            rec["Country"] = 208
        with self.sb.lock:
            out = self.sb.renderer.entity(c.customer, kind, rec, None)
        return 200, out

    def entity_get(self, c: Ctx, kind: Kind, id: str) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
        ident = _ident(id, kind)
        with self.sb.lock:
            rec = self.sb.get_record(c.customer, kind.key, ident)
            since = _http_date(c.request.headers.get("If-Modified-Since"))
            if since is not None and _floor(rec["UpdatedDate"]) <= since:
                return 304, None
            out = self.sb.render(c.customer, kind.key, rec)
        return 200, _select(out, c.param("$select")), {"Last-Modified": _http_format(rec["UpdatedDate"])}

    def entity_simple(self, c: Ctx, kind: Kind, id: str) -> tuple[int, Any]:
        ident = _ident(id, kind)
        with self.sb.lock:
            rec = self.sb.get_record(c.customer, kind.key, ident)
            return 200, self.sb.renderer.simple(c.customer, kind, rec)

    def entity_create(self, c: Ctx, kind: Kind) -> tuple[int, Any]:
        body = c.json_object(kind.name + "Entity")
        out = self.sb.create(c.customer.ctx, kind.key, body, as_associate=c.user.associate_id)
        return 200, _select(out, c.param("$select"))

    def entity_put(self, c: Ctx, kind: Kind, id: str) -> tuple[int, Any]:
        ident = _ident(id, kind)
        body = c.json_object(kind.name + "Entity")
        with self.sb.lock:
            self._precondition(c, self.sb.get_record(c.customer, kind.key, ident))
            out = self.sb.update(c.customer.ctx, kind.key, ident, body, as_associate=c.user.associate_id,
                                 replace=True)
        return 200, _select(out, c.param("$select"))

    def entity_patch(self, c: Ctx, kind: Kind, id: str) -> tuple[int, Any]:
        ident = _ident(id, kind)
        body = c.patch_body()
        with self.sb.lock:
            rec = self.sb.get_record(c.customer, kind.key, ident)
            self._precondition(c, rec)
            doc = self.sb.render(c.customer, kind.key, rec)
            patched, touched_udf = apply_patch(doc, body, entity=True)
            # the rendered doc carries custom fields twice; keep the copy the patch addressed
            patched.pop("CustomFields" if touched_udf else "UserDefinedFields", None)
            out = self.sb.update(c.customer.ctx, kind.key, ident, patched, as_associate=c.user.associate_id)
        return 200, _select(out, c.param("$select"))

    def entity_delete(self, c: Ctx, kind: Kind, id: str) -> tuple[int, Any]:
        ident = _ident(id, kind)
        with self.sb.lock:
            self._precondition(c, self.sb.get_record(c.customer, kind.key, ident))
            self.sb.delete(c.customer.ctx, kind.key, ident, as_associate=c.user.associate_id)
        return 204, None

    def _precondition(self, c: Ctx, rec: dict[str, Any]) -> None:
        since = _http_date(c.request.headers.get("If-Unmodified-Since"))
        if since is not None and _floor(rec["UpdatedDate"]) > since:
            raise ApiError(412, "PreconditionFailedException",
                           f"Modified at {rec['UpdatedDate'].isoformat()}Z, after If-Unmodified-Since")

    def entity_archive(self, c: Ctx, kind: Kind) -> tuple[int, Any]:
        name = {"contact": "SimpleContact", "person": "Person", "sale": "FindSale", "appointment": "Appointment"}
        return self._archive(c, name[kind.key])

    def contact_persons(self, c: Ctx, id: str) -> tuple[int, Any]:
        ident = _ident(id, KINDS["contact"])
        with self.sb.lock:
            self.sb.get_record(c.customer, "contact", ident)
            provider = archives.person_provider(c.customer)
            rows = [r for r in archives.live(c.customer, "person") if r["Contact"] == ident]
            return 200, self._run(c, provider, rows)

    # --- custom fields ------------------------------------------------------------------------------------------

    def _udef_info(self, f: Any, kind: Kind) -> dict[str, Any]:
        out = self.sb.spec.carrier_template("SuperOffice.CRM.Services.UserDefinedFieldInfo")
        prefix = {"contact": "cl", "person": "pl", "sale": "sl", "appointment": "al"}[kind.key]
        out.update(
            UDefFieldId=f.udef_identity, ColumnId=f.column_id, FieldLabel=f.label, FieldType=f.field_type,
            ProgId=f.prog_id, TextLength=f.text_length, UdefIdentity=f.udef_identity, IsMandatory=f.is_mandatory,
            IsReadOnly=f.is_read_only, Type=kind.name, ShortLabel=f.label[:20], TabOrder=f.column_id,
            Page1LineNo=f.column_id, ListTableId=f.list_table_id, Justification="Default", Version=1,
            TemplateVariableName=f"{prefix}{f.column_id}", HasBeenPublished=True, FieldWidth=200, FieldHeight=20,
            MdoListName=f"udlist{f.list_table_id}" if f.field_type == "List" else "",
        )
        out["TableRight"] = {"Mask": "Read", "Reason": ""}
        return out

    def udef_layout(self, c: Ctx, kind: Kind) -> tuple[int, Any]:
        with self.sb.lock:
            return 200, [self._udef_info(f, kind) for f in c.customer.udefs[kind.key]]

    def udef_field(self, c: Ctx, kind: Kind, key: str) -> tuple[int, Any]:
        from urllib.parse import unquote

        with self.sb.lock:
            f = c.customer.udef(kind.key, unquote(key))
            if f is None:
                raise ApiError(404, "SoNotFoundException", f"{kind.name} udef {unquote(key)!r} not found")
            return 200, self._udef_info(f, kind)

    def custom_field_info(self, c: Ctx, kind: Kind) -> tuple[int, Any]:
        out = []
        with self.sb.lock:
            for f in c.customer.udefs[kind.key]:
                info = self.sb.spec.carrier_template("SuperOffice.CRM.Services.FieldInfoBase")
                info.update(FieldType=udef.FIELD_INFO_TYPE[f.field_type], FieldName=f.prog_id, DisplayName=f.label,
                            ShortLabel=f.label[:20], IsMandatory=f.is_mandatory, IsReadOnly=f.is_read_only,
                            IsExternal=False, Rank=f.column_id, TemplateVariableName=f"udef{f.column_id}")
                out.append(info)
        return 200, out

    # --- duplicates ---------------------------------------------------------------------------------------------

    def _duplicate(self, rec: dict[str, Any], rule: str, display: str) -> dict[str, Any]:
        out = self.sb.spec.carrier_template("SuperOffice.CRM.Services.DuplicateEntry")
        out.update(RuleName=rule, SoPrimaryKey=rec["ContactId"], EntryName=rec["Name"],
                   EntryIdentifier=rec["OrgNr"] or rec["Name"], RuleDisplayName=display)
        out["TableRight"] = None
        return out

    def duplicates_by_name(self, c: Ctx, name: str) -> tuple[int, Any]:
        from urllib.parse import unquote

        wanted = _norm_name(unquote(name))
        department = (c.param("department") or "").strip().lower()
        with self.sb.lock:
            rows = [r for r in archives.live(c.customer, "contact")
                    if _norm_name(r["Name"]) == wanted and (not department or r["Department"].lower() == department)]
            return 200, [self._duplicate(r, "SameNameDepartment", "Same name and department") for r in rows]

    def duplicates_by_domain(self, c: Ctx, domain: str) -> tuple[int, Any]:
        from urllib.parse import unquote

        wanted = unquote(domain).lower().removeprefix("www.")
        with self.sb.lock:
            rows = []
            for r in archives.live(c.customer, "contact"):
                domains = {d.lower().removeprefix("www.") for d in r["Domains"]}
                domains |= {_domain_of(u["Value"]) for u in r["Urls"]}
                domains |= {e["Value"].rsplit("@", 1)[-1].lower() for e in r["Emails"] if "@" in e["Value"]}
                if wanted in domains:
                    rows.append(r)
            return 200, [self._duplicate(r, "SameDomain", "Same domain") for r in rows]

    # --- archives -----------------------------------------------------------------------------------------------

    def archive(self, c: Ctx, provider: str) -> tuple[int, Any]:
        return self._archive(c, provider)

    def _archive(self, c: Ctx, provider_name: str) -> tuple[int, Any]:
        with self.sb.lock:
            provider, rows = archives.archive(c.customer, provider_name, c.user.associate_id)
            if "deleteddate" in (c.param("$filter") or "").lower():
                kind = provider.entity_name
                rows = archives.live(c.customer, kind, include_deleted=True) if kind in KINDS else rows
            return 200, self._run(c, provider, rows)

    def _run(self, c: Ctx, provider: odata.Provider, rows: list[dict[str, Any]]) -> dict[str, Any]:
        params = {k.lower(): v for k, v in c.request.args.items()}
        if c.request.method == "POST":
            params.update({k.lower(): v for k, v in c.request.form.items()})
        return odata.run(provider, rows, params, max_top=self.sb.odata_max_top,
                         raw_values=self.sb.archive_raw_values,
                         context={"associate_id": c.user.associate_id},
                         metadata_url=f"{self.sb.api_base(c.customer.ctx)}/api/v1/Archive/{provider.name}/$metadata")

    def selection_list(self, c: Ctx) -> tuple[int, Any]:
        with self.sb.lock:
            return 200, self._run(c, archives.selection_provider(), archives.selection_rows(c.customer))

    def selection_members(self, c: Ctx, id: str) -> tuple[int, Any]:
        ident = _ident(id, None)
        with self.sb.lock:
            sel = c.customer.selections.get(ident)
            if sel is None:
                raise ApiError(404, "SoNotFoundException", f"Selection id {ident} not found")
            members = set(sel.member_ids)
            if sel.target == "contact":
                provider = archives.contact_provider(c.customer, "ContactStaticSelection")
                rows = [r for r in archives.live(c.customer, "contact") if r["ContactId"] in members]
            else:
                provider = archives.person_provider(c.customer, "PersonStaticSelection")
                rows = [r for r in archives.live(c.customer, "person") if r["PersonId"] in members]
            return 200, self._run(c, provider, rows)

    # --- lists and users ----------------------------------------------------------------------------------------

    def sale_stages(self, c: Ctx) -> tuple[int, Any]:
        out = []
        for rank, (ident, (value, probability)) in enumerate(SALE_STAGES.items(), start=1):
            item = self.sb.spec.carrier_template("SuperOffice.CRM.Services.SaleStageEntity")
            item.update(SaleStageId=ident, Value=value, Probability=probability, Rank=rank, Tooltip=value)
            item["TableRight"] = None
            out.append(item)
        return 200, out

    def sale_types(self, c: Ctx) -> tuple[int, Any]:
        out = []
        for rank, (ident, name) in enumerate(LISTS["saletype"].items(), start=1):
            item = self.sb.spec.carrier_template("SuperOffice.CRM.Services.SaleTypeEntity")
            item.update(SaleTypeId=ident, Name=name, Tooltip=name, Rank=rank, DurationUnit="Month", SaleDuration=3)
            stages = []
            for stage_rank, (sid, (value, _p)) in enumerate(SALE_STAGES.items(), start=1):
                s = self.sb.spec.carrier_template("SuperOffice.CRM.Services.SelectableMDOListItem")
                s.update(Id=sid, Name=value, Rank=stage_rank, Selected=True)
                s["TableRight"] = None
                stages.append(s)
            item["Stages"] = stages
            item["TableRight"] = None
            out.append(item)
        return 200, out

    def mdo_list(self, c: Ctx, listname: str) -> tuple[int, Any]:
        name = listname.lower()
        with self.sb.lock:
            if name == "associate":
                entries = [(u.associate_id, u.full_name, u.email) for u in c.customer.users.values()]
            elif name == "country":
                entries = [(i, v["Name"], v["EnglishName"]) for i, v in COUNTRIES.items()]
            else:
                alias = {"prob": "rating", "salestage": "rating", "perspos": "position"}.get(name, name)
                if alias not in LISTS:
                    raise ApiError(404, "SoNotFoundException", f"MDO list {listname!r} not found")
                entries = [(i, v, "") for i, v in LISTS[alias].items()]
        out = []
        for rank, (ident, value, extra) in enumerate(entries, start=1):
            item = self.sb.spec.carrier_template("SuperOffice.CRM.Services.MDOListItem")
            item.update(Id=ident, Name=value, FullName=value, ToolTip=extra, Rank=rank, ExtraInfo=extra)
            item["TableRight"] = None
            out.append(item)
        return 200, out

    def current_principal(self, c: Ctx) -> tuple[int, Any]:
        u = c.user
        out = self.sb.spec.carrier_template("SuperOffice.CRM.Services.SoPrincipalCarrier")
        out.update(
            UserType="InternalAssociate", Associate=u.initials, AssociateId=u.associate_id, IsPerson=True,
            PersonId=u.person_id, CountryId=208, HomeCountryId=208, GroupId=1, RoleId=1 if u.is_admin else 2,
            RoleName="Administrator" if u.is_admin else "User", RoleDescription="", RoleType="Employee",
            FullName=u.full_name, EMailAddress=u.email, EjUserStatus="StatusNone",
            FunctionRights=["admin-all"] if u.is_admin else [], DatabaseContextIdentifier=c.customer.ctx,
            UserName=u.email,
        )
        return 200, out

    def current_associate(self, c: Ctx) -> tuple[int, Any]:
        out = self.sb.renderer.associate(c.user)
        out["TableRight"] = {"Mask": "Read", "Reason": ""}
        return 200, out

    # --- webhooks -----------------------------------------------------------------------------------------------

    def _webhooks_allowed(self) -> None:
        if not self.sb.webhooks_enabled:
            raise ApiError(403, "SoAccessDeniedException",
                           "Webhooks are not enabled for this application in SuperOffice Online")

    def _render_webhook(self, c: Ctx, hook: dict[str, Any], links: bool) -> dict[str, Any]:
        carrier = ("SuperOffice.WebApi.v1.Carriers.WebhookCarriers.WebhookWithLinks" if links
                   else "SuperOffice.CRM.Services.Webhook")
        out = self.sb.spec.carrier_template(carrier)
        for k, v in hook.items():
            if k in out:
                out[k] = copy.deepcopy(v)
        for k in ("RegisteredAssociate", "UpdatedAssociate"):
            user = c.customer.users.get(hook.get(k) or 0)
            out[k] = self.sb.renderer.associate(user) if user else None
        if links:
            base = f"{self.sb.api_base(c.customer.ctx)}/api/v1/Webhook"
            out["_Links"] = {"Self": f"{base}/{hook['WebhookId']}", "Archive": f"{base}/"}
        return out

    def webhook_default(self, c: Ctx) -> tuple[int, Any]:
        self._webhooks_allowed()
        return 200, self._render_webhook(c, {"WebhookId": 0, "State": "Active", "Type": "webhook",
                                             "NotifyVia": "None", "NotifyWhen": "None"}, links=False)

    def webhook_list(self, c: Ctx) -> tuple[int, Any]:
        self._webhooks_allowed()
        name_filter = (c.param("nameFilter") or "").lower()
        event_filter = c.param("eventFilter") or ""
        status_filter = (c.param("statusFilter") or "").lower()
        with self.sb.lock:
            hooks = [h for h in c.customer.webhooks.values()
                     if name_filter in (h["Name"] or "").lower()
                     and (not event_filter or event_filter in h["Events"])
                     and (not status_filter or status_filter in ("unknown", h["State"].lower()))]
            return 200, [self._render_webhook(c, h, links=False) for h in hooks]

    def webhook_get(self, c: Ctx, id: str) -> tuple[int, Any]:
        self._webhooks_allowed()
        with self.sb.lock:
            return 200, self._render_webhook(c, self._hook(c, id), links=True)

    def webhook_last_error(self, c: Ctx, id: str) -> tuple[int, Any]:
        self._webhooks_allowed()
        with self.sb.lock:
            return 200, self._hook(c, id)["LastError"]

    def _hook(self, c: Ctx, id: str) -> dict[str, Any]:
        ident = _ident(id, None)
        hook = c.customer.webhooks.get(ident)
        if hook is None:
            raise ApiError(404, "SoNotFoundException", f"Webhook id {ident} not found")
        return hook

    def webhook_test(self, c: Ctx) -> tuple[int, Any]:
        self._webhooks_allowed()
        hook = _webhook_input(c.json_object("Webhook"), {}, self.sb.allow_http_webhooks)
        ok, message = self.sb.webhooks.test_post(c.customer.ctx, hook)
        out = self.sb.spec.carrier_template("SuperOffice.CRM.Services.WebhookResult")
        out.update(Success=ok, Message=message)
        out["TableRight"] = None
        return 200, out

    def webhook_create(self, c: Ctx) -> tuple[int, Any]:
        self._webhooks_allowed()
        hook = _webhook_input(c.json_object("Webhook"), {}, self.sb.allow_http_webhooks)
        ok, message = self.sb.webhooks.test_post(c.customer.ctx, hook)
        if not ok:
            raise ApiError(400, "WebhookTestFailedException", message)
        now = utcnow().replace(microsecond=0).isoformat()
        with self.sb.lock:
            hook.update(WebhookId=c.customer.next_id("webhook"), Registered=now, Updated=now,
                        RegisteredAssociate=c.user.associate_id, UpdatedAssociate=c.user.associate_id,
                        TotalCalls=0, TotalErrors=0, ConsecutiveErrors=0, LastError="")
            c.customer.webhooks[hook["WebhookId"]] = hook
            return 200, self._render_webhook(c, hook, links=True)

    def _webhook_save(self, c: Ctx, id: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.sb.lock:
            current = copy.deepcopy(self._hook(c, id))
        hook = _webhook_input(body, current, self.sb.allow_http_webhooks)
        ok, message = self.sb.webhooks.test_post(c.customer.ctx, hook)
        if not ok:
            raise ApiError(400, "WebhookTestFailedException", message)
        with self.sb.lock:
            live = self._hook(c, id)
            if hook["State"] == "Active" and live["State"] != "Active":
                hook["ConsecutiveErrors"] = 0  # re-activation starts a fresh error count
            hook.update(Updated=utcnow().replace(microsecond=0).isoformat(), UpdatedAssociate=c.user.associate_id)
            live.update(hook)
            return 200, self._render_webhook(c, live, links=True)

    def webhook_put(self, c: Ctx, id: str) -> tuple[int, Any]:
        self._webhooks_allowed()
        return self._webhook_save(c, id, c.json_object("Webhook"))

    def webhook_patch(self, c: Ctx, id: str) -> tuple[int, Any]:
        self._webhooks_allowed()
        patch = c.patch_body()
        with self.sb.lock:
            doc = self._render_webhook(c, self._hook(c, id), links=False)
        patched, _ = apply_patch(doc, patch, entity=False)
        return self._webhook_save(c, id, patched)

    def webhook_delete(self, c: Ctx, id: str) -> tuple[int, Any]:
        self._webhooks_allowed()
        with self.sb.lock:
            hook = self._hook(c, id)
            del c.customer.webhooks[hook["WebhookId"]]
        return 204, None


class Ctx:
    """What a handler needs about the current request."""

    def __init__(self, sb: SuperOfficeState, request: Request, customer: Customer, user: User, body: Any,
                 raw: bytes, is_json: bool) -> None:
        self.sb = sb
        self.request = request
        self.customer = customer
        self.user = user
        self.body = body
        self.raw = raw
        self.is_json = is_json

    def param(self, name: str) -> str | None:
        lowered = name.lower()
        for k, v in self.request.args.items():
            if k.lower() == lowered:
                return v
        return None

    def json_object(self, what: str) -> dict[str, Any]:
        if not self.raw.strip():
            raise bad_request(f"Request body missing: send a {what} JSON object")
        if not self.is_json:
            raise bad_request(f"Request body is not valid JSON (expected a {what} object)")
        if not isinstance(self.body, dict):
            raise bad_request(f"Request body must be a {what} JSON object, got {type(self.body).__name__}")
        return self.body

    def patch_body(self) -> list[dict[str, Any]] | dict[str, Any]:
        if not self.raw.strip():
            raise bad_request("Request body missing: send a JSON Patch array or a merge-patch object")
        if not self.is_json:
            raise bad_request("Request body is not valid JSON")
        if not isinstance(self.body, list | dict):
            raise bad_request("PATCH body must be a JSON Patch array or a merge-patch object")
        return self.body


# --- JSON Patch / merge patch -------------------------------------------------------------------------------------


def apply_patch(doc: dict[str, Any], patch: list[Any] | dict[str, Any], *, entity: bool) -> tuple[dict[str, Any], bool]:
    """Apply an RFC 6902 array or RFC 7396 object to a rendered carrier. Returns (doc, touched UserDefinedFields)."""
    out = copy.deepcopy(doc)
    if isinstance(patch, dict):
        _merge(out, patch)
        return out, any(k.lower() == "userdefinedfields" for k in patch)
    touched_udf = False
    for i, op in enumerate(patch):
        if not isinstance(op, dict):
            raise bad_request(f"JSON Patch operation {i} must be an object with op and path")
        name = op.get("op")
        if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < len(PATCH_OPS):
            name = PATCH_OPS[name]
        if not isinstance(name, str) or name.lower() not in PATCH_OPS[1:]:
            raise bad_request(f"JSON Patch operation {i}: op {op.get('op')!r} is not add/replace/remove/test")
        name = name.lower()
        if name in ("move", "copy"):
            raise bad_request(f"JSON Patch operation {i}: '{name}' is not supported by SuperOffice")
        path = op.get("path")
        if not isinstance(path, str) or not path.strip("/"):
            raise bad_request(f"JSON Patch operation {i}: path must name a property")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.strip("/").split("/")]
        if entity and len(parts) >= 3 and parts[0].lower() == "address":
            raise bad_request(f"JSON Patch operation {i}: cannot patch {path}; replace Address/{parts[1]} as a whole")
        touched_udf = touched_udf or parts[0].lower() == "userdefinedfields"
        if name != "remove" and "value" not in op:
            raise bad_request(f"JSON Patch operation {i}: '{name}' needs a value")
        parent, key = _locate(out, parts, i, create=name == "add")
        if name == "test":
            current = _get(parent, key, i, path)
            if current != op["value"]:
                raise ApiError(409, "JsonPatchTestFailedException",
                               f"JSON Patch test failed at {path}: is {current!r}, expected {op['value']!r}")
            continue
        if isinstance(parent, list):
            if key == "-" and name == "add":
                parent.append(op["value"])
            else:
                idx = _index(key, parent, i, path, allow_end=name == "add")
                if name == "add":
                    parent.insert(idx, op["value"])
                elif name == "replace":
                    parent[idx] = op["value"]
                else:
                    parent.pop(idx)
        else:
            if name == "replace" and parent and key not in parent and parts[0].lower() not in ("customfields",
                                                                                      "userdefinedfields"):
                raise bad_request(f"JSON Patch operation {i}: {path} does not exist")
            # `remove` on a property clears it (an entity keeps every property)
            parent[key] = None if name == "remove" else op["value"]
    return out, touched_udf


def _match_key(obj: dict[str, Any], key: str) -> str:
    if key in obj:
        return key
    for k in obj:
        if k.lower() == key.lower():
            return k
    return key


def _locate(doc: Any, parts: list[str], i: int, *, create: bool) -> tuple[Any, Any]:
    node = doc
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_index(part, node, i, "/".join(parts), allow_end=False)]
        elif isinstance(node, dict):
            key = _match_key(node, part)
            if node.get(key) is None:
                if not create and depth < len(parts) - 1 and key not in node:
                    raise bad_request(f"JSON Patch operation {i}: {'/'.join(parts[:depth + 1])} does not exist")
                node[key] = {}
            node = node[key]
        else:
            raise bad_request(f"JSON Patch operation {i}: {'/'.join(parts[:depth + 1])} is not an object")
    last = parts[-1]
    if isinstance(node, dict):
        return node, _match_key(node, last)
    if isinstance(node, list):
        return node, last
    raise bad_request(f"JSON Patch operation {i}: parent of {'/'.join(parts)} is not an object or array")


def _get(parent: Any, key: Any, i: int, path: str) -> Any:
    if isinstance(parent, list):
        return parent[_index(key, parent, i, path, allow_end=False)]
    if key not in parent:
        raise bad_request(f"JSON Patch operation {i}: {path} does not exist")
    return parent[key]


def _index(key: str, arr: list[Any], i: int, path: str, *, allow_end: bool) -> int:
    if not key.isdigit():
        raise bad_request(f"JSON Patch operation {i}: {path}: {key!r} is not an array index")
    idx = int(key)
    if idx > len(arr) or (idx == len(arr) and not allow_end):
        raise bad_request(f"JSON Patch operation {i}: {path}: index {idx} out of range")
    return idx


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for raw_key, value in patch.items():
        key = _match_key(target, raw_key)
        if value is None:
            continue  # SuperOffice does not apply nulls from a merge patch; use JSON Patch to clear
        current = target.get(key)
        if isinstance(current, list) and isinstance(value, dict):
            current.append(value)  # an object where an array is expected is appended
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        else:
            target[key] = value


# --- helpers ------------------------------------------------------------------------------------------------------


def _ident(raw: str, kind: Kind | None) -> int:
    if not raw.isdigit():
        what = kind.name if kind else "id"
        raise bad_request(f"{what} id must be an integer, got {raw!r}")
    return int(raw)


def _select(entity: dict[str, Any], select: str | None) -> dict[str, Any]:
    """`$select=Name,OrgNr`: other properties are nulled out (SPEC parameter description)."""
    if not select:
        return entity
    wanted = {s.strip().lower() for s in select.split(",") if s.strip()}
    return {k: (v if k.lower() in wanted or k == "_Links" else _nulled(v)) for k, v in entity.items()}


def _nulled(value: Any) -> Any:
    """What a .NET carrier property holds when not selected: value types keep their default, the rest is null."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if value == EMPTY_DATE or (isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value)):
        return EMPTY_DATE
    return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"Unreadable date in conditional header: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _http_format(value: datetime) -> str:
    return value.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _floor(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _norm_name(name: str) -> str:
    return " ".join(name.lower().split())


def _domain_of(url: str) -> str:
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    return host.lower().removeprefix("www.")


def _webhook_input(body: dict[str, Any], current: dict[str, Any], allow_http: bool) -> dict[str, Any]:
    hook = {
        "WebhookId": current.get("WebhookId", 0), "Name": "", "Events": [], "TargetUrl": "", "Secret": "",
        "State": "Active", "Type": "webhook", "Headers": {}, "Properties": {}, "ErrorsEmail": "",
        "ErrorEmails": [], "Description": "", "NotifyVia": "None", "NotifyWhen": "None",
    }
    for k in list(hook):
        if k in current:
            hook[k] = current[k]
    for k in ("TotalCalls", "TotalErrors", "ConsecutiveErrors", "LastError", "Registered", "Updated",
              "RegisteredAssociate", "UpdatedAssociate"):
        if k in current:
            hook[k] = current[k]
    for k, v in body.items():
        if k in ("Name", "TargetUrl", "Secret", "Type", "Description", "ErrorsEmail"):
            if v is not None and not isinstance(v, str):
                raise bad_request(f"Webhook.{k}: expected a string")
            hook[k] = v or ""
        elif k == "Events":
            if not isinstance(v, list) or not all(isinstance(e, str) for e in v):
                raise bad_request("Webhook.Events: expected an array of event names like 'contact.created'")
            bad = [e for e in v if not _EVENT_NAME.match(e)]
            if bad:
                raise bad_request(f"Webhook.Events: invalid event names {bad}")
            hook[k] = list(v)
        elif k == "State":
            states = ("Unknown", "Active", "Stopped", "TooManyErrors")
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(states):
                v = states[v]
            if v not in states:
                raise bad_request(f"Webhook.State: {v!r} is not one of {states}")
            hook[k] = v
        elif k in ("Headers", "Properties"):
            if v is not None and not isinstance(v, dict):
                raise bad_request(f"Webhook.{k}: expected an object")
            hook[k] = dict(v or {})
        elif k == "ErrorEmails":
            hook[k] = list(v or [])
    if not hook["Events"]:
        raise bad_request("Webhook.Events: at least one event is required")
    if hook["Type"] not in ("webhook", "crmscript"):
        raise bad_request("Webhook.Type: must be 'webhook' or 'crmscript'")
    url = urlsplit(hook["TargetUrl"])
    loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
    if url.scheme != "https" and not (allow_http and url.scheme == "http" and loopback):
        raise bad_request(f"Webhook.TargetUrl must be an https:// URL, got {hook['TargetUrl']!r}")
    return hook


__all__ = ["RestApp", "apply_patch", "full_name"]
