"""One instance per Lambda container: `@cached` factories, and forgetting them all (tests whose environment changes)."""

from __future__ import annotations

from collections.abc import Callable
from functools import _lru_cache_wrapper, lru_cache
from typing import Any, TypeVar

from leadbridge.config import clear_settings_caches

T = TypeVar("T")
_factories: list[_lru_cache_wrapper[Any]] = []


def cached(factory: Callable[[], T]) -> _lru_cache_wrapper[T]:
    """Build on first call, then return the same object; `forget_all()` forgets it too."""
    wrapped = lru_cache(maxsize=1)(factory)
    _factories.append(wrapped)
    return wrapped


def forget_all() -> None:
    """Forget the settings and every adapter built so far."""
    clear_settings_caches()
    for factory in _factories:
        factory.cache_clear()
