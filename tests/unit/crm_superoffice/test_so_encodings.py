"""Custom-field encodings (SOD encoded-values.md), both directions, and entity date handling."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from leadbridge.crm.superoffice.fields import (
    EncodingError,
    decode_custom,
    encode_custom,
    entity_datetime,
)
from leadbridge.models.crm import FieldType as F


@pytest.mark.parametrize(
    ("value", "ftype", "encoded"),
    [
        ("8", F.PICKLIST, "[I:8]"),
        (42, F.INTEGER, "[I:42]"),
        (" 17 ", F.INTEGER, "[I:17]"),
        (True, F.BOOLEAN, "[I:1]"),
        (False, F.BOOLEAN, "[I:0]"),
        ("yes", F.BOOLEAN, "[I:1]"),
        (123.4, F.DECIMAL, "[F:123.4]"),
        ("12,5", F.DECIMAL, "[F:12.5]"),
        (7.0, F.DECIMAL, "[F:7]"),
        (date(2017, 11, 9), F.DATE, "[D:11/09/2017]"),
        ("2017-11-09", F.DATE, "[D:11/09/2017]"),
        (datetime(2020, 5, 28, 15, 0, 1), F.DATETIME, "[DT:05/28/2020 15:00:01]"),
        ("plain text", F.STRING, "plain text"),
        (None, F.STRING, ""),
        (None, F.PICKLIST, "[I:0]"),
        (None, F.DATE, "[D:01/01/0001]"),
    ],
)
def test_encode_custom(value: object, ftype: F, encoded: str) -> None:
    assert encode_custom(value, ftype) == encoded


def test_encode_date_in_dotted_culture() -> None:
    assert encode_custom(date(2017, 11, 9), F.DATE, date_format="%d.%m.%Y") == "[D:09.11.2017]"
    assert encode_custom(None, F.DATE, date_format="%d.%m.%Y") == "[D:01.01.0001]"


@pytest.mark.parametrize(
    ("value", "ftype"),
    [("eight", F.PICKLIST), ("1.5x", F.DECIMAL), ("not a date", F.DATE), ("soon", F.DATETIME)],
)
def test_encode_rejects_values_of_the_wrong_type(value: str, ftype: F) -> None:
    with pytest.raises(EncodingError) as exc:
        encode_custom(value, ftype)
    assert repr(value) in str(exc.value)


@pytest.mark.parametrize(
    ("raw", "ftype", "decoded"),
    [
        ("[I:8]", F.PICKLIST, "8"),
        ("[I:0]", F.PICKLIST, None),
        ("[I:42]", F.INTEGER, 42),
        ("[I:1]", F.BOOLEAN, True),
        ("[I:0]", F.BOOLEAN, False),
        ("[F:123.4]", F.DECIMAL, 123.4),
        ("[D:11/09/2017]", F.DATE, date(2017, 11, 9)),
        ("[D:09.11.2017]", F.DATE, date(2017, 11, 9)),
        ("[D:01/01/0001]", F.DATE, None),
        ("[DT:05/28/2020 15:00:01]", F.DATETIME, datetime(2020, 5, 28, 15, 0, 1)),
        ("Some text", F.STRING, "Some text"),
        ("[I:5]", None, "5"),  # unknown field: tag stripped, value kept as text
        (None, F.STRING, None),
    ],
)
def test_decode_custom(raw: str | None, ftype: F | None, decoded: object) -> None:
    assert decode_custom(raw, ftype) == decoded


@pytest.mark.parametrize(
    ("value", "ftype"),
    [("3", F.PICKLIST), (17, F.INTEGER), (True, F.BOOLEAN), (2.25, F.DECIMAL), (date(2024, 2, 29), F.DATE)],
)
def test_encode_then_decode_round_trips(value: object, ftype: F) -> None:
    assert decode_custom(encode_custom(value, ftype), ftype) == value


def test_entity_datetimes() -> None:
    # Seven fractional digits as SuperOffice writes them; empty dates are year 1.
    assert entity_datetime("2025-05-14T10:48:07.8912039Z") == datetime(2025, 5, 14, 10, 48, 7, 891203, tzinfo=UTC)
    assert entity_datetime("0001-01-01T00:00:00") is None
    assert entity_datetime("2024-01-02T03:04:05", utc=True) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert entity_datetime("garbage") is None
    assert entity_datetime(None) is None
