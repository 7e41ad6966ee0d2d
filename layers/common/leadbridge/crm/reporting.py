"""What a connector reports to sync code about its own work, written once for connectors that talk through a
`CrmTransport`: requests sent (`calls` per operation, `request_count()`) and the fields the last write left out
(`take_skipped_fields()`, each skip reported once)."""

from __future__ import annotations

from collections import Counter

from leadbridge.crm.transport import CrmTransport


class TransportReporting:
    """Mixin for a `Connector`: implement `_transport()`; call `_note_skipped_fields` after each create/update."""

    _skipped: list[str] | None = None

    def _transport(self) -> CrmTransport:
        raise NotImplementedError

    @property
    def calls(self) -> Counter[str]:
        """Requests sent per operation name (`contact.get`, `account.describe`, ...), retries included."""
        return self._transport().calls

    def request_count(self) -> int:
        return self._transport().request_count()

    def take_skipped_fields(self) -> list[str]:
        skipped, self._skipped = self._skipped or [], []
        return skipped

    def _note_skipped_fields(self, skipped: list[str]) -> None:
        self._skipped = list(skipped)
