"""Finds import cycles among the modules of a package: `python -m local.sandbox.import_cycles local.sandbox`.

Every import counts, also those inside functions and under `TYPE_CHECKING`: a cycle hidden in a function is still two
modules that need each other. Prints each cycle (a strongly connected group of modules and the imports that tie it);
exit status 1 when there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def package_modules(package: str, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Module name → file for every module of `package` (a dotted name below `root`)."""
    base = root.joinpath(*package.split("."))
    modules = {}
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that `module` imports. `from x import y` imports the module `x.y` when there is one,
    else a name defined in `x`; a dotted name resolves to its longest known module prefix. Merely being a submodule
    of a package (`import a.b.c` runs `a/b/__init__.py` first) is no edge; taking a name from a parent package's
    `__init__` is one."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    names_from_packages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    names.add(submodule)
                else:
                    names_from_packages.add(source)
    parents = {module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)}
    targets = {name for name in names_from_packages if name in modules and name != module}
    for name in names:
        parts = name.split(".")
        known = next((".".join(parts[:end]) for end in range(len(parts), 0, -1) if ".".join(parts[:end]) in modules),
                     None)
        if known is not None and known != module and known not in parents:
            targets.add(known)
    return targets


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module → the modules of the same set it imports."""
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted; a module importing itself is not
    a cycle here."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    packages = argv or ["local.sandbox"]
    graph: dict[str, set[str]] = {}
    for package in packages:
        graph.update(import_graph(package_modules(package)))
    found = cycles(graph)
    for group in found:
        print("import cycle:")
        for module in group:
            print(f"  {module} -> {', '.join(sorted(graph[module] & set(group)))}")
    print(f"{len(graph)} modules, {len(found)} import cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
