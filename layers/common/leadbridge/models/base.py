"""The base of leadbridge's pydantic models: their validators and serializers are built on first use, not at import.

Building a model's core schema is most of what importing `leadbridge.models` costs (issue #19, target 6: cold
start). With `defer_build`, a class statement only collects the fields; pydantic builds the schema, validator and
serializer the first time the model validates, serializes or gives its JSON schema, so a function pays only for the
models its invocation uses. A subclass's own `model_config` is merged with this one (e.g. `frozen=True` keeps
`defer_build`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DeferredModel(BaseModel):
    model_config = ConfigDict(defer_build=True)
