"""The default deal pipeline (§4): stage metadata values are strings; closed won = `isClosed "true"` with probability
`"1.0"`, closed lost = `isClosed "true"` with `"0.0"`."""

from __future__ import annotations

from typing import Any, Literal

from local.sandbox.hubspot.model import Pipeline, PipelineStage, StageMetadata

_STAGES: list[tuple[str, str, Literal["true", "false"], str]] = [
    ("appointmentscheduled", "Appointment Scheduled", "false", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "false", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "false", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "false", "0.8"),
    ("contractsent", "Contract Sent", "false", "0.9"),
    ("closedwon", "Closed Won", "true", "1.0"),
    ("closedlost", "Closed Lost", "true", "0.0"),
]
_EPOCH = "2020-01-01T00:00:00.000Z"

# built through `model.Pipeline` (a metadata value that is not a string fails at import); kept as the dict it answers
DEFAULT_PIPELINE: dict[str, Any] = Pipeline(
    id="default", label="Sales Pipeline", displayOrder=0, archived=False, createdAt=_EPOCH, updatedAt=_EPOCH,
    stages=[PipelineStage(id=sid, label=label, displayOrder=i, archived=False, createdAt=_EPOCH, updatedAt=_EPOCH,
                          metadata=StageMetadata(isClosed=closed, probability=probability))
            for i, (sid, label, closed, probability) in enumerate(_STAGES)],
).model_dump()
