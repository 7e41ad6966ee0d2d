"""The composition root: cached factories that build the real adapters from `leadbridge.config.settings()`.

Handlers call these (`runtime.sync_log()`), domain code receives what they return as arguments. Each factory is
built once per Lambda container. To add one, decorate a zero-argument function with `@cached`; `reset()` (used by
tests whose environment changes between cases) then forgets it too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import _lru_cache_wrapper, lru_cache
from typing import Any, TypeVar

from leadbridge.config import settings
from leadbridge.store.log import DynamoSyncLog, SyncLog
from leadbridge.store.table import Table

T = TypeVar("T")
_factories: list[_lru_cache_wrapper[Any]] = []


def cached(factory: Callable[[], T]) -> _lru_cache_wrapper[T]:
    wrapped = lru_cache(maxsize=1)(factory)
    _factories.append(wrapped)
    return wrapped


def reset() -> None:
    """Forget the settings and every adapter built so far."""
    settings.cache_clear()
    for factory in _factories:
        factory.cache_clear()


@cached
def table() -> Table:
    return Table(settings().table_name)


@cached
def sync_log() -> SyncLog:
    return DynamoSyncLog(table(), ttl_days=settings().sync_log_ttl_days)
