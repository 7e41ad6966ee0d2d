"""Builds docs/openapi.json (OpenAPI 3.1) from the Powertools resolvers of every HTTP function.

Function modules are discovered from template.yaml (each function with an HttpApi event, by CodeUri + Handler), or,
without a readable template, from functions/*/app.py. Each module's resolver (the module attribute `app`) gives
its schema; the schemas are merged with Powertools' OpenAPIMerge.

Two things a route's own `responses=` does not say are added to it before its schema is built:
- its success answer, when the route lists only error statuses (Powertools then drops the default 200 that the
  return annotation would describe);
- for a route behind the template's JWT authorizer, the 401 API Gateway answers without calling the function
  (`leadbridge.api.responses.Unauthorized`).
A time of day (pydantic `datetime.time`, e.g. a schedule's `"06:00:00"`) is described as RFC 3339 `partial-time`
with its pattern: pydantic calls it format `time`, which in JSON Schema requires a UTC offset the API never sends.

    python scripts/generate_openapi.py           # write docs/openapi.json
    python scripts/generate_openapi.py --check   # exit 1 if docs/openapi.json is not what the code describes
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "openapi.json"
for entry in (REPO / "layers" / "common", REPO):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from aws_lambda_powertools.event_handler import content_types  # noqa: E402
from aws_lambda_powertools.event_handler.api_gateway import Route  # noqa: E402
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge  # noqa: E402
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: E402

import leadbridge  # noqa: E402
from leadbridge.api.resolver import BEARER_AUTH  # noqa: E402
from leadbridge.api.responses import UNAUTHORIZED_DESCRIPTION, Unauthorized  # noqa: E402


@dataclass(frozen=True)
class HttpFunction:
    name: str  # template logical id, or the folder name without a template
    module_file: Path
    routes: tuple[str, ...]  # template route keys ("GET /sync-log"); empty without a template
    secured: frozenset[str] = frozenset()  # the route keys behind the template's JWT authorizer


def discover() -> list[HttpFunction]:
    try:
        from local.template import SamTemplate

        template = SamTemplate()
        routes: dict[str, list[str]] = {}
        secured: set[str] = set()
        for route in template.http_routes():
            routes.setdefault(route.function_id, []).append(route.route_key)
            if route.authorizer is not None:
                secured.add(route.route_key)
        functions = template.functions()
        return [
            HttpFunction(fid, functions[fid].module_file, tuple(keys), frozenset(secured.intersection(keys)))
            for fid, keys in sorted(routes.items())
            if functions[fid].module_file.is_file()
        ]
    except (ImportError, OSError, ValueError) as exc:
        warnings.warn(f"template.yaml not usable ({exc}); falling back to functions/*/app.py", stacklevel=1)
        return [HttpFunction(p.parent.name, p, ()) for p in sorted((REPO / "functions").glob("*/app.py"))]


def load(function: HttpFunction) -> ModuleType:
    # Every handler file is called app.py: a unique module name per function keeps them apart in sys.modules.
    name = f"leadbridge_openapi.{function.name}"
    spec = importlib.util.spec_from_file_location(name, function.module_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {function.module_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    code_dir = str(function.module_file.parent)
    sys.path.insert(0, code_dir)  # sibling imports work as in Lambda's /var/task
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(code_dir)
    return module


# HH:MM[:SS[.fraction]], no offset: what pydantic writes for a naive `datetime.time` (and reads back).
PARTIAL_TIME = {"format": "partial-time", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"}


def describe_times(node: Any) -> None:
    """Replaces JSON Schema's `"format": "time"` (which needs an offset) by `PARTIAL_TIME`, everywhere in `node`."""
    if isinstance(node, dict):
        if node.get("format") == "time" and node.get("type") == "string":
            node.update(PARTIAL_TIME)
        for value in node.values():
            describe_times(value)
    elif isinstance(node, list):
        for value in node:
            describe_times(value)


def _route_key(route: Route) -> str:
    return f"{route.method.upper()} {route.openapi_path}"


def complete_responses(routes: list[Route], secured: frozenset[str]) -> None:
    """Adds to each route's declared responses what the route itself cannot say (see the module docstring).

    Runs before Powertools builds a route's `Dependant` (the first `get_openapi_schema`), which reads the
    models of `responses`."""
    for route in routes:
        if route.responses is None:
            continue  # Powertools documents the return annotation as the success answer itself
        responses = dict(route.responses)
        if not any(200 <= int(status) < 400 for status in responses):
            # Without `content`, Powertools describes the body by the route's return annotation.
            responses[route.status_code] = {"description": "Successful Response"}
        if _route_key(route) in secured:
            responses[401] = {
                "description": UNAUTHORIZED_DESCRIPTION,
                "content": {content_types.APPLICATION_JSON: {"model": Unauthorized}},
            }
        route.responses = responses


def build() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title="leadbridge",
        version=leadbridge.__version__,
        description="CRM integration backend for lead apps. Every route except the OAuth callback and CRM webhooks "
        "needs a JWT bearer token of the app's identity provider; the tenant and roles come from its claims.",
        security_schemes={BEARER_AUTH: HTTPBearer(bearerFormat="JWT")},
        on_conflict="error",
    )
    for function in discover():
        app = getattr(load(function), "app", None)
        if app is None or not hasattr(app, "get_openapi_schema"):
            continue
        complete_responses([*app._static_routes, *app._dynamic_routes], function.secured)
        merge.add_schema(app.get_openapi_schema())
    # Through Powertools' OpenAPI model: validates the document and serialises enums and aliases correctly.
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    describe_times(document)
    return document


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale: run `python scripts/generate_openapi.py`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
