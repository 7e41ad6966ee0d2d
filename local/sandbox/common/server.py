"""A WSGI app served on 127.0.0.1 in a background thread (threaded, ephemeral port by default)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# How soon a stopping server notices (serve_forever's poll); the default 0.5 s is paid by every stop of a test stack.
SERVE_POLL_SECONDS = 0.05


class _QuietHandler(WSGIRequestHandler):
    """Request logging off: tests run thousands of requests and the lines only hide real failures."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LoopbackServer:
    """Serve `app` on 127.0.0.1:`port` (0 = pick a free port) until `stop()`."""

    def __init__(self, app: WsgiApp, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        # threaded=True gives a ThreadedWSGIServer, whose request threads are daemons: stop() never waits on them
        self._server = make_server(self._host, self._port, self._app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(SERVE_POLL_SECONDS,),
                                        name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
