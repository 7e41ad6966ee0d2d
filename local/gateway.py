"""A local API Gateway HTTP API: every HttpApi route of template.yaml, its JWT authorizer and CORS, in-process handlers.

Requests become payload v2.0 events (local.events), handlers run in this process (local.lambda_runtime), and the
responses are shaped the way API Gateway shapes them. Behaviour follows the HTTP API documentation:
- unknown route or method (any method, TRACE included) -> 404 {"message":"Not Found"}
- JWT route without a valid bearer -> 401 {"message":"Unauthorized"} (the handler is not called)
- missing route scopes -> 403 {"message":"Forbidden"}
- handler raised / malformed response -> 500 {"message":"Internal Server Error"}
- local only: handler module not written yet -> 501 {"message":"handler functions/x/y.py not built"}
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from local.events import http_api_event
from local.lambda_runtime import FunctionRuntime
from local.template import REPO_ROOT, CorsConfig, HttpRoute, JwtAuthorizer, SamTemplate
from local.tokens import InvalidToken, LocalIssuer

log = logging.getLogger("local.gateway")

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # HTTP API payload limit
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"
SWAGGER_HTML = Path(__file__).with_name("swagger.html")
UI_ROOT = REPO_ROOT / "ui"  # /ui/: the demo host page (ui/demo) and the built components (ui/dist, `make ui`)
UI_CONFIG_MARK = "<!-- leadbridge:demo-config -->"

# How soon a stopping server notices (serve_forever's poll); the default 0.5 s is paid by every stop of a test stack.
SERVE_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    # Sort key: API Gateway prefers more literal segments, then fewer greedy ones, then a specific method over ANY.
    priority: tuple[int, int, int, int]


def compile_route(route: HttpRoute) -> CompiledRoute:
    segments = [s for s in route.path.split("/") if s]
    parts: list[str] = []
    names: list[str] = []
    literal = greedy = 0
    for segment in segments:
        match = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if match is None:
            parts.append(re.escape(segment))
            literal += 1
            continue
        name, plus = match.group(1), match.group(2)
        group = f"p{len(names)}"
        names.append(name)
        if plus:
            greedy += 1
            parts.append(f"(?P<{group}>.+)")
        else:
            parts.append(f"(?P<{group}>[^/]+)")
    pattern = re.compile("^/" + "/".join(parts) + "/?$") if parts else re.compile("^/?$")
    return CompiledRoute(
        route=route,
        pattern=pattern,
        parameter_names=tuple(names),
        priority=(-literal, greedy, 1 if route.method == "ANY" else 0, -len(segments)),
    )


class RouteTable:
    def __init__(self, routes: list[HttpRoute]) -> None:
        self.routes = sorted((compile_route(r) for r in routes), key=lambda r: r.priority)

    def match(self, method: str, raw_path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(raw_path)
            if found is None:
                continue
            parameters = {
                name: unquote(found.group(f"p{i}")) for i, name in enumerate(compiled.parameter_names)
            }
            return compiled, parameters
        return None


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_response(status: int, payload: Any, extra_headers: list[tuple[str, str]] | None = None) -> GatewayResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return GatewayResponse(status, [("content-type", "application/json"), *(extra_headers or [])], body)


class Gateway:
    def __init__(
        self,
        template: SamTemplate,
        runtime: FunctionRuntime,
        issuer: LocalIssuer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        openapi_path: Path = OPENAPI_PATH,
    ) -> None:
        self.template = template
        self.runtime = runtime
        self.issuer = issuer
        self.routes = RouteTable(template.http_routes())
        _, self.authorizers = template.http_api_auth()
        self.cors: CorsConfig | None = template.cors()
        self.openapi_path = openapi_path
        # Set by the stack: what the demo page at /ui/ gets (API URL, the demo tenant's tokens); None: no demo page.
        self.demo_config: Callable[[], dict[str, Any]] | None = None
        self.host = host
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://{self.host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(SERVE_POLL_SECONDS,),
                                        name="local-gateway", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------------------------------ request handling

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayResponse:
        split = urlsplit(target)
        raw_path = split.path or "/"
        header_map = {name.lower(): value for name, value in headers}
        origin = header_map.get("origin")

        if method == "OPTIONS" and self.cors is not None and "access-control-request-method" in header_map:
            return self._preflight(origin, header_map)

        matched = self.routes.match(method, raw_path)
        if matched is None:
            response = self._local_extras(method, raw_path) or _json_response(404, {"message": "Not Found"})
            return self._with_cors(response, origin)
        compiled, path_parameters = matched
        route = compiled.route

        claims: dict[str, Any] | None = None
        scopes: list[str] | None = None
        if route.authorizer is not None:
            authorizer = self.authorizers.get(route.authorizer)
            if authorizer is None:
                return _json_response(500, {"message": "Internal Server Error"})
            outcome = self._authorize(authorizer, route, header_map)
            if isinstance(outcome, GatewayResponse):
                return self._with_cors(outcome, origin)
            claims, scopes = outcome

        event = http_api_event(
            method,
            raw_path,
            route_key=route.route_key,
            raw_query=split.query,
            headers=headers,
            body=body,
            path_parameters=path_parameters,
            jwt_claims=claims,
            jwt_scopes=scopes,
            source_ip=source_ip,
        )
        if not event.get("isBase64Encoded") and body and not _is_utf8(body):
            # A "text" body that is not UTF-8 goes to the function as the bytes it is (base64), never with the bad
            # bytes replaced: only then can the function refuse it (400 invalid_input) instead of storing U+FFFD.
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        started = time.monotonic()
        invocation = self.runtime.invoke(route.function_id, event)
        elapsed_ms = (time.monotonic() - started) * 1000
        if invocation.not_built:
            spec = self.runtime.functions[route.function_id]
            response = _json_response(501, {"message": f"handler {spec.relative_module_file} not built"})
        elif invocation.error is not None:
            response = _json_response(500, {"message": "Internal Server Error"})
        else:
            response = self._integration_response(route, invocation.result)
        response.headers.append(("apigw-requestid", event["requestContext"]["requestId"]))
        log.info("%s %s -> %s (%s, %.0f ms)", method, raw_path, response.status, route.function_id, elapsed_ms)
        return self._with_cors(response, origin)

    def _authorize(
        self, authorizer: JwtAuthorizer, route: HttpRoute, headers: dict[str, str]
    ) -> GatewayResponse | tuple[dict[str, Any], list[str] | None]:
        header_name = authorizer.identity_source.rsplit(".", 1)[-1].lower()
        raw = headers.get(header_name, "").strip()
        token = raw[7:].strip() if raw[:7].lower() == "bearer " else raw
        if not token:
            return _json_response(401, {"message": "Unauthorized"}, [("www-authenticate", "Bearer")])
        try:
            claims = self.issuer.verify(token, issuer=authorizer.issuer, audience=authorizer.audience)
        except InvalidToken as exc:
            challenge = f'Bearer scope="" error="invalid_token" error_description="{exc}"'
            return _json_response(401, {"message": "Unauthorized"}, [("www-authenticate", challenge)])
        scope_text = claims.get("scope", claims.get("scp"))
        scopes = (scope_text.split() if isinstance(scope_text, str) else list(scope_text)) if scope_text else None
        if route.authorization_scopes and not set(route.authorization_scopes) & set(scopes or []):
            return _json_response(403, {"message": "Forbidden"})
        return claims, scopes

    def _integration_response(self, route: HttpRoute, result: Any) -> GatewayResponse:
        if not (isinstance(result, dict) and "statusCode" in result):
            # Payload v2: a return value without statusCode is sent as a 200 JSON body.
            return GatewayResponse(200, [("content-type", "application/json")], json.dumps(result).encode("utf-8"))
        try:
            status = int(result["statusCode"])
            headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers.extend((str(name).lower(), str(v)) for v in values)
            headers.extend(("set-cookie", str(c)) for c in (result.get("cookies") or []))
            body_text = result.get("body") or ""
            body = (base64.b64decode(body_text) if result.get("isBase64Encoded")
                    else str(body_text).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            log.error("%s returned a malformed response: %s", route.function_id, exc)
            return _json_response(500, {"message": "Internal Server Error"})
        if not any(name == "content-type" for name, _ in headers):
            headers.append(("content-type", "application/json"))
        return GatewayResponse(status, headers, body)

    # ------------------------------------------------------------------------------------------ CORS

    def _origin_allowed(self, origin: str | None) -> str | None:
        if self.cors is None or not origin:
            return None
        if "*" in self.cors.allow_origins:
            return "*"
        return origin if origin in self.cors.allow_origins else None

    def _preflight(self, origin: str | None, headers: dict[str, str]) -> GatewayResponse:
        assert self.cors is not None
        allowed_origin = self._origin_allowed(origin)
        requested_method = headers.get("access-control-request-method", "").upper()
        if allowed_origin is None or (self.cors.allow_methods and requested_method not in self.cors.allow_methods
                                      and "*" not in self.cors.allow_methods):
            # API Gateway answers a disallowed preflight without CORS headers; the browser then blocks the call.
            return GatewayResponse(204, [], b"")
        out = [
            ("access-control-allow-origin", allowed_origin),
            ("access-control-allow-methods", ",".join(self.cors.allow_methods)),
        ]
        if self.cors.allow_headers:
            out.append(("access-control-allow-headers", ",".join(self.cors.allow_headers)))
        if self.cors.max_age is not None:
            out.append(("access-control-max-age", str(self.cors.max_age)))
        if self.cors.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        return GatewayResponse(204, out, b"")

    def _with_cors(self, response: GatewayResponse, origin: str | None) -> GatewayResponse:
        allowed_origin = self._origin_allowed(origin)
        if allowed_origin is None or self.cors is None:
            return response
        # The API's CORS configuration replaces whatever CORS headers the integration returned.
        response.headers = [(k, v) for k, v in response.headers if not k.startswith("access-control-")]
        response.headers.append(("access-control-allow-origin", allowed_origin))
        if self.cors.expose_headers:
            response.headers.append(("access-control-expose-headers", ",".join(self.cors.expose_headers)))
        if self.cors.allow_credentials:
            response.headers.append(("access-control-allow-credentials", "true"))
        return response

    # ------------------------------------------------------------------------------------------ local extras

    def _local_extras(self, method: str, path: str) -> GatewayResponse | None:
        """Docs and the local issuer's keys; only reached when no template route matches."""
        if method != "GET":
            return None
        if path in ("/openapi.json", "/swagger/openapi.json"):
            return _json_response(200, self.openapi_document())
        if path in ("/swagger", "/swagger/"):
            return GatewayResponse(200, [("content-type", "text/html; charset=utf-8")], SWAGGER_HTML.read_bytes())
        if path == "/.well-known/jwks.json":
            return _json_response(200, self.issuer.jwks())
        if path == "/ui":
            return GatewayResponse(302, [("location", "/ui/")], b"")
        if path.startswith("/ui/"):
            return self._ui(path.removeprefix("/ui").lstrip("/"))
        return None

    def _ui(self, name: str) -> GatewayResponse:
        """The demo host page (its config and the bundle's script tag put where the page marks) and its files."""
        if name in ("", "index.html") and self.demo_config is not None:
            manifest = UI_ROOT / "dist" / "manifest.json"
            config = json.dumps(self.demo_config()).replace("<", "\\u003c")
            if manifest.is_file():
                script = json.loads(manifest.read_text(encoding="utf-8"))["script"]
                head = (f"<script>window.LEADBRIDGE_DEMO = {config};</script>\n"
                        f'<script defer src="dist/{script}"></script>')
            else:
                head = "<script>document.addEventListener('DOMContentLoaded', () => document.body.prepend("
                head += "'The UI bundle is not built: run make ui, then reload.'));</script>"
            page = (UI_ROOT / "demo" / "index.html").read_text(encoding="utf-8").replace(UI_CONFIG_MARK, head)
            return GatewayResponse(200, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")],
                                   page.encode("utf-8"))
        folder = UI_ROOT / ("dist" if name.startswith("dist/") else "demo")
        file = (folder / name.removeprefix("dist/")).resolve()
        if not file.is_relative_to(folder.resolve()) or not file.is_file():
            return _json_response(404, {"message": "Not Found"})
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        charset = "; charset=utf-8" if kind.startswith("text/") or kind.endswith(("javascript", "json")) else ""
        return GatewayResponse(200, [("content-type", kind + charset), ("cache-control", "no-cache")],
                               file.read_bytes())

    def openapi_document(self) -> dict[str, Any]:
        if self.openapi_path.is_file():
            document: dict[str, Any] = json.loads(self.openapi_path.read_text(encoding="utf-8"))
            return document
        # Until `make openapi` has produced docs/openapi.json, describe the routes template.yaml declares.
        paths: dict[str, dict[str, Any]] = {}
        for compiled in self.routes.routes:
            route = compiled.route
            operation: dict[str, Any] = {
                "summary": f"{route.function_id} ({route.event_id})",
                "responses": {"default": {"description": "see the handler"}},
            }
            if compiled.parameter_names:
                operation["parameters"] = [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in compiled.parameter_names
                ]
            operation["security"] = [{"bearerAuth": []}] if route.authorizer else []
            paths.setdefault(route.path.replace("+}", "}"), {})[route.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": "leadbridge (routes from template.yaml; run `make openapi` for schemas)",
                     "version": "local"},
            "paths": paths,
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "JWT"}}},
        }


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, a kept-alive client's delayed ACK held the body
        # back ~40 ms per request (API Gateway adds nothing of the kind).
        disable_nagle_algorithm = True
        def version_string(self) -> str:
            return "leadbridge-local-gateway"

        def _serve(self) -> None:
            try:
                body = self._read_body()
            except _TooLarge:
                self._send(_json_response(413, {"message": "Request Entity Too Large"}))
                self.close_connection = True
                return
            except (ValueError, OSError):
                self._send(_json_response(400, {"message": "Bad Request"}))
                self.close_connection = True
                return
            try:
                response = gateway.handle(self.command, self.path, list(self.headers.items()), body,
                                          self.client_address[0])
            except Exception:
                log.exception("gateway failure on %s %s", self.command, self.path)
                response = _json_response(500, {"message": "Internal Server Error"})
            self._send(response)

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                chunks = []
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    total += size
                    if total > MAX_REQUEST_BYTES:
                        raise _TooLarge
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_REQUEST_BYTES:
                raise _TooLarge
            return self.rfile.read(length) if length else b""

        def _send(self, response: GatewayResponse) -> None:
            self.send_response(response.status, HTTPStatus(response.status).phrase
                               if response.status in HTTPStatus._value2member_map_ else "")
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, CONNECT, PROPFIND, ...) is routed like the others: API Gateway answers it
            # from its route table (a JSON 404 when no route takes it), never with http.server's HTML 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # http.server's own refusals (malformed request line, header too long) in API Gateway's JSON shape.
            phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
            self.close_connection = True
            self.request_version = "HTTP/1.1"  # a refused request line leaves "HTTP/0.9", which has no status line
            self._send(_json_response(code, {"message": phrase}))

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


class _TooLarge(Exception):
    pass
