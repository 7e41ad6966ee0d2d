"""Starting the local stack for a test module and leaving the process environment as it was.

`LocalStack.start` points the process environment at its resources (TABLE_NAME, queue URLs, ...); the settings
read from it are cached, so the cache is cleared whenever the environment changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
        local_stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        clear_settings_cache()


def stepped_stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the queue pump stepped by the test (`stack.pump.poll_once`), no background consumers, and
    failed messages visible again at once (visibility timeout 0), so retries need no waiting."""
    with running_stack(moto_server, run_pump=False, visibility_timeout=0) as local_stack:
        yield local_stack
