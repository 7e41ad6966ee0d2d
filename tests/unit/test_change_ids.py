"""Change ids are how the app and the feed de-duplicate a change delivered twice: the same change must get the same id
before and after any change to how leadbridge computes it, or a retry spanning a deploy would report it twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from leadbridge.inbound.kernel import _content_digest
from leadbridge.mapping.hashing import canonical, canonical_texts
from leadbridge.models.changes import ChangeEvent
from leadbridge.models.crm import CrmObject, CrmRecord, StageKind


def test_change_ids_stay_what_earlier_deliveries_carried() -> None:
    digest = canonical({"company_name": "Ærø \"Æble\"", "score": 81, "~parent": None, "~stage_kind": None})
    assert ChangeEvent.stable_id("acme", "salesforce", "company", "001A", "CompanyChanged", digest) == (
        "6ebb53da219045d387da8f9e9635e244"  # computed by the code before the fast paths (a5052ba)
    )


@pytest.mark.parametrize(
    ("values", "parent", "stage"),
    [
        ({"name": "Ærø\n\"x\"", "score": 81, "empty": None, "active": True, "zero": 0}, "001P", StageKind.WON),
        ({"name": ""}, None, None),
        ({}, None, StageKind.LOST),
        # Values whose text differs inside a dict (floats, decimals, dates, lists): encoded whole.
        ({"amount": 81.0, "rate": Decimal("2.5"), "day": date(2026, 3, 1), "tags": ["b", "a"]}, "001P", None),
        ({"at": datetime(2026, 1, 1, tzinfo=UTC), "name": "x"}, None, StageKind.WON),
    ],
)
def test_the_change_digest_is_the_canonical_text_of_the_record(
    values: dict[str, Any], parent: str | None, stage: StageKind | None
) -> None:
    record = CrmRecord(object=CrmObject.DEAL, id="1", fields={}, parent_id=parent, stage_kind=stage)
    whole = canonical({**values, "~parent": parent, "~stage_kind": stage})
    assert _content_digest(record, values, canonical_texts(values)) == whole
