"""The admin API over HTTP (`/__admin/...` on the login host), JSON in and out, for `make run` demos and non-Python
tools. Each endpoint maps to one Python admin method of `SalesforceState`."""

from __future__ import annotations

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
from local.sandbox.salesforce.model import ApiError, render_value
from local.sandbox.salesforce.state import SalesforceState

HELP = {
    "POST /__admin/reset": "forget everything",
    "POST /__admin/apps": "{redirect_uris, client_id?, client_secret?, name?} -> app",
    "POST /__admin/orgs": "{name, org_id?, api_limit?, country?} -> org (its Organization record has the name)",
    "GET /__admin/orgs": "orgs with users and record counts",
    "POST /__admin/orgs/{org}/users": "{email, name?, is_admin?} -> user id",
    "POST /__admin/orgs/{org}/fields": "{sobject, name (…__c), field_type, length?, required?, picklist?, "
                                       "restricted?, external_id?}",
    "DELETE /__admin/orgs/{org}/fields/{sobject}/{name}": "delete a custom field (writes naming it: INVALID_FIELD)",
    "POST /__admin/orgs/{org}/records/{sobject}": "field values -> {id} (validated like the REST API)",
    "GET /__admin/orgs/{org}/records/{sobject}": "all records of the object",
    "PATCH /__admin/orgs/{org}/records/{sobject}/{id}": "field values",
    "DELETE /__admin/orgs/{org}/records/{sobject}/{id}": "delete",
    "POST /__admin/orgs/{org}/outbound-messages": "{sobject, endpoint_url, fields?} -> action",
    "POST /__admin/orgs/{org}/expire-sessions": "access tokens -> 401 INVALID_SESSION_ID",
    "POST /__admin/orgs/{org}/revoke": "{client_id?} refresh tokens -> invalid_grant",
    "POST /__admin/orgs/{org}/api-usage": "{used, limit?} (over the limit -> 403 REQUEST_LIMIT_EXCEEDED)",
    "GET /__admin/orgs/{org}/calls": "call counts by operation (DELETE resets)",
    "POST /__admin/faults": "{kind: 503|500|429|403|401|latency|timeout, count?, path_prefix?, method?, org_id?, "
                            "seconds?, retry_after?}",
    "GET /__admin/faults": "active faults (DELETE clears, ?id= one)",
    "POST /__admin/outbound/tick": "{force?} deliver due Outbound Messages now",
    "GET /__admin/outbound": "delivery attempts and pending notifications",
}


def _json(body: Any, status: int = 200) -> Response:
    return json_response(body, status, render=render_value)


def handle_admin(sb: SalesforceState, request: Request) -> Response:
    return answer_admin(lambda: _dispatch(sb, request), api_error=ApiError, render=render_value)


def _dispatch(sb: SalesforceState, request: Request) -> Response:
    parts = request.path.rstrip("/").split("/")[2:]
    method = request.method
    if not parts:
        return _json({"endpoints": HELP, "login_base": sb.login_base, "instance_url": sb.instance_url})
    head = parts[0]
    b = json_object_body(request) if method in ("POST", "PATCH") else {}
    shared = answer_shell_endpoint(sb, request, head, fault_scope_key="org_id", render=render_value)
    if shared is not None:
        return shared
    if head == "apps" and method == "POST":
        app = sb.register_app(b.get("redirect_uris") or [], client_id=b.get("client_id"),
                              client_secret=b.get("client_secret"), name=b.get("name") or "Connected app")
        return _json(asdict(app), 201)
    if head == "outbound":
        if len(parts) == 2 and parts[1] == "tick" and method == "POST":
            return _json([{**asdict(a), "body": a.body.decode()} for a in sb.tick_outbound(force=bool(b.get("force")))])
        return _json({"attempts": [{**asdict(a), "body": a.body.decode()} for a in sb.outbound_attempts],
                      "pending": [asdict(n) for n in sb.outbound.pending()]})
    if head != "orgs":
        return unknown_endpoint(method, request.path, HELP)
    if len(parts) == 1:
        if method == "POST":
            org = sb.add_org(str(b.get("name") or "Sandbox Org"), org_id=b.get("org_id"),
                             api_limit=int(b.get("api_limit", 100_000)), country=b.get("country"))
            return _json({"org_id": org.org_id, "name": org.name}, 201)
        return _json([{"org_id": o.org_id, "name": o.name, "api_usage": f"{o.api_usage}/{o.api_limit}",
                       "users": [u for u in o.records["User"].values()],
                       "counts": {k: len(v) for k, v in o.records.items()}} for o in sb.orgs.values()])
    org_id = parts[1]
    sb.org(org_id)
    sub = parts[2] if len(parts) > 2 else ""
    if sub == "users" and method == "POST":
        user_id = sb.add_user(org_id, str(b.get("email", "")), name=b.get("name"), is_admin=bool(b.get("is_admin")))
        return _json({"id": user_id}, 201)
    if sub == "fields" and method == "POST":
        f = sb.add_custom_field(org_id, str(b.get("sobject", "")), str(b.get("name", "")),
                                str(b.get("field_type", "string")), length=b.get("length"),
                                required=bool(b.get("required")), picklist=b.get("picklist"),
                                restricted=bool(b.get("restricted")), external_id=bool(b.get("external_id")))
        return _json(f.describe(), 201)
    if sub == "fields" and method == "DELETE" and len(parts) == 5:
        sb.remove_custom_field(org_id, parts[3], parts[4])
        return _json({"deleted": f"{parts[3]}.{parts[4]}"})
    if sub == "records" and len(parts) >= 4:
        sobject = parts[3]
        if len(parts) == 4:
            if method == "POST":
                return _json({"id": sb.create(org_id, sobject, b)}, 201)
            return _json(sb.all_records(org_id, sobject))
        record_id = parts[4]
        if method == "PATCH":
            sb.update(org_id, sobject, record_id, b)
            return _json(sb.get(org_id, sobject, record_id))
        if method == "DELETE":
            sb.delete(org_id, sobject, record_id)
            return _json({"deleted": record_id})
        return _json(sb.get(org_id, sobject, record_id))
    if sub == "outbound-messages" and method == "POST":
        message = sb.add_outbound_message(org_id, str(b.get("sobject", "")), str(b.get("endpoint_url", "")),
                                          b.get("fields"))
        return _json(asdict(message), 201)
    if sub == "expire-sessions" and method == "POST":
        return _json({"expired": sb.expire_sessions(org_id)})
    if sub == "revoke" and method == "POST":
        return _json({"revoked": sb.revoke_refresh_tokens(org_id, b.get("client_id"))})
    if sub == "api-usage" and method == "POST":
        sb.set_api_usage(org_id, int(b.get("used", 0)), b.get("limit"))
        return _json({"ok": True})
    if sub == "calls":
        return answer_call_counts(sb, request, org_id, render=render_value)
    return unknown_endpoint(method, request.path, HELP)
