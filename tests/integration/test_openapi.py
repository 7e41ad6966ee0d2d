"""docs/openapi.json is generated from the code (scripts/generate_openapi.py) and must be current: change a route or
an API model, then run `python scripts/generate_openapi.py` and commit the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import leadbridge
from local.template import SamTemplate

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "generate_openapi.py"
DOC = REPO / "docs" / "openapi.json"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOC.read_text(encoding="utf-8"))


def test_committed_document_is_current():
    result = run("--check")
    assert result.returncode == 0, result.stderr + "\nRun: python scripts/generate_openapi.py"


def test_check_detects_a_stale_document(tmp_path, document):
    stale = dict(document, paths={k: v for k, v in document["paths"].items() if k != "/sync-log"})
    target = tmp_path / "openapi.json"
    target.write_text(json.dumps(stale, indent=2) + "\n", encoding="utf-8")
    result = run("--check", "--output", str(target))
    assert result.returncode == 1
    assert "stale" in result.stderr


def test_document_header_and_security_scheme(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "leadbridge"
    assert document["info"]["version"] == leadbridge.__version__
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_sync_log_operation_is_described_by_its_models(document):
    op = document["paths"]["/sync-log"]["get"]
    assert op["security"] == [{"bearerAuth": []}]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"status", "object", "lead_id", "since", "until", "limit", "cursor"}
    assert params["limit"]["schema"]["maximum"] == 200 and params["limit"]["schema"]["minimum"] == 1
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/SyncLogPage"}
    for status in ("400", "401", "403", "422"):
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    entry = document["components"]["schemas"]["SyncLogEntry"]["properties"]
    assert {"direction", "trigger", "action", "outcome", "error", "fields_skipped", "match", "crm_calls"} <= set(entry)


def test_every_implemented_template_route_is_documented(document):
    template = SamTemplate()
    functions = template.functions()
    missing = [
        route.route_key
        for route in template.http_routes()
        if functions[route.function_id].module_file.is_file()
        and route.method.lower() not in document["paths"].get(route.path, {})
    ]
    assert missing == [], "template routes whose function has no matching resolver route"


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves(document):
    refs = set(_refs(document))
    assert refs, "the document has no $ref at all"
    unresolved = []
    for ref in sorted(refs):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                unresolved.append(ref)
                break
            node = node[part]
    assert unresolved == []
