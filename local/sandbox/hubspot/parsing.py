"""Request bodies parsed with the pydantic models of model.py/webhooks.py: a body the reference does not describe is
HubSpot's 400 VALIDATION_ERROR naming the failing fields."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.wrappers import Request

from local.sandbox.hubspot.model import validation_error

Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], request: Request) -> Model:
    """The JSON body as `model`; 400 VALIDATION_ERROR (with the failing fields in `errors[]`) otherwise."""
    try:
        return model.model_validate_json(request.get_data() or b"{}")
    except ValidationError as exc:
        raise validation_error(
            "Invalid input JSON: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
            [{"message": e["msg"], "code": "INVALID_INPUT", "in": ".".join(map(str, e["loc"]))}
             for e in exc.errors()],
        ) from None


def parse_list(model: type[Model], request: Request) -> list[Model]:
    """A JSON array of `model` (e.g. the association specs of a labelled PUT); 400 VALIDATION_ERROR otherwise."""
    try:
        return TypeAdapter(list[model]).validate_json(request.get_data() or b"[]")  # type: ignore[valid-type]
    except ValidationError as exc:
        raise validation_error("Invalid input JSON: " + "; ".join(e["msg"] for e in exc.errors())) from None
