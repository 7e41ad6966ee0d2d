"""The change feed read over HTTP by tests whose writers have all finished before they read.

The feed hides changes younger than its settle window (`leadbridge.store.changes.SETTLE`, 2 s), because concurrent
writers may commit out of order by the length of one put. A test that steps the queue pump itself has no writer
still running when it reads, so it sets the window to zero instead of waiting 2 s for every read.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadbridge.store import changes


def without_settle_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "SETTLE", timedelta(0))
