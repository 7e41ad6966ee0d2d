"""Which side wins when a two-way field changed on both sides since the last sync (per-field conflict policy)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from leadbridge.models.settings import ConflictPolicy


def winner(
    policy: ConflictPolicy, *, app_changed_at: datetime | None, crm_changed_at: datetime | None
) -> Literal["app", "crm"]:
    """`latest_wins` compares the change times (timezone-aware); an unknown time loses, a tie goes to the CRM (the
    system of record)."""
    if policy is ConflictPolicy.APP_WINS:
        return "app"
    if policy is ConflictPolicy.CRM_WINS:
        return "crm"
    if app_changed_at is None:
        return "crm"
    if crm_changed_at is None:
        return "app"
    return "app" if app_changed_at > crm_changed_at else "crm"
