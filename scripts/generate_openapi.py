"""Builds docs/openapi.json (OpenAPI 3.1) from the Powertools resolvers of every HTTP function.

Function modules are discovered from template.yaml (each function with an HttpApi event, by CodeUri + Handler), or,
without a readable template, from functions/*/app.py. Each module's resolver (the module attribute `app`) gives
its schema; the schemas are merged with Powertools' OpenAPIMerge.

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

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge  # noqa: E402
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: E402

import leadbridge  # noqa: E402
from leadbridge.api.resolver import BEARER_AUTH  # noqa: E402


@dataclass(frozen=True)
class HttpFunction:
    name: str  # template logical id, or the folder name without a template
    module_file: Path
    routes: tuple[str, ...]  # template route keys ("GET /sync-log"); empty without a template


def discover() -> list[HttpFunction]:
    try:
        from local.template import SamTemplate

        template = SamTemplate()
        routes: dict[str, list[str]] = {}
        for route in template.http_routes():
            routes.setdefault(route.function_id, []).append(route.route_key)
        functions = template.functions()
        return [
            HttpFunction(fid, functions[fid].module_file, tuple(keys))
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
        merge.add_schema(app.get_openapi_schema())
    # Through Powertools' OpenAPI model: validates the document and serialises enums and aliases correctly.
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
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
