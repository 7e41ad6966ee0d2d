"""The default deal pipeline (§4): stage metadata values are strings; closed won = `isClosed "true"` with probability
`"1.0"`, closed lost = `isClosed "true"` with `"0.0"`."""

from __future__ import annotations

from typing import Any

_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "false", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "false", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "false", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "false", "0.8"),
    ("contractsent", "Contract Sent", "false", "0.9"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
_EPOCH = "2020-01-01T00:00:00.000Z"

DEFAULT_PIPELINE: dict[str, Any] = {
    "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
    "createdAt": _EPOCH, "updatedAt": _EPOCH,
    "stages": [{"id": sid, "label": label, "displayOrder": i, "archived": False, "createdAt": _EPOCH,
                "updatedAt": _EPOCH, "metadata": {"isClosed": closed, "probability": probability}}
               for i, (sid, label, closed, probability) in enumerate(_STAGES)],
}
