"""A per-container cache of CRM field metadata (published custom fields, column lengths), with a short TTL.

Metadata is the CRM's, not the lead's: reading it on every export costs round trips (SuperOffice: 3 GETs per
object) for answers that change when an admin edits the CRM's fields, which is rare. Exports take it from here for
`DEFAULT_TTL_SECONDS`; the settings screen keeps reading it live (a connector without a cache). A connector drops
its entries when the CRM rejects a write, so the retry sees fields the admin just changed.

One instance per container (`runtime.crm_metadata_cache()`; `runtime.reset()` forgets it). Each CRM's provider
says whether and for how long its connectors share it (`MetadataCachePolicy`); `share_metadata` applies that policy to
a connector. Keys must name the connection's CRM account and API host, not only the tenant, so a reconnect to another
account never sees the old account's fields. Thread-safe: the local gateway serves requests from threads.

Schema drift: a cached answer must never hide a field an admin just created or deleted. `current_fields` reads an
object's fields and, when a field the caller is about to write is not among them, asks the connector to forget its
metadata and reads once more (`RefreshesMetadata`); writers call it once per operation, and a connector reads again
once per object (a bulk export's slice writes many leads with one connector). A write the CRM refuses because a
field is gone (`errors.CrmFieldUnknown`) makes the connector refresh, leave the field out and report it as skipped
(`take_skipped_fields`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from leadbridge.models.crm import CrmObject, FieldInfo

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 300.0


class MetadataCache:
    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        *,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[Hashable, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[Hashable, ...], load: Callable[[], T]) -> T:
        """The cached value of `key`, or `load()` (outside the lock: two concurrent misses both load, harmlessly)."""
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return cast(T, hit[1])
        value = load()
        self.put(key, value)
        return value

    def put(self, key: tuple[Hashable, ...], value: Any) -> None:
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                self._evict(now)
            self._entries[key] = (now + self.ttl_seconds, value)

    def invalidate(self, prefix: tuple[Hashable, ...]) -> None:
        """Forget every entry whose key starts with `prefix` (e.g. one connection, or one object of it)."""
        with self._lock:
            for key in [k for k in self._entries if k[: len(prefix)] == prefix]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def with_ttl(self, ttl_seconds: float) -> MetadataCache:
        """A view of the same entries whose own writes live `ttl_seconds` (a CRM whose policy differs)."""
        view = MetadataCache(ttl_seconds, max_entries=self.max_entries, clock=self._clock)
        view._lock, view._entries = self._lock, self._entries
        return view

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _evict(self, now: float) -> None:
        expired = [k for k, (until, _) in self._entries.items() if until <= now]
        for key in expired or list(self._entries)[: max(1, self.max_entries // 4)]:  # oldest inserted first
            del self._entries[key]


@runtime_checkable
class UsesMetadataCache(Protocol):
    """A connector that can read its field metadata through a shared `MetadataCache` (None: per connector only)."""

    metadata_cache: MetadataCache | None


@dataclass(frozen=True)
class MetadataCachePolicy:
    """How a CRM's connectors may reuse field metadata across exports in one container (declared by its provider).
    `ttl_seconds=None`: never shared, each connector reads its own."""

    ttl_seconds: float | None = DEFAULT_TTL_SECONDS


def share_metadata(connector: T, policy: MetadataCachePolicy, cache: MetadataCache) -> T:
    """`connector` reading its metadata through `cache` where the policy allows and the connector can."""
    if policy.ttl_seconds is not None and isinstance(connector, UsesMetadataCache):
        connector.metadata_cache = cache if policy.ttl_seconds == cache.ttl_seconds else cache.with_ttl(
            policy.ttl_seconds
        )
    return connector


@runtime_checkable
class RefreshesMetadata(Protocol):
    """A connector that can forget what it knows of an object's fields (its own copy and the shared cache's), so the
    next `fields(obj)` asks the CRM."""

    def refresh_metadata(self, obj: CrmObject) -> None: ...


class ReadsFields(Protocol):
    def fields(self, obj: CrmObject) -> list[FieldInfo]: ...


def current_fields(connector: ReadsFields, obj: CrmObject, wanted: Iterable[str]) -> list[FieldInfo]:
    """`connector.fields(obj)`, read again from the CRM once when a field of `wanted` is not among the (possibly
    cached) answer: a field created in the CRM a moment ago is written at once, not after the cache's TTL. Once per
    connector and object: a field still missing after that read is missing (a mapping to a field the account lacks),
    and a connector that writes many leads (a bulk export's slice) would otherwise read again for every lead."""
    fields = connector.fields(obj)
    names = {f.name for f in fields}
    if all(name in names for name in wanted) or not isinstance(connector, RefreshesMetadata):
        return fields
    checked = _read_again.setdefault(connector, set())
    if obj in checked:
        return fields
    checked.add(obj)
    connector.refresh_metadata(obj)
    return connector.fields(obj)


# The objects each live connector has read again for a missing field (`current_fields`); gone with the connector.
_read_again: weakref.WeakKeyDictionary[Any, set[CrmObject]] = weakref.WeakKeyDictionary()
