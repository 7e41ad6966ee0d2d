"""The admin API over HTTP (`/__admin/...` on the login host), JSON in and out, for `make run` demos and non-Python
tools. Each endpoint maps to one Python admin method of `SuperOfficeState`; see README.md for the list."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from werkzeug.wrappers import Request, Response

from local.sandbox.common.admin import (
    answer_admin,
    answer_call_counts,
    answer_shell_endpoint,
    json_object_body,
    unknown_endpoint,
)
from local.sandbox.common.http import json_response
from local.sandbox.superoffice.model import ApiError
from local.sandbox.superoffice.state import SuperOfficeState

_KIND_PLURAL = {"contacts": "contact", "persons": "person", "sales": "sale", "appointments": "appointment"}

HELP = {
    "POST /__admin/reset": "forget everything",
    "POST /__admin/apps": "{redirect_uris, client_id?, client_secret?, name?} -> app",
    "GET /__admin/apps": "registered apps",
    "POST /__admin/customers": "{ctx, company_name?, api_host? (index)} -> customer",
    "GET /__admin/customers": "customers with their API base",
    "POST /__admin/customers/{ctx}/users": "{email, associate_id?, full_name?, is_admin?} -> user",
    "POST /__admin/customers/{ctx}/{contacts|persons|sales|appointments}": "entity JSON (?as_associate=) -> entity",
    "GET /__admin/customers/{ctx}/{kind}/{id}": "entity",
    "PATCH /__admin/customers/{ctx}/{kind}/{id}": "entity JSON merged in (?as_associate=) -> entity",
    "DELETE /__admin/customers/{ctx}/{kind}/{id}": "delete (?soft=true: recycle bin)",
    "POST /__admin/customers/{ctx}/udefs": "{entity, prog_id, label, field_type, text_length?, list_items?, "
                                           "mandatory?}",
    "POST /__admin/customers/{ctx}/selections": "{name, target: contact|person, member_ids}",
    "POST /__admin/customers/{ctx}/favourites": "{associate_id, contact_ids?, person_ids?, sale_ids?}",
    "POST /__admin/customers/{ctx}/move": "{api_host} -> old host answers 421",
    "POST /__admin/customers/{ctx}/state": "{state: Running|Suspended|...}",
    "POST /__admin/customers/{ctx}/expire-tokens": "expire every access token of the customer",
    "POST /__admin/customers/{ctx}/revoke-consent": "{client_id?} refresh -> invalid_grant, API -> 401",
    "GET /__admin/customers/{ctx}/calls": "call counts by operation (DELETE resets)",
    "POST /__admin/faults": "{kind: 429|500|503|421|latency|timeout, count?, path_prefix?, method?, ctx?, "
                            "retry_after?, seconds?}",
    "GET /__admin/faults": "active faults (DELETE clears, ?id= one)",
    "GET /__admin/deliveries": "webhook delivery attempts (?ctx=)",
    "GET /__admin/spec-violations": "spec violations seen (DELETE clears)",
}


def _json(body: Any, status: int = 200) -> Response:
    return json_response(body, status, render=str)


def handle_admin(sb: SuperOfficeState, request: Request) -> Response:
    return answer_admin(lambda: _dispatch(sb, request), api_error=ApiError, render=str)


def _as_associate(request: Request) -> int | None:
    raw = request.args.get("as_associate")
    return int(raw) if raw else None


def _dispatch(sb: SuperOfficeState, request: Request) -> Response:
    path = request.path.rstrip("/")
    method = request.method
    parts = path.split("/")[2:]  # after "", "__admin"
    if not parts:
        return _json({"endpoints": HELP, "login_base": sb.login_base, "api_hosts": sb.api_hosts})
    head = parts[0]
    shared = answer_shell_endpoint(sb, request, head, fault_scope_key="ctx", render=str)
    if shared is not None:
        return shared
    if head == "apps":
        if method == "POST":
            b = json_object_body(request)
            app = sb.register_app(b.get("redirect_uris") or [], client_id=b.get("client_id"),
                                  client_secret=b.get("client_secret"), name=b.get("name") or "Sandbox app")
            return _json(asdict(app), 201)
        return _json([asdict(a) for a in sb.apps.values()])
    if head == "deliveries":
        ctx = request.args.get("ctx")
        return _json([
            {**{k: v for k, v in asdict(d).items() if k != "body"}, "body": d.json()}
            for d in sb.deliveries if ctx is None or d.ctx == ctx
        ])
    if head == "spec-violations":
        if method == "DELETE":
            sb.clear_spec_violations()
            return _json({"cleared": True})
        return _json(sb.spec_violations)
    if head != "customers":
        return unknown_endpoint(method, path, HELP)
    if len(parts) == 1:
        if method == "POST":
            b = json_object_body(request)
            customer = sb.add_customer(str(b.get("ctx", "")), b.get("company_name") or "",
                                       api_host=int(b.get("api_host", 0)))
            return _json({"ctx": customer.ctx, "api_base": sb.api_base(customer.ctx)}, 201)
        return _json([{"ctx": c.ctx, "company_name": c.company_name, "state": c.state, "api_host": c.api_host,
                       "api_base": sb.api_base(c.ctx), "users": [asdict(u) for u in c.users.values()],
                       "counts": {k: len(v) for k, v in c.records.items()}} for c in sb.customers.values()])
    ctx = parts[1]
    sb.customer(ctx)
    sub = parts[2] if len(parts) > 2 else ""
    b = json_object_body(request) if method in ("POST", "PATCH", "PUT") else {}
    if sub == "users" and method == "POST":
        user = sb.add_user(ctx, str(b.get("email", "")), associate_id=b.get("associate_id"),
                           full_name=b.get("full_name"), is_admin=bool(b.get("is_admin", False)))
        return _json(asdict(user), 201)
    if sub in _KIND_PLURAL:
        kind = _KIND_PLURAL[sub]
        if len(parts) == 3 and method == "POST":
            return _json(sb.create(ctx, kind, b, as_associate=_as_associate(request)), 201)
        if len(parts) == 4 and re.fullmatch(r"\d+", parts[3]):
            ident = int(parts[3])
            if method == "GET":
                return _json(sb.get(ctx, kind, ident))
            if method == "PATCH":
                return _json(sb.update(ctx, kind, ident, b, as_associate=_as_associate(request)))
            if method == "DELETE":
                if request.args.get("soft", "").lower() == "true":
                    sb.soft_delete(ctx, kind, ident, as_associate=_as_associate(request))
                else:
                    sb.delete(ctx, kind, ident, as_associate=_as_associate(request))
                return _json({"deleted": ident})
    if sub == "udefs" and method == "POST":
        items = {int(k): v for k, v in (b.get("list_items") or {}).items()}
        f = sb.define_udef(ctx, str(b.get("entity", "contact")), b.get("prog_id"), str(b.get("label", "")),
                           str(b.get("field_type", "")), text_length=b.get("text_length"), list_items=items,
                           mandatory=bool(b.get("mandatory", False)))
        return _json(asdict(f), 201)
    if sub == "selections" and method == "POST":
        sel = sb.add_selection(ctx, str(b.get("name", "")), target=b.get("target", "contact"),
                               member_ids=b.get("member_ids") or [])
        return _json(asdict(sel), 201)
    if sub == "favourites" and method == "POST":
        sb.add_favourites(ctx, int(b["associate_id"]), contact_ids=b.get("contact_ids") or [],
                          person_ids=b.get("person_ids") or [], sale_ids=b.get("sale_ids") or [])
        return _json({"ok": True})
    if sub == "move" and method == "POST":
        sb.move_customer(ctx, int(b["api_host"]))
        return _json({"ctx": ctx, "api_base": sb.api_base(ctx)})
    if sub == "state" and method == "POST":
        sb.set_customer_state(ctx, str(b.get("state", "")))
        return _json({"ctx": ctx, "state": b.get("state")})
    if sub == "expire-tokens" and method == "POST":
        return _json({"expired": sb.expire_access_tokens(ctx)})
    if sub == "revoke-consent" and method == "POST":
        return _json({"revoked": sb.revoke_consent(ctx, b.get("client_id"))})
    if sub == "calls":
        return answer_call_counts(sb, request, ctx, render=str)
    return unknown_endpoint(method, path, HELP)
