"""Checks the REST traffic of the sandbox against the official SuperOffice Swagger 2.0 spec.

The spec (`specs/superoffice/Swagger-v1-REST.json.gz` in the repo, or `$SUPEROFFICE_SPEC_PATH`) is loaded
once per process. Requests are checked for path+method, query parameter names and types, and the body schema;
responses for a declared status and the response schema.

Validation runs on an in-memory copy made stricter and more realistic, as the spec's README suggests:
- every definition with properties gets `additionalProperties: false`, so a misspelt property name fails;
- string-, object-, array- and reference-typed properties also accept `null` (live responses carry `"Person": null`);
- PATCH bodies may be a JSON Patch array or a merge-patch object; `JsonPatch.value` may be any JSON value and `op`
  may be numeric (the spec's own example uses `"op": 1`);
- `ODataSlimResponse.value` rows may hold any JSON values (the spec says objects, every documented row holds strings
  and numbers) and `Webhook.Properties` values may be any JSON value;
- `date-time` strings must look like ISO 8601 (`0001-01-01T00:00:00`, optional fraction of up to 7 digits, optional
  `Z` or offset).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_ENV_VAR = "SUPEROFFICE_SPEC_PATH"
_REPO_ROOT = Path(__file__).resolve().parents[3]
# The official spec, vendored gzipped in the repo so the checks run in any clone (see specs/superoffice/README.md).
DEFAULT_SPEC_PATH = _REPO_ROOT / "specs" / "superoffice" / "Swagger-v1-REST.json.gz"

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?$")
_DEF_PREFIX = "#/definitions/"


def spec_path() -> Path:
    configured = os.environ.get(SPEC_ENV_VAR)
    return Path(configured) if configured else DEFAULT_SPEC_PATH


_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load_cached(path: str) -> SpecIndex:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return SpecIndex(json.load(fh))


def load_spec(path: Path | None = None) -> SpecIndex:
    """The parsed spec, loaded once per process per path."""
    resolved = str((path or spec_path()).resolve())
    if not os.path.exists(resolved):
        raise FileNotFoundError(f"SuperOffice spec not found at {resolved}; set {SPEC_ENV_VAR}")
    with _load_lock:
        return _load_cached(resolved)


@dataclass(frozen=True)
class SpecOperation:
    path: str  # spec template, e.g. /api/v1/Contact/{id}
    method: str  # lower case
    op: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if kind in ("string", "object", "array"):
        widened = dict(schema, type=[kind, "null"])
        if "enum" in widened:
            widened["enum"] = [*widened["enum"], None]
        return widened
    return schema


def _strict_definitions(definitions: dict[str, Any]) -> dict[str, Any]:
    strict = copy.deepcopy(definitions)
    for name, definition in strict.items():
        props = definition.get("properties")
        if not props:
            continue
        definition["additionalProperties"] = False
        for prop_name, prop in list(props.items()):
            if prop.get("type") == "object" and prop.get("additionalProperties") == {"type": "object"}:
                prop = dict(prop, additionalProperties={})
            props[prop_name] = _nullable(prop)
        if name.endswith("ODataSlimResponse"):
            props["value"] = {"type": ["array", "null"], "items": {"type": "object"}}
        if name.endswith("WebApi.JsonPatch"):
            op_enum = definition["properties"]["op"].get("enum") or []
            props["op"] = {"anyOf": [{"enum": [e for e in op_enum if e is not None]}, {"type": "integer"}]}
            props["value"] = {}
    return strict


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    def _is_datetime(value: object) -> bool:
        return not isinstance(value, str) or bool(_DATETIME.match(value))

    checker.checks("date-time")(_is_datetime)  # jsonschema is untyped: register without decorator syntax
    return checker


class SpecIndex:
    """Operations of the spec indexed for matching, plus cached validators over the strict definitions."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.raw = spec
        self.definitions: dict[str, Any] = spec["definitions"]
        self._strict_root = {"definitions": _strict_definitions(self.definitions)}
        self._format_checker = _format_checker()
        self._validators: dict[str, jsonschema.Draft4Validator] = {}
        self._validators_lock = threading.Lock()
        self._routes: list[tuple[int, list[str], str]] = []
        for path in spec["paths"]:
            segments = path.strip("/").split("/")
            literal = sum(1 for s in segments if not s.startswith("{"))
            self._routes.append((literal, segments, path))
        # Literal segments win over placeholders (`/Contact/default` before `/Contact/{id}`).
        self._routes.sort(key=lambda r: (-len(r[1]), -r[0]))

    # --- matching -----------------------------------------------------------------------------------------------

    def match(self, method: str, api_path: str) -> tuple[SpecOperation | None, dict[str, str], list[str]]:
        """(operation, path params, candidate paths that matched the URL but not the method)."""
        segments = api_path.strip("/").split("/")
        wrong_method: list[str] = []
        for _literal, spec_segments, path in self._routes:
            if len(spec_segments) != len(segments):
                continue
            params: dict[str, str] = {}
            for spec_seg, seg in zip(spec_segments, segments, strict=True):
                if spec_seg.startswith("{"):
                    params[spec_seg[1:-1]] = seg
                elif spec_seg.lower() != seg.lower():
                    break
            else:
                op = self.raw["paths"][path].get(method.lower())
                if op is not None:
                    return SpecOperation(path, method.lower(), op), params, wrong_method
                wrong_method.append(path)
        return None, {}, wrong_method

    # --- schemas ------------------------------------------------------------------------------------------------

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft4Validator:
        key = json.dumps(schema, sort_keys=True)
        with self._validators_lock:
            found = self._validators.get(key)
            if found is None:
                found = jsonschema.Draft4Validator(
                    dict(schema, definitions=self._strict_root["definitions"]), format_checker=self._format_checker
                )
                self._validators[key] = found
            return found

    def carrier_template(self, definition: str) -> dict[str, Any]:
        # The template is flat (`_template`): scalars, and empty lists and objects, which each copy gets afresh.
        # Not `copy.deepcopy`: every entity the sandbox renders takes a few of these, and deepcopy's bookkeeping was
        # a third of starting the sandbox with its demo data.
        return {k: type(v)() if type(v) in (list, dict) else v for k, v in _template(self, definition).items()}

    def definition_properties(self, definition: str) -> dict[str, Any]:
        return dict(self.definitions[_full_name(self, definition)].get("properties", {}))


def _full_name(index: SpecIndex, name: str) -> str:
    if name in index.definitions:
        return name
    matches = [d for d in index.definitions if d.endswith("." + name)]
    if len(matches) != 1:
        raise KeyError(f"definition {name!r} is ambiguous or missing: {matches}")
    return matches[0]


_templates: dict[tuple[int, str], dict[str, Any]] = {}
_templates_lock = threading.Lock()


def _template(index: SpecIndex, definition: str) -> dict[str, Any]:
    """Every property of a carrier with the value the API sends when it is empty."""
    key = (id(index), definition)
    with _templates_lock:
        found = _templates.get(key)
        if found is not None:
            return found
    props = index.definitions[_full_name(index, definition)].get("properties", {})
    template: dict[str, Any] = {}
    for name, prop in props.items():
        kind = prop.get("type")
        if "$ref" in prop:
            template[name] = None
        elif kind == "string" and prop.get("enum"):
            template[name] = prop["enum"][0]  # .NET serialises a default enum as its first (zero) member
        elif kind == "string":
            template[name] = "0001-01-01T00:00:00" if prop.get("format") == "date-time" else ""
        elif kind in ("integer", "number"):
            template[name] = 0
        elif kind == "boolean":
            template[name] = False
        elif kind == "array":
            template[name] = []
        elif kind == "object":
            template[name] = {}
        else:
            template[name] = None
    with _templates_lock:
        _templates[key] = template
    return template


def _schema_errors(index: SpecIndex, schema: dict[str, Any], value: Any, where: str, limit: int = 5) -> list[str]:
    errors = []
    for err in index.validator(schema).iter_errors(value):
        location = "/".join(str(p) for p in err.absolute_path) or "(root)"
        errors.append(f"{where} at {location}: {err.message[:300]}")
        if len(errors) >= limit:
            break
    return errors


class SpecChecker:
    """Validates one request/response pair at a time; returns readable violation strings."""

    def __init__(self, index: SpecIndex) -> None:
        self.index = index

    def check_request(
        self,
        method: str,
        api_path: str,
        query: list[tuple[str, str]],
        body: Any,
        body_present: bool,
        body_is_json: bool,
    ) -> tuple[SpecOperation | None, list[str]]:
        op, path_params, wrong_method = self.index.match(method, api_path)
        label = f"{method.upper()} {api_path}"
        if op is None:
            if wrong_method:
                return None, [f"request {label}: method not in spec for {', '.join(wrong_method)}"]
            return None, [f"request {label}: path not in spec"]
        problems: list[str] = []
        params = op.op.get("parameters", [])
        by_name = {p["name"].lower(): p for p in params if p["in"] in ("query", "path")}
        for name, raw in path_params.items():
            declared = by_name.get(name.lower())
            if declared and not _value_fits(declared, raw):
                problems.append(f"request {label}: path parameter {name}={raw!r} is not a valid {declared.get('type')}")
        query_params = {p["name"].lower(): p for p in params if p["in"] == "query"}
        for name, raw in query:
            declared = query_params.get(name.lower())
            if declared is None:
                problems.append(f"request {label}: query parameter {name!r} not in spec for {op.label}")
            elif not _value_fits(declared, raw):
                kind = declared.get("type")
                problems.append(f"request {label}: query parameter {name}={raw!r} is not a valid {kind}")
        body_param = next((p for p in params if p["in"] == "body"), None)
        if body_param is None:
            if body_present:
                problems.append(f"request {label}: body sent but {op.label} takes none")
        elif not body_present:
            if body_param.get("required"):
                problems.append(f"request {label}: required body missing")
        elif not body_is_json:
            problems.append(f"request {label}: body is not valid JSON")
        else:
            schema = body_param["schema"]
            if op.method == "patch" and isinstance(body, dict):
                pass  # merge patch: any object is allowed (spec prose)
            else:
                problems += _schema_errors(self.index, schema, body, f"request {label}: body")
        return op, problems

    def check_response(self, op: SpecOperation, api_path: str, status: int, body: Any, is_json: bool) -> list[str]:
        label = f"{op.method.upper()} {api_path}"
        responses = op.op.get("responses", {})
        if status >= 400 or status == 304:
            return []  # error statuses carry the documented error JSON, which the spec does not describe
        declared = responses.get(str(status))
        if declared is None:
            return [f"response {label}: status {status} not declared for {op.label} (declares {sorted(responses)})"]
        schema = declared.get("schema")
        if schema is None:
            if status != 204 and body not in (None, b"", ""):
                return [f"response {label}: status {status} has no schema in the spec but a body was sent"]
            return []
        if not is_json:
            return [f"response {label}: status {status} body is not JSON"]
        return _schema_errors(self.index, schema, body, f"response {label} {status}")


def _value_fits(declared: dict[str, Any], raw: str) -> bool:
    kind = declared.get("type")
    if kind == "integer":
        return bool(re.fullmatch(r"-?\d+", raw))
    if kind == "boolean":
        return raw.lower() in ("true", "false")
    if kind == "number":
        try:
            float(raw)
        except ValueError:
            return False
    return True
