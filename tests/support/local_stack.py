"""Starting the local stack for a test module and leaving the process environment as it was.

`LocalStack.start` points the process environment at its resources (TABLE_NAME, queue URLs, ...); the settings
read from it are cached, so the cache is cleared whenever the environment changes.

Local HTTP servers (the gateway, the CRM sandboxes' hosts) take up to 0.5 s each to shut down (socketserver notices
a shutdown at its next poll), one after the other: 1-3 s per stack and per module-scoped sandbox, well over a hundred
times a run. `stop_in_background(stop)` lets them shut down while the next module runs; `finish_stopping()` (at the
session's end) waits for the last of them. What could act on the next module's AWS resources stops at once: a
stack's queue pump, scheduler and gateway, a sandbox's webhook workers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack


def clear_settings_cache() -> None:
    from leadbridge.config import settings

    settings.cache_clear()


@contextmanager
def running_stack(moto_server: str, **options: Any) -> Iterator[LocalStack]:
    """A started `LocalStack` on a free port sharing the session's moto server; schedules fire only when told."""
    from local.stack import LocalStack  # loaded only by the modules that start a stack

    saved = dict(os.environ)
    local_stack = LocalStack(port=0, moto_endpoint=moto_server, run_schedules=False, persist_issuer_key=False,
                             **options)
    local_stack.start()
    clear_settings_cache()
    try:
        yield local_stack
    finally:
        _stop_stack(local_stack)
        os.environ.clear()
        os.environ.update(saved)
        clear_settings_cache()


_stopping: list[threading.Thread] = []


def stop_in_background(stop: Callable[[], None]) -> None:
    """Call `stop` (a server's shutdown, nothing later tests depend on) on a thread `finish_stopping` waits for."""
    stopping = threading.Thread(target=stop, name="stop-in-background", daemon=True)
    stopping.start()
    _stopping.append(stopping)


def _stop_stack(local_stack: LocalStack) -> None:
    """Stop now what acts on AWS or takes requests (pump, scheduler, gateway: the next module resets and fills AWS
    and would otherwise share them), and the rest (`LocalStack.stop`: the sandboxes; it finds those stopped) later."""
    for part in (getattr(local_stack, name, None) for name in ("scheduler", "pump", "gateway")):
        if part is not None:
            part.stop()
    stop_in_background(local_stack.stop)


def finish_stopping() -> None:
    """Wait until every stack started so far has stopped (its servers closed); call before moto goes away."""
    while _stopping:
        _stopping.pop().join(timeout=60)


def stepped_stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the queue pump stepped by the test (`stack.pump.poll_once`), no background consumers, and
    failed messages visible again at once (visibility timeout 0), so retries need no waiting."""
    with running_stack(moto_server, run_pump=False, visibility_timeout=0) as local_stack:
        yield local_stack
