"""A function's own variables (template.yaml, the function's `Environment`) are read through its typed settings class
(leadbridge.config), so a variable renamed on one side only is caught here, not in production."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from leadbridge.config import SyncWorkerSettings, WebhookProcessorSettings, load_function_settings
from local.template import SamTemplate

# Variables every function has from Globals, or that configure a library rather than leadbridge.
_NOT_OURS = {"POWERTOOLS_SERVICE_NAME"}


@pytest.mark.parametrize(
    ("function_id", "model"),
    [("SyncWorkerFunction", SyncWorkerSettings), ("WebhookProcessorFunction", WebhookProcessorSettings)],
)
def test_each_variable_the_template_gives_a_function_is_a_field_of_its_settings(
    function_id: str, model: type[BaseModel]
) -> None:
    raw = SamTemplate().raw["Resources"][function_id]["Properties"]
    declared = dict(raw.get("Environment", {}).get("Variables", {}))
    fields = {f.alias for f in model.model_fields.values()}
    assert set(declared) - _NOT_OURS <= fields, set(declared) - _NOT_OURS - fields
    loaded = load_function_settings(model, {k: str(v) for k, v in declared.items()})
    for name, value in declared.items():
        if name in fields:
            field = next(n for n, f in model.model_fields.items() if f.alias == name)
            assert str(getattr(loaded, field)) == str(value), name
