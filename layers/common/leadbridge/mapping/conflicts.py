"""Which side wins when a two-way field changed on both sides since the last sync (per-field conflict policy)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from leadbridge.models.settings import ConflictPolicy


def winner(
    policy: ConflictPolicy,
    *,
    app_changed_at: datetime | None,
    crm_changed_at: datetime | None,
    app_wrote: bool = False,
) -> Literal["app", "crm"]:
    """`latest_wins` compares the change times (timezone-aware) to the second; an unknown time loses, a tie goes to the
    CRM (the system of record). `fill_empty`: the CRM's value wins only where leadbridge wrote nothing to the CRM field
    (`app_wrote` False: the app had no value when it was exported), so a CRM value fills an empty app field and never
    replaces one the app had."""
    if policy is ConflictPolicy.APP_WINS:
        return "app"
    if policy is ConflictPolicy.CRM_WINS:
        return "crm"
    if policy is ConflictPolicy.FILL_EMPTY:
        return "app" if app_wrote else "crm"
    if app_changed_at is None:
        return "crm"
    if crm_changed_at is None:
        return "app"
    # CRMs stamp changes to the second: a CRM edit in the same second as leadbridge's write is a tie, not older.
    return "app" if app_changed_at.replace(microsecond=0) > crm_changed_at.replace(microsecond=0) else "crm"


def explain(policy: ConflictPolicy) -> str:
    """What a policy does, in words the settings preview shows."""
    return {
        ConflictPolicy.CRM_WINS: "a CRM edit always comes back to the app",
        ConflictPolicy.APP_WINS: "once leadbridge has written the app's value, CRM edits of this field are not "
        "reported to the app",
        ConflictPolicy.LATEST_WINS: "when both sides changed it, the newer change wins (a CRM edit made after "
        "leadbridge's last write comes back to the app)",
        ConflictPolicy.FILL_EMPTY: "a CRM value comes back to the app only when the app had no value for it at the "
        "last export",
    }[policy]
