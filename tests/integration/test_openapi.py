"""docs/openapi.json is generated from the code (scripts/generate_openapi.py) and must be current: change a route or
an API model, then run `python scripts/generate_openapi.py` and commit the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

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
    assert set(params) == {"status", "object", "lead_id", "run_id", "since", "until", "limit", "cursor"}
    assert params["limit"]["schema"]["maximum"] == 200 and params["limit"]["schema"]["minimum"] == 1
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/SyncLogPage"}
    for status in ("400", "403", "422"):
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Unauthorized"
    }
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


def _operations(document: dict) -> list[tuple[str, dict]]:
    return [(f"{method.upper()} {path}", op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_document_is_valid_openapi_3_1(document):
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema, unresolvable references included


def test_the_validator_refuses_a_broken_document(document):
    broken = json.loads(json.dumps(document))
    broken["paths"]["/sync-log"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/NoSuchModel"
    }
    with pytest.raises((OpenAPIValidationError, Unresolvable)):
        validate(broken)


def test_every_operation_documents_its_success_answer(document):
    # Powertools drops the return annotation's 200 when a route declares error responses only.
    missing = [key for key, op in _operations(document) if not any(s.startswith(("2", "3")) for s in op["responses"])]
    assert missing == []


def test_every_secured_operation_documents_api_gateways_401(document):
    unauthorized = document["components"]["schemas"]["Unauthorized"]
    assert unauthorized["anyOf"] == [
        {"$ref": "#/components/schemas/GatewayMessage"},
        {"$ref": "#/components/schemas/ErrorBody"},
    ]
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]
    secured = [(key, op) for key, op in _operations(document) if op.get("security")]
    assert len(secured) >= 20
    wrong = [
        key
        for key, op in secured
        if op["responses"].get("401", {}).get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": "#/components/schemas/Unauthorized"}
    ]
    assert wrong == []


def test_every_operation_that_takes_a_crm_name_documents_the_unknown_crm_404(document):
    # A CRM in the path, or `?crm=` of the lead and export routes, that leadbridge has no provider for is a 404.
    # (GET /sync-runs?crm= lists that CRM's runs: none. The browser pages answer an HTML page instead: see below.)
    naming = [
        key
        for key, op in _operations(document)
        if any(
            p["name"] == "crm" and (p["in"] == "path" or key.split()[1].startswith(("/leads/", "/exports")))
            for p in op.get("parameters", [])
        )
    ]
    assert len(naming) >= 20
    assert [key for key in naming if key not in BROWSER_PAGES and "404" not in _responses(document, key)] == []


# Opened by the browser, not called by the app: they answer HTML pages (the callback a bodiless redirect).
BROWSER_PAGES = {"GET /connections/{crm}/authorize", "GET /oauth/{crm}/callback"}


def test_the_browser_pages_document_html_not_json(document):
    html = {"text/html": {"schema": {"type": "string"}}}
    page = _responses(document, "GET /connections/{crm}/authorize")
    callback = _responses(document, "GET /oauth/{crm}/callback")
    assert page["200"]["content"] == html
    assert page["400"]["content"] == html
    assert callback["302"]["content"] == {}
    assert callback["400"]["content"] == html
    assert "200" not in callback


def _responses(document: dict, key: str) -> dict:
    method, path = key.split()
    return dict(document["paths"][path][method.lower()]["responses"])


def test_every_operation_with_a_json_body_documents_the_shared_body_errors(document):
    with_body = [(key, op) for key, op in _operations(document) if "requestBody" in op]
    missing = [(key, s) for key, op in with_body for s in ("400", "413", "415", "422") if s not in op["responses"]]
    assert missing == []
