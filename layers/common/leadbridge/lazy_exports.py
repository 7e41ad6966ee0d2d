"""A package's names, imported when first used (PEP 562).

Area packages (`leadbridge.settings`, `leadbridge.export`, ...) name their API in their `__init__` so callers write
`settings.get_settings(...)`. Importing every module behind those names at once made any import of the package (even
of one small submodule: `leadbridge.settings.schedule` runs `leadbridge/settings/__init__.py` first) load the whole
area: the sync worker paid for the export code at every cold start (issue #19, target 6). With these, a name's
module is imported when the name is first read; type checkers still see the names through `TYPE_CHECKING` imports.

A name must not also be a submodule's: importing the submodule binds the module to that name on the package, and
`__getattr__` is never asked again (`tests/unit/test_lazy_exports.py` checks).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

_IMPORTING = threading.RLock()


def lazy_exports(package: str, modules: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose name `n` lives in its submodule `modules[n]`."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # One lazy import at a time: two threads (the local stack runs requests in threads) importing modules that
        # import each other could each see the other's module partly initialized.
        with _IMPORTING:
            value = getattr(importlib.import_module(f"{package}.{module}"), name)
            setattr(sys.modules[package], name, value)  # the next read is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(modules) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
