"""One host of a sandbox as a WSGI app, and JSON answers.

`SandboxHttpApp.__call__` turns the WSGI call into a werkzeug Request, lets the CRM's `dispatch` route it, and maps
whatever `dispatch` raises to the CRM's own error shape (`failure_response`), so a sandbox bug is a readable 500
and never a dead server thread.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, *, render: Callable[[Any], Any] | None = None
) -> Response:
    """`body` as JSON; `render` turns values json cannot (datetimes, dates) into ones it can."""
    response = Response(json.dumps(body, default=render), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class SandboxHttpApp(ABC):
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as exc:
            response = self.failure_response(exc)
        return response(environ, start_response)

    @abstractmethod
    def dispatch(self, request: Request) -> Response:
        """Answer one request (raise the CRM's API error to answer with it)."""

    @abstractmethod
    def failure_response(self, exc: Exception) -> Response:
        """The answer for an exception from `dispatch`: the CRM's error shape, a 500 for anything unexpected."""
