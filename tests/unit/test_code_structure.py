"""The shape issue #13 asks for, kept by tests: no import cycles (the shared package, each sandbox), and no domain
module that names a CRM, so adding a CRM touches no sync code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from local.sandbox import import_cycles

REPO = import_cycles.REPO_ROOT
LAYER = REPO / "layers" / "common"
DOMAIN_PACKAGES = ("connect", "export", "lifecycle", "inbound", "settings", "mapping", "models", "store", "api")
CRM_NAMES = ("superoffice", "salesforce", "hubspot")


@pytest.mark.parametrize(
    ("package", "root"),
    [("leadbridge", LAYER), ("local.sandbox.superoffice", REPO), ("local.sandbox.salesforce", REPO)],
)
def test_a_package_has_no_import_cycle(package: str, root: Path) -> None:
    modules = import_cycles.package_modules(package, root)
    assert len(modules) > 5, f"{package} not found under {root}"
    assert import_cycles.cycles(import_cycles.import_graph(modules)) == []


def _code_strings(tree: ast.AST) -> list[str]:
    """String literals that are code, not docstrings (a docstring may name a CRM as an example)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _imports(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def test_no_domain_module_names_a_crm() -> None:
    offenders: list[str] = []
    for package in DOMAIN_PACKAGES:
        for path in sorted((LAYER / "leadbridge" / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            where = path.relative_to(LAYER)
            for module in _imports(tree):
                if any(f"leadbridge.crm.{crm}" in module for crm in CRM_NAMES):
                    offenders.append(f"{where}: imports {module}")
            for text in _code_strings(tree):
                if text.casefold() in CRM_NAMES:
                    offenders.append(f"{where}: the string {text!r}")
    assert offenders == []
