"""The area packages' names (`leadbridge.settings`, `leadbridge.export`) are imported on first read: each name of
`__all__` resolves to the object its submodule defines, and an unknown name is an AttributeError as before."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("leadbridge.settings", "leadbridge.export")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_to_its_submodules_object(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(set(module.__all__))
    for name in module.__all__:
        value = getattr(module, name)
        assert getattr(value, "__name__", name) == name or not callable(value)  # the object itself, not a stand-in
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_one_submodule_loads_only_what_it_needs(package: str) -> None:
    # In a fresh interpreter: the package's own import loads none of its modules until a name is read.
    probe = (f"import sys; sys.path.insert(0, {str(ROOT / 'layers' / 'common')!r}); import {package}; "
             f"print(sorted(m for m in sys.modules if m.startswith('{package}.')))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_exported_name_is_also_a_submodule(package: str) -> None:
    # Importing a submodule binds its name on the package, over the lazy name: `settings.preview` would then be the
    # module, not the function (a 500 on the preview route once any code imported the module first).
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert sorted(set(module.__all__) & submodules) == []
