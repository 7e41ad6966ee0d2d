"""The server shell every CRM sandbox runs in: its loopback servers and background workers (start, stop, context
manager), the lock its state lives behind, and the fault injection and call counting its admin API exposes.

A CRM's state class derives from `SandboxShell`; the CRM's top-level sandbox class registers one WSGI app per host
with `serve()`, so the state (and the HTTP apps that read it) never import the module that builds the servers.
"""

from __future__ import annotations

import threading
from typing import Self

from local.sandbox.common.calls import CallCounter
from local.sandbox.common.faults import FaultInjector
from local.sandbox.common.server import LoopbackServer, WsgiApp


class SandboxShell:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults = FaultInjector()
        self.calls = CallCounter()
        self._servers: dict[str, LoopbackServer] = {}
        self._started = False

    # --- servers and workers --------------------------------------------------------------------------------------

    def serve(self, host_name: str, app: WsgiApp, *, port: int = 0) -> LoopbackServer:
        """Register one host (served from `start()` until `stop()`); port 0 = pick a free port on 127.0.0.1."""
        server = LoopbackServer(app, port=port)
        self._servers[host_name] = server
        return server

    def host_url(self, host_name: str) -> str:
        return self._servers[host_name].url

    def start(self) -> Self:
        if not self._started:
            for server in self._servers.values():
                server.start()
            self.start_workers()
            self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self.stop_workers()  # workers first: a delivery in flight must not outlive the hosts it talks about
        for server in self._servers.values():
            server.stop()
        self._started = False

    def start_workers(self) -> None:
        """Start the CRM's background workers (e.g. webhook delivery); called once the hosts serve."""

    def stop_workers(self) -> None:
        """Stop the CRM's background workers; called before the hosts stop."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults and call counts -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget injected faults and call counts; a CRM's reset also forgets its own state."""
        self.faults.clear()
        self.calls.reset()

    def clear_faults(self, fault_id: int | None = None) -> None:
        self.faults.clear(fault_id)

    def call_counts(self, scope: str) -> dict[str, int]:
        """Requests received in one scope (a tenant, or "login" for the login host) by operation; faulted and
        misdirected requests count too."""
        return self.calls.counts(scope)

    def reset_call_counts(self, scope: str | None = None) -> None:
        self.calls.reset(scope)
