"""The webhook intake's connection lookup: each key's owner remembered per container, the connection read every time.

A CRM sends bursts of events to one webhook URL. `ConnectionStore.by_webhook_key` reads two items per delivery: the
key's pointer (which tenant and CRM it was issued to) and the connection. The pointer's answer never changes (a key
never changes owner, and pointers are never deleted), so it is remembered; the connection is read on every delivery,
consistently, so a disconnect, a reconnect (same account: same key; another account: a new key, and the old one
becomes unknown) or a new secret name counts at once, exactly as without the memory. An unknown key is not
remembered: its pointer may be written a moment later by a connect.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from leadbridge.models.connection import Connection
from leadbridge.store.connections import ConnectionStore

DEFAULT_MAX_KEYS = 4096


class RememberedWebhookKeys:
    """`leadbridge.inbound.webhook_intake.ConnectionFinder` over a `ConnectionStore`; one instance per container."""

    def __init__(self, store: ConnectionStore, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._store = store
        self._max = max_keys
        self._lock = threading.Lock()
        self._owners: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def by_webhook_key(self, connection_key: str) -> Connection | None:
        with self._lock:
            owner = self._owners.get(connection_key)
            if owner is not None:
                self._owners.move_to_end(connection_key)
        if owner is None:
            owner = self._store.webhook_key_owner(connection_key)
            if owner is None:
                return None
            with self._lock:
                self._owners[connection_key] = owner
                while len(self._owners) > self._max:
                    self._owners.popitem(last=False)
        return self._store.by_webhook_key(connection_key, owner=owner)
