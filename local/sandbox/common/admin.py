"""What every sandbox's admin HTTP interface shares: JSON in and out, and one mapping of failures to statuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response


class SandboxApiError(Protocol):
    status: int

    def body(self) -> Any: ...


def json_response(body: Any, status: int = 200, *, render: Callable[[Any], Any] = str) -> Response:
    return Response(json.dumps(body, default=render), status=status, mimetype="application/json")


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


def answer_admin(
    dispatch: Callable[[], Response], *, api_error: type[Exception], render: Callable[[Any], Any] = str
) -> Response:
    """Run one admin request: the sandbox's own API errors keep their status and body, an unknown id is a 404 and a
    bad argument a 400, so a test sees what went wrong instead of a stack trace."""
    try:
        return dispatch()
    except api_error as err:
        known: SandboxApiError = err  # type: ignore[assignment]
        return json_response(known.body(), known.status, render=render)
    except KeyError as exc:
        return json_response({"error": f"not found: {exc.args[0] if exc.args else exc}"}, 404)
    except (ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, 400)
