"""The versioned settings items in DynamoDB (moto): version + current pointer, conditional writes, audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import PreconditionFailed
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.settings import DynamoSettingsStore, SettingsChange
from leadbridge.store.table import Table

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(aws: Any) -> DynamoSettingsStore:
    return DynamoSettingsStore(Table(aws.environment["TABLE_NAME"]))


def version(n: int, *, sections: list[str] | None = None, **changes: Any) -> tuple[SettingsDocument, SettingsChange]:
    doc = default_settings("superoffice").model_copy(update={"version": n, "updated_by": "u", **changes})
    return doc, SettingsChange(version=n, updated_by=f"user-{n}", updated_at=T0, sections=sections or [])


def test_saved_versions_read_back_exactly_and_history_is_newest_first(store: DynamoSettingsStore) -> None:
    first, change1 = version(1)
    second, change2 = version(2, sections=["initial_import"], initial_import=True)
    store.save("acme", first, change1)
    store.save("acme", second, change2)

    assert store.current("acme", "superoffice") == second
    assert store.version("acme", "superoffice", 1) == first
    assert [(c.version, c.updated_by, c.sections) for c in store.history("acme", "superoffice")] == [
        (2, "user-2", ["initial_import"]),
        (1, "user-1", []),
    ]


def test_a_write_based_on_a_stale_version_fails_and_changes_nothing(store: DynamoSettingsStore) -> None:
    store.save("acme", *version(1))
    store.save("acme", *version(2))

    with pytest.raises(PreconditionFailed, match="version 1 is no longer current"):
        store.save("acme", *version(2, initial_import=True))  # someone else already wrote v2
    with pytest.raises(PreconditionFailed):
        store.save("acme", *version(1))  # a first write when one exists

    assert store.current("acme", "superoffice").version == 2  # type: ignore[union-attr]
    assert store.current("acme", "superoffice").initial_import is False  # type: ignore[union-attr]
    assert len(store.history("acme", "superoffice")) == 2


def test_tenants_and_crms_do_not_see_each_others_settings(store: DynamoSettingsStore) -> None:
    store.save("acme", *version(1))
    assert store.current("globex", "superoffice") is None
    assert store.current("acme", "hubspot") is None
    assert store.history("globex", "superoffice") == []
