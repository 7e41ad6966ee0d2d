"""Timestamps: one rule for the naive datetimes that reach the domain (from the app, a CRM, or an old stored item)."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(ts: datetime) -> datetime:
    """`ts` in UTC: a naive timestamp is taken to be UTC already (leadbridge stores and CRMs send UTC), an aware one is
    converted, so any two results compare and print alike."""
    zone = ts.tzinfo
    if zone is UTC:
        return ts  # already (most times leadbridge makes itself)
    return ts.replace(tzinfo=UTC) if zone is None else ts.astimezone(UTC)
