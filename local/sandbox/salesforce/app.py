"""The HTTP side of the Salesforce sandbox: one WSGI app per host.

- login host (`login_base`, plays `https://login.salesforce.com`): `/services/oauth2/authorize|token|revoke`, the
  identity URL `/id/{org}/{user}`, and the admin API `/__admin/...`.
- instance host (`instance_url`, plays `https://{MyDomain}.my.salesforce.com`): the same OAuth token/revoke paths,
  the REST API under `/services/data/vNN.N/` (any version is accepted) and the SOAP Partner API's `convertLead()`
  under `/services/Soap/u/NN.N` (soap.py).

OAuth errors are `{"error", "error_description"}` with HTTP 400; REST errors are JSON arrays
`[{"message", "errorCode", "fields"?}]`; every REST answer below a version carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import SandboxHttpApp, json_response
from local.sandbox.common.oauth_http import (
    authorize_params,
    basic_credentials,
    carried_params,
    error_page,
    pkce_s256,
    redirect_with,
)
from local.sandbox.salesforce import graph, soap, soql
from local.sandbox.salesforce.admin_http import handle_admin
from local.sandbox.salesforce.convert import convert_lead
from local.sandbox.salesforce.model import (
    ApiError,
    AuthCode,
    OAuthApp,
    Org,
    RecordErrors,
    RefreshGrant,
    Session,
    sf_datetime,
)
from local.sandbox.salesforce.state import SalesforceState, check_updatable

_VERSIONED = re.compile(r"^/services/data/(v\d{1,3}\.\d)(/.*)?$")
_SOAP_PARTNER = re.compile(r"^/services/Soap/u/\d{1,3}\.\d(?:/[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)?/?$")
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}]
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
MAX_COLLECTION = 200
MAX_COMPOSITE = 25


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    """`base64(HMAC-SHA256(key=client secret, msg=id + issued_at))` (reference §2.3)."""
    digest = hmac.new(client_secret.encode("utf-8"), (identity_url + issued_at).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def token_response(sb: SalesforceState, app: OAuthApp, org: Org, user_id: str, refresh_token: str | None,
                   scope: str, *, include_refresh: bool = True) -> dict[str, Any]:
    """A token answer: no `expires_in` (the org's session timeout applies), `issued_at` in milliseconds."""
    session = sb.new_session(org.org_id, user_id, app.client_id, refresh_token)
    issued_at = str(int(time.time() * 1000))
    identity = f"{sb.login_base}/id/{org.org_id}/{user_id}"
    body: dict[str, Any] = {
        "access_token": session.token,
        "signature": signature(app.client_secret, identity, issued_at),
        "scope": scope,
        "instance_url": sb.instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }
    if refresh_token and include_refresh:
        body["refresh_token"] = refresh_token
    return body


class SalesforceApp(SandboxHttpApp):
    def __init__(self, sandbox: SalesforceState, role: str) -> None:
        self.sb = sandbox
        self.role = role

    def failure_response(self, exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return json_response(exc.body(), exc.status, exc.headers)
        # a sandbox bug
        return json_response([{"message": f"{type(exc).__name__}: {exc}", "errorCode": "UNKNOWN_EXCEPTION"}], 500)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if self.role == "login" and path.startswith("/__admin"):
            return handle_admin(self.sb, request)
        if path.startswith("/services/oauth2/"):
            self.sb.calls.hit("login", f"{request.method} {path}")
            faulted = self._faults(request, (path,), None, oauth=True)
            if faulted is not None:
                return faulted
            routes = {"/services/oauth2/authorize": self.authorize, "/services/oauth2/token": self.token,
                      "/services/oauth2/revoke": self.revoke}
            handler = routes.get(path.rstrip("/"))
            if handler is None:
                return oauth_error("not_found", f"{request.method} {path}", 404)
            if handler == self.authorize and self.role != "login":
                return oauth_error("not_found", "authorize on the login host", 404)
            return handler(request)
        if self.role == "login" and path.startswith("/id/"):
            return self.identity(request)
        if self.role == "instance" and path.startswith("/services/data"):
            return self.rest(request)
        if self.role == "instance" and _SOAP_PARTNER.match(path):
            return self.soap(request)
        return json_response([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], 404)

    # --- faults ---------------------------------------------------------------------------------------------------

    def _faults(self, request: Request, paths: tuple[str, ...], scope: str | None, *,
                oauth: bool = False) -> Response | None:
        fault = self.sb.faults.hold(request.method, paths, scope)
        if fault is None:
            return None
        if fault.kind == "timeout":  # the client gave up long ago
            return json_response([{"message": "timeout", "errorCode": "REQUEST_RUNNING_TOO_LONG"}], 504)
        status = fault.status or 500
        if oauth:
            return oauth_error("server_error" if status >= 500 else "invalid_request",
                               fault.message or f"Injected fault: HTTP {status}", status)
        code, message = {
            401: ("INVALID_SESSION_ID", "Session expired or invalid"),
            403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            429: ("REQUEST_LIMIT_EXCEEDED", "Too many requests"),
            503: ("SERVER_UNAVAILABLE", "Server is unavailable; it may be down for maintenance or overloaded."),
        }.get(status, ("UNKNOWN_EXCEPTION", f"Injected fault: HTTP {status}"))
        return json_response([{"message": fault.message or message, "errorCode": code}], status,
                             fault.retry_after_headers())

    # --- OAuth ----------------------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        params = authorize_params(request)
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        with self.sb.lock:
            app = self.sb.apps.get(client_id)
        if app is None:
            return error_page(400, "error=invalid_client_id", "client identifier invalid")
        if redirect_uri not in app.redirect_uris:
            return error_page(400, "error=redirect_uri_mismatch", "redirect_uri must match configuration")
        state = params.get("state")
        if params.get("response_type") != "code":
            return redirect_with(redirect_uri, {"error": "unsupported_response_type",
                                            "error_description": "response type not supported", "state": state})
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method") or "S256"
        if challenge is not None and method != "S256":
            return redirect_with(redirect_uri, {"error": "invalid_request",
                                            "error_description": "code_challenge_method must be S256", "state": state})
        login = params.get("sandbox_login")
        if login is None:
            return self._login_page(params, app)
        if params.get("sandbox_consent", "allow") == "deny":
            return redirect_with(redirect_uri, {"error": "access_denied", "error_description": "end-user denied "
                                            "authorization", "state": state})
        found = self.sb.find_user(login)
        if found is None:
            return error_page(400, "Unknown user", f"No user {login!r} in any sandbox org")
        org, user_id = found
        code = "aPrx" + secrets.token_urlsafe(40)
        with self.sb.lock:
            self.sb.codes[code] = AuthCode(code, app.client_id, redirect_uri, org.org_id, user_id, challenge,
                                           time.time() + self.sb.code_ttl, params.get("scope") or "api")
        return redirect_with(redirect_uri, {"code": code, "state": state})

    def _login_page(self, params: dict[str, str], app: OAuthApp) -> Response:
        users = self.sb.users()
        hidden = carried_params(params)
        options = "".join(f'<option value="{html.escape(str(u["Username"]))}">{html.escape(str(u["Username"]))} '
                          f'({html.escape(o.name)})</option>' for o, u in users if u.get("IsActive"))
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Salesforce sandbox - log in</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>Salesforce sandbox</h1>
<p><b>{html.escape(app.name)}</b> is requesting access to your Salesforce data.</p>
<form method="post" action="/services/oauth2/authorize">{hidden}
<label>Log in as <select name="sandbox_login">{options}</select></label>
<p><button name="sandbox_consent" value="allow">Allow</button>
<button name="sandbox_consent" value="deny">Deny</button></p></form></body></html>"""
        return Response(page, mimetype="text/html")

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return oauth_error("invalid_request", "must use HTTP POST")
        params = dict(request.form.items())
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        try:
            basic = basic_credentials(request)
        except ValueError:
            return oauth_error("invalid_client", "invalid client credentials")
        if basic is not None:
            client_id, client_secret = basic
        grant_type = params.get("grant_type")
        with self.sb.lock:
            app = self.sb.apps.get(client_id or "")
        if app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if grant_type == "authorization_code":
            if not client_secret or not hmac.compare_digest(app.client_secret, client_secret):
                return oauth_error("invalid_client", "invalid client credentials")
            return self._code_grant(app, params)
        if grant_type == "refresh_token":
            if client_secret is not None and not hmac.compare_digest(app.client_secret, client_secret):
                return oauth_error("invalid_client", "invalid client credentials")
            return self._refresh_grant(app, params)
        return oauth_error("unsupported_grant_type", "grant type not supported")

    def _code_grant(self, app: OAuthApp, params: dict[str, str]) -> Response:
        with self.sb.lock:
            code = self.sb.codes.get(params.get("code", ""))
            if code is None or code.client_id != app.client_id or code.used or time.time() > code.expires_at:
                return oauth_error("invalid_grant", "invalid authorization code")
            if params.get("redirect_uri") != code.redirect_uri:
                return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
            if code.code_challenge is not None:
                verifier = params.get("code_verifier")
                if not verifier:
                    return oauth_error("invalid_grant", "invalid code verifier")
                if not hmac.compare_digest(pkce_s256(verifier), code.code_challenge):
                    return oauth_error("invalid_request", "invalid code verifier")
            code.used = True
            org = self.sb.orgs.get(code.org_id)
            if org is None or code.user_id not in org.records["User"]:
                return oauth_error("invalid_grant", "user is no longer active")
            scope = code.scope
            refresh = None
            if {"refresh_token", "offline_access"} & set(scope.split()):
                refresh = "5Aep" + secrets.token_urlsafe(60)
                self.sb.refresh_grants[refresh] = RefreshGrant(refresh, app.client_id, org.org_id, code.user_id,
                                                               scope)
            body = token_response(self.sb, app, org, code.user_id, refresh, scope)
        return json_response(body)

    def _refresh_grant(self, app: OAuthApp, params: dict[str, str]) -> Response:
        with self.sb.lock:
            grant = self.sb.refresh_grants.get(params.get("refresh_token", ""))
            if grant is None or grant.client_id != app.client_id or grant.revoked:
                return oauth_error("invalid_grant", "expired access/refresh token")
            org = self.sb.orgs.get(grant.org_id)
            if org is None:
                return oauth_error("invalid_grant", "expired access/refresh token")
            body = token_response(self.sb, app, org, grant.user_id, grant.token, grant.scope, include_refresh=False)
        return json_response(body)

    def revoke(self, request: Request) -> Response:
        token = request.form.get("token") or request.args.get("token") or ""
        with self.sb.lock:
            grant = self.sb.refresh_grants.get(token)
            session = self.sb.sessions.get(token)
            if grant is None and session is None:
                return oauth_error("invalid_token", "invalid token")
            if grant is not None:
                grant.revoked = True  # and every access token issued from it
                for s in self.sb.sessions.values():
                    if s.refresh_token == token:
                        s.revoked = True
            if session is not None:
                session.revoked = True
        return Response("", status=200)

    def identity(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        session = self._session(request)
        if session is None or len(parts) != 3:
            return json_response([{"message": "Bad_OAuth_Token", "errorCode": "Bad_OAuth_Token"}], 403)
        org = self.sb.orgs[session.org_id]
        user = org.records["User"].get(parts[2])
        if user is None or parts[1] != org.org_id:
            return json_response([{"message": "Bad_Id", "errorCode": "Bad_Id"}], 403)
        return json_response({"id": request.url, "organization_id": org.org_id, "user_id": user["Id"],
                              "username": user["Username"], "email": user["Email"], "display_name": user["Name"],
                              "active": user["IsActive"], "is_admin": user["Id"] in org.admins})

    # --- SOAP Partner API -----------------------------------------------------------------------------------------

    def soap(self, request: Request) -> Response:
        """`convertLead()`: the session from the SOAP header; one API call however many leads it converts."""
        org: Org | None = None
        try:
            token, operation = soap.read_request(request.get_data())
            session = self.sb.session_for(token) if token else None
            org = self.sb.orgs.get(session.org_id) if session else None
            self.sb.calls.hit(org.org_id if org else "anonymous", f"SOAP {operation.tag.rpartition('}')[2]}")
            fault = self.sb.faults.hold(request.method, (request.path,), org.org_id if org else None)
            if fault is not None:
                raise soap.SoapFault("soapenv:Server", fault.message or f"Injected fault: HTTP {fault.status or 500}",
                                     fault.status or 500)
            if session is None or org is None:
                raise soap.invalid_session()
            with self.sb.lock:
                org.api_usage += 1
                over = org.api_usage > org.api_limit
            if over:
                raise soap.SoapFault("sf:REQUEST_LIMIT_EXCEEDED",
                                     "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.")
            requests = soap.lead_converts(operation)
            results = [convert_lead(self.sb, org, r, session.user_id) for r in requests]
        except soap.SoapFault as fault:
            return Response(fault.body(), status=fault.status, content_type="text/xml; charset=utf-8")
        return Response(soap.convert_lead_response(results), content_type="text/xml; charset=utf-8")

    # --- REST -----------------------------------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith(("bearer ", "oauth ")):
            return None
        return self.sb.session_for(auth.split(" ", 1)[1].strip())

    def rest(self, request: Request) -> Response:
        path = request.path
        m = _VERSIONED.match(path)
        if path.rstrip("/") == "/services/data":
            return json_response([{"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}])
        if not m:
            return json_response([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
                                 404)
        version, sub = m.group(1), (m.group(2) or "/").rstrip("/") or "/"
        session = self._session(request)
        org = self.sb.orgs.get(session.org_id) if session else None
        scope = org.org_id if org else "anonymous"
        self.sb.calls.hit(scope, f"{request.method} {_op_name(sub)}")
        faulted = self._faults(request, (sub, path), org.org_id if org else None)
        if faulted is not None:
            return self._with_limits(faulted, org)
        if session is None or org is None:
            return json_response([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401,
                                 {"WWW-Authenticate": 'Token'})
        with self.sb.lock:
            org.api_usage += 1
            over = org.api_usage > org.api_limit
        if over:
            return self._with_limits(json_response(
                [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403), org)
        body: Any = None
        raw = request.get_data()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return self._with_limits(json_response(
                    [{"message": "The request body is not valid JSON", "errorCode": "JSON_PARSER_ERROR"}], 400), org)
        try:
            status, answer = self.handle(org, session, version, request.method, sub, dict(request.args.items()),
                                         body, request.headers.get("Sforce-Query-Options", ""))
        except ApiError as err:
            status, answer = err.status, err.body()
        except soql.SoqlError as err:
            status, answer = 400, [{"message": err.message, "errorCode": err.code}]
        response = Response(status=status) if answer is None else json_response(answer, status)
        return self._with_limits(response, org)

    @staticmethod
    def _with_limits(response: Response, org: Org | None) -> Response:
        if org is not None:
            response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_usage}/{org.api_limit}"
        return response

    def handle(self, org: Org, session: Session, version: str, method: str, sub: str, args: dict[str, str],
               body: Any, query_options: str = "") -> tuple[int, Any]:
        """One REST operation below `/services/data/{version}`; (status, JSON or None). Also runs composite parts."""
        parts = [p for p in sub.split("/") if p]
        if not parts:
            return 200, {k: f"/services/data/{version}/{k}" for k in ("sobjects", "query", "queryAll", "composite",
                                                                        "limits")}
        head = parts[0]
        if head == "limits" and method == "GET":
            return 200, {"DailyApiRequests": {"Max": org.api_limit, "Remaining": max(0, org.api_limit - org.api_usage)}}
        if head in ("query", "queryAll") and method == "GET":
            if len(parts) == 2:
                return 200, self._next_page(org, version, parts[1])
            text = args.get("q")
            if not text:
                raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
            return 200, self._query(org, version, text, query_options, include_deleted=head == "queryAll")
        if head == "sobjects":
            return self._sobjects(org, session, version, method, parts[1:], args, body)
        if head == "composite":
            if len(parts) == 1 and method == "POST":
                return 200, self._composite(org, session, version, body)
            if len(parts) == 2 and parts[1] == "graph" and method == "POST":
                return 200, self._graphs(org, session, body)
            if len(parts) >= 2 and parts[1] == "sobjects":
                return self._collections(org, session, version, method, parts[2:], args, body)
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    def _sobjects(self, org: Org, session: Session, version: str, method: str, parts: list[str],
                  args: dict[str, str], body: Any) -> tuple[int, Any]:
        sb = self.sb
        if not parts:
            if method != "GET":
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
            return 200, {"encoding": "UTF-8", "maxBatchSize": 200,
                         "sobjects": [o.global_entry(version) for o in org.objects.values()]}
        obj = sb.sobject(org, parts[0])
        if len(parts) == 1:
            if method == "POST":
                record_id = sb.create(org.org_id, obj.name, _object_body(body), actor=session.user_id)
                return 201, {"id": record_id, "success": True, "errors": []}
            if method == "GET":
                return 200, {"objectDescribe": obj.global_entry(version), "recentItems": []}
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST")
        second = parts[1]
        if len(parts) == 2 and second == "describe" and method == "GET":
            return 200, obj.describe(version)
        if len(parts) == 2 and second in ("deleted", "updated") and method == "GET":
            start, end = _window(args)
            if second == "deleted":
                rows = sb.deleted_between(org.org_id, obj.name, start, end)
                return 200, {"deletedRecords": [{"id": rid, "deletedDate": _sf(when)} for rid, when in rows],
                             "earliestDateAvailable": _sf(start), "latestDateCovered": _sf(end)}
            return 200, {"ids": sb.updated_between(org.org_id, obj.name, start, end), "latestDateCovered": _sf(end)}
        if len(parts) == 3:  # by external id: /sobjects/{T}/{ExtField}/{value}
            return self._by_external_id(org, session, version, obj, parts[1], unquote(parts[2]), method, body)
        if len(parts) != 2 or not _ID.match(second):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if method == "GET":
            record = sb.get(org.org_id, obj.name, second)
            wanted = [f.strip() for f in args.get("fields", "").split(",") if f.strip()]
            if wanted:
                for name in wanted:
                    if obj.field(name) is None:
                        raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
                record = {"Id": record["Id"], **{obj.field(n).name: record.get(obj.field(n).name) for n in wanted}}
            return 200, sb.render(org, obj.name, record, version)
        if method == "PATCH":
            sb.update(org.org_id, obj.name, second, _object_body(body), actor=session.user_id)
            return 204, None
        if method == "DELETE":
            sb.delete(org.org_id, obj.name, second)
            return 204, None
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE")

    def _by_external_id(self, org: Org, session: Session, version: str, obj: Any, field_name: str, value: str,
                        method: str, body: Any) -> tuple[int, Any]:
        """Upsert (PATCH/POST), read or delete the record whose external id is `value`; several: 300."""
        fdef = obj.field(field_name)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if method not in ("PATCH", "POST", "GET", "DELETE"):
            raise ApiError(405, "METHOD_NOT_ALLOWED",
                           f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,POST,DELETE")
        with self.sb.lock:
            matches = [r for r in org.records[obj.name].values()
                       if str(r.get(fdef.name) or "").lower() == value.lower()]
        if len(matches) > 1:
            return 300, [f"/services/data/{version}/sobjects/{obj.name}/{r['Id']}" for r in matches]
        if method in ("GET", "DELETE"):
            if not matches:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return self._sobjects(org, session, version, method, [obj.name, matches[0]["Id"]], {}, body)
        values = _object_body(body)
        if matches:
            self.sb.update(org.org_id, obj.name, matches[0]["Id"], values, actor=session.user_id)
            return 200, {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
        record_id = self.sb.create(org.org_id, obj.name, {**values, fdef.name: value}, actor=session.user_id)
        return 201, {"id": record_id, "success": True, "errors": [], "created": True}

    # --- queries --------------------------------------------------------------------------------------------------

    def _query(self, org: Org, version: str, text: str, options: str, *, include_deleted: bool) -> dict[str, Any]:
        sobject, rows = self.sb.query(org.org_id, text, include_deleted=include_deleted)
        if rows and "__count__" in rows[0]:
            return {"totalSize": rows[0]["__count__"], "done": True, "records": []}
        size = self.sb.query_batch_size
        m = re.search(r"batchSize=(\d+)", options)
        if m:
            size = min(size, max(200, min(2000, int(m.group(1)))))
        rendered = [self.sb.render(org, sobject, r, version) for r in rows]
        return self._page(org, version, rendered, 0, size)

    def _page(self, org: Org, version: str, rows: list[dict[str, Any]], offset: int, size: int) -> dict[str, Any]:
        page = rows[offset:offset + size]
        result: dict[str, Any] = {"totalSize": len(rows), "done": offset + size >= len(rows), "records": page}
        if not result["done"]:
            locator = "01g" + secrets.token_hex(6)
            with self.sb.lock:
                self.sb.query_locators[locator] = (org.org_id, rows, size)
            result["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{offset + size}"
        return result

    def _next_page(self, org: Org, version: str, token: str) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        with self.sb.lock:
            found = self.sb.query_locators.get(locator)
        if found is None or found[0] != org.org_id or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(org, version, found[1], int(offset), found[2])

    # --- composite ------------------------------------------------------------------------------------------------

    def _collections(self, org: Org, session: Session, version: str, method: str, parts: list[str],
                     args: dict[str, str], body: Any) -> tuple[int, Any]:
        sb = self.sb
        if method == "DELETE" and not parts:
            ids = [i for i in args.get("ids", "").split(",") if i]
            results = []
            for record_id in ids[:MAX_COLLECTION]:
                found = sb.find_record(org, record_id)
                try:
                    if found is None:
                        raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
                    sb.delete(org.org_id, found[0], record_id)
                    results.append({"id": record_id, "success": True, "errors": []})
                except ApiError as err:
                    results.append({"id": record_id, "success": False, "errors": _status_errors(err)})
            return 200, results
        if method == "GET" and len(parts) == 1:
            obj = sb.sobject(org, parts[0])
            fields = [f for f in args.get("fields", "Id").split(",") if f]
            out: list[Any] = []
            for record_id in [i for i in args.get("ids", "").split(",") if i]:
                try:
                    rec = sb.get(org.org_id, obj.name, record_id)
                    out.append(sb.render(org, obj.name, {obj.field(f).name: rec.get(obj.field(f).name)
                                                         for f in fields if obj.field(f)}, version))
                except ApiError:
                    out.append(None)
            return 200, out
        if method not in ("POST", "PATCH") or parts:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "records is required")
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", f"Record limit reached. Cannot submit more than "
                                                     f"{MAX_COLLECTION} records in a single call")
        all_or_none = bool(body.get("allOrNone", False))
        creating = method == "POST"
        with sb.lock:
            problems: list[list[dict[str, Any]] | None] = []
            for rec in records:
                try:
                    obj, _ = self._collection_target(org, rec, creating)
                    sb._validate(org, obj, {k: v for k, v in rec.items() if k not in ("id", "Id")},
                                 creating=creating)
                    problems.append(None)
                except ApiError as err:
                    problems.append(_status_errors(err))
            if not all_or_none:
                return 200, [self._collection_write(org, session, rec, problem, creating)
                             for rec, problem in zip(records, problems, strict=True)]
            if any(p is not None for p in problems):
                return 200, _rolled_back(problems)
            with sb.transaction(org) as tx:
                written = [self._collection_write(org, session, rec, None, creating) for rec in records]
                if all(r["success"] for r in written):
                    return 200, written
                tx.rollback()
            return 200, _rolled_back([None if r["success"] else r["errors"] for r in written])

    def _collection_write(self, org: Org, session: Session, rec: Any, problem: list[dict[str, Any]] | None,
                          creating: bool) -> dict[str, Any]:
        """One record's SaveResult: its validation `problem`, or the outcome of writing it."""
        record_id = rec.get("id") if isinstance(rec, dict) else None
        if problem is not None:
            return {"id": record_id, "success": False, "errors": problem}
        try:
            obj, target_id = self._collection_target(org, rec, creating)
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")}
            if creating:
                new_id = self.sb.create(org.org_id, obj.name, values, actor=session.user_id)
                return {"id": new_id, "success": True, "errors": []}
            assert target_id is not None
            self.sb.update(org.org_id, obj.name, target_id, values, actor=session.user_id)
            return {"id": target_id, "success": True, "errors": []}
        except ApiError as err:
            return {"id": record_id, "success": False, "errors": _status_errors(err)}

    def _collection_target(self, org: Org, rec: Any, creating: bool) -> tuple[Any, str | None]:
        if not isinstance(rec, dict) or not isinstance(rec.get("attributes"), dict) or not rec["attributes"].get(
                "type"):
            raise ApiError(400, "INVALID_FIELD", "No type was specified for this record (attributes.type)")
        obj = self.sb.sobject(org, str(rec["attributes"]["type"]))
        record_id = rec.get("id") or rec.get("Id")
        if creating and record_id:
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        if not creating:
            if not record_id:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            check_updatable(obj.name, self.sb._live(org, obj.name, str(record_id)))
        return obj, str(record_id) if record_id else None

    def _composite(self, org: Org, session: Session, version: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
        subrequests = body["compositeRequest"]
        if len(subrequests) > MAX_COMPOSITE:
            raise ApiError(400, "LIMIT_EXCEEDED", f"Exceeded max limit of subrequests: {MAX_COMPOSITE}")
        if not body.get("allOrNone", False):
            return {"compositeResponse": self._subrequests(org, session, subrequests, stop_at_failure=False)}
        answers, _ = self._all_or_none(org, session, subrequests)
        return {"compositeResponse": answers}

    def _graphs(self, org: Org, session: Session, body: Any) -> dict[str, Any]:
        """Composite Graph: each graph is its own all-or-none transaction, run in order; a failed graph leaves the
        others alone. Once more than `MAX_FAILED_GRAPHS` have failed, the rest are not run."""
        answers = []
        failed = 0
        for g in graph.read_request(body):
            nodes = [node.subrequest() for node in g.composite_request]
            if failed > graph.MAX_FAILED_GRAPHS:
                out, ok = [_halted(node["referenceId"], HALTED) for node in nodes], False
            else:
                out, ok = self._all_or_none(org, session, nodes)
            failed += not ok
            answers.append({"graphId": g.graph_id, "graphResponse": {"compositeResponse": out}, "isSuccessful": ok})
        return {"graphs": answers}

    def _all_or_none(self, org: Org, session: Session, subrequests: list[Any]) -> tuple[list[dict[str, Any]], bool]:
        """Subrequests as one transaction (`allOrNone` composite, one graph): the first failure undoes every write of
        them; it keeps its own answer, every other subrequest (before or after it) answers PROCESSING_HALTED.
        (answers, committed)."""
        with self.sb.transaction(org) as tx:
            out = self._subrequests(org, session, subrequests, stop_at_failure=True)
            failed = next((i for i, r in enumerate(out) if r["httpStatusCode"] >= 400), None)
            if failed is None:
                return out, True
            tx.rollback()
        answers = [r if i == failed else _halted(r["referenceId"], HALTED) for i, r in enumerate(out)]
        answers += [_halted(str(sub.get("referenceId") or ""), HALTED) for sub in subrequests[len(out):]]
        return answers, False

    def _subrequests(self, org: Org, session: Session, subrequests: list[Any], *,
                     stop_at_failure: bool) -> list[dict[str, Any]]:
        """Run subrequests in order, resolving `@{ref.id}`; one that refers to a failed one fails too."""
        refs: dict[str, Any] = {}
        failed_refs: set[str] = set()
        out: list[dict[str, Any]] = []
        for sub in subrequests:
            ref = str(sub.get("referenceId") or "")
            graph.check_headers(sub)
            depends_on = failed_refs & set(graph.REFERENCE.findall(json.dumps([sub.get("url"), sub.get("body")])))
            if depends_on:
                name = sorted(depends_on)[0]
                out.append(_halted(ref, [{"errorCode": "PROCESSING_HALTED", "message": (
                    f"Invalid reference specified. No value for {name} found. Provided referenceId ({name}) "
                    "failed or was not processed.")}]))
                failed_refs.add(ref)
                if stop_at_failure:
                    break
                continue
            status, answer = self._subrequest(org, session, sub, refs)
            if status < 300 and ref:
                refs[ref] = answer
            if status >= 400:
                failed_refs.add(ref)
            out.append({"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref})
            if status >= 400 and stop_at_failure:
                break
        return out

    def _subrequest(self, org: Org, session: Session, sub: dict[str, Any], refs: dict[str, Any]) -> tuple[int, Any]:
        try:
            # a reference to a value the earlier answer lacks fails this subrequest, not the whole request
            url = _resolve_refs(str(sub.get("url") or ""), refs)
            sub_body = _resolve_refs(sub.get("body"), refs)
            parsed = urlsplit(url)
            m = _VERSIONED.match(parsed.path)
            if not m:
                return 400, [{"errorCode": "NOT_FOUND", "message": f"bad url {url}"}]
            args = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
            args = {k: unquote(v.replace("+", " ")) for k, v in args.items()}
            return self.handle(org, session, m.group(1), str(sub.get("method", "GET")).upper(),
                               (m.group(2) or "/").rstrip("/") or "/", args, sub_body)
        except ApiError as err:
            return err.status, err.body()
        except soql.SoqlError as err:
            return 400, [{"message": err.message, "errorCode": err.code}]


def _halted(ref: str, body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}


def _rolled_back(problems: list[list[dict[str, Any]] | None]) -> list[dict[str, Any]]:
    """All-or-none collection results: failing records keep their errors, the others were rolled back."""
    rolled = [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all "
               "records were valid and the request was using AllOrNone header", "fields": []}]
    return [{"id": None, "success": False, "errors": p or rolled} for p in problems]


def _resolve_refs(value: Any, refs: dict[str, Any]) -> Any:
    """`@{refAccount.id}` → the id from the earlier subrequest's answer."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            ref, _, path = m.group(1).partition(".")
            node: Any = refs.get(ref)
            for part in path.split(".") if path else []:
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                raise ApiError(400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {m.group(1)}")
            return str(node)
        return re.sub(r"@\{([^}]+)\}", sub, value)
    if isinstance(value, dict):
        return {k: _resolve_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, refs) for v in value]
    return value


def _status_errors(err: ApiError) -> list[dict[str, Any]]:
    """Collection results name the code `statusCode`, not `errorCode` (reference §5.1)."""
    items = err.errors if isinstance(err, RecordErrors) else [err]
    return [{"statusCode": e.code, "message": e.message, "fields": e.fields or []} for e in items]


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _window(args: dict[str, str]) -> tuple[datetime, datetime]:
    try:
        start = soql.parse_datetime(args["start"])
        end = soql.parse_datetime(args["end"]) if args.get("end") else datetime.now(UTC)
    except (KeyError, ValueError):
        raise ApiError(400, "MALFORMED_QUERY", "start and end must be ISO-8601 date-times") from None
    if end < start:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "end date must be after start date")
    return start, end


def _sf(value: datetime) -> str:
    return sf_datetime(value)


def _op_name(sub: str) -> str:
    """`/sobjects/Account/001...` → `/sobjects/Account/{id}`, `/query/01g...-200` → `/query/{locator}`."""
    parts = sub.split("/")
    out = []
    for i, part in enumerate(parts):
        if i >= 3 and parts[1] == "sobjects" and _ID.match(part):
            out.append("{id}")
        elif i == 2 and parts[1] in ("query", "queryAll"):
            out.append("{locator}")
        else:
            out.append(part)
    return "/".join(out) or "/"


