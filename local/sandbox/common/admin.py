"""What every sandbox's admin HTTP interface (`/__admin/...` on its login host) shares: JSON in and out, one mapping
of failures to statuses, and the endpoints every sandbox has (reset, faults, call counts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import json_response
from local.sandbox.common.shell import SandboxShell

Render = Callable[[Any], Any]


class SandboxApiError(Protocol):
    status: int

    def body(self) -> Any: ...


def json_object_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; {} for an empty body. ValueError (→ 400) for anything else."""
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def answer_admin(dispatch: Callable[[], Response], *, api_error: type[Exception], render: Render = str) -> Response:
    """Run one admin request: the sandbox's own API errors keep their status and body, an unknown id is a 404 and a
    bad argument a 400, so a test sees what went wrong instead of a stack trace."""
    try:
        return dispatch()
    except api_error as err:
        known: SandboxApiError = err  # type: ignore[assignment]
        return json_response(known.body(), known.status, render=render)
    except KeyError as exc:
        return json_response({"error": f"not found: {exc.args[0] if exc.args else exc}"}, 404, render=str)
    except (ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, 400, render=str)


def unknown_endpoint(method: str, path: str, endpoints: dict[str, str]) -> Response:
    """404 that lists what the admin API does offer."""
    return json_response({"error": f"unknown admin endpoint {method} {path}", "endpoints": endpoints}, 404, render=str)


def answer_shell_endpoint(
    shell: SandboxShell, request: Request, head: str, *, fault_scope_key: str, render: Render
) -> Response | None:
    """`POST reset` and `faults` (POST adds one: `{kind, count?, path_prefix?, method?, <fault_scope_key>?,
    retry_after?, seconds?, after?}`; GET lists; DELETE clears, `?id=` one). None: not one of these."""
    method = request.method
    if head == "reset" and method == "POST":
        shell.reset()
        return json_response({"reset": True}, render=render)
    if head != "faults":
        return None
    if method == "POST":
        b = json_object_body(request)
        fault = shell.faults.add(
            str(b.get("kind", "")), count=b.get("count", 1), path_prefix=b.get("path_prefix"), method=b.get("method"),
            scope=b.get(fault_scope_key), retry_after=b.get("retry_after"), seconds=float(b.get("seconds", 0)),
            after=int(b.get("after", 0)),
        )
        return json_response(fault.to_dict(), 201, render=render)
    if method == "DELETE":
        raw = request.args.get("id")
        shell.clear_faults(int(raw) if raw else None)
        return json_response({"cleared": True}, render=render)
    return json_response([f.to_dict() for f in shell.faults.active()], render=render)


def answer_call_counts(shell: SandboxShell, request: Request, scope: str, *, render: Render) -> Response:
    """`.../calls` of one scope: GET the counts by operation, DELETE resets them."""
    if request.method == "DELETE":
        shell.reset_call_counts(scope)
        return json_response({"cleared": True}, render=render)
    return json_response(shell.call_counts(scope), render=render)
