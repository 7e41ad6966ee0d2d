"""SuperOffice's error answers, shared by the login host and the API hosts: an `ApiError` as the documented error
JSON, 421 for a tenant asked on the wrong host, and the answers of injected faults."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from local.sandbox.common.faults import FaultInjector
from local.sandbox.common.http import json_response
from local.sandbox.superoffice.model import ApiError

_FAULT_ERROR_TYPES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


def error_response(err: ApiError) -> Response:
    return json_response(err.body(), err.status, err.headers)


def misdirected(ctx: str) -> Response:
    return error_response(ApiError(421, "MisdirectedRequest", f"Wrong subdomain used to access tenant {ctx}"))


def fault_response(
    faults: FaultInjector, request: Request, paths: tuple[str, ...], scope: str | None
) -> Response | None:
    """The answer of an injected fault for this request (after its latency), or None to serve it."""
    fault = faults.hold(request.method, paths, scope)
    if fault is None:
        return None
    if fault.kind == "timeout":
        # The client gave up long ago (seconds > its timeout); answer like a gateway would, to nobody.
        return error_response(ApiError(504, "GatewayTimeout", "Injected fault: timeout"))
    status = fault.status or 500
    if status == 421:
        return misdirected(scope or "")
    return error_response(ApiError(status, _FAULT_ERROR_TYPES.get(status, "InjectedFault"),
                                   fault.message or f"Injected fault: HTTP {status}",
                                   headers=fault.retry_after_headers()))
