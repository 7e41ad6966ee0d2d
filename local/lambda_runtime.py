"""Runs template functions in-process the way Lambda would: handler module by file path, a Lambda context, and errors
reported instead of crashing the caller.

Concurrency: the local gateway serves requests on many threads of one process, while Lambda gives every execution
environment one event at a time. Two things keep overlapping invocations apart the way separate environments are:
- each concurrent invocation of a function gets its own copy of the handler module (an "execution environment"
  from a small pool), so per-resolver state such as Powertools' `app.context` (route arguments) is never shared;
- Powertools keeps the current event and Lambda context on the *class* `BaseRouter` (shared by every resolver of every
  function in the process); `isolate_powertools_router_state` makes those two attributes thread-local here. This is a
  local-runtime patch only: on Lambda one process handles one event at a time, so production code is untouched.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ACCOUNT_ID, REGION, REPO_ROOT, FunctionSpec, SamTemplate

log = logging.getLogger("local.runtime")

COMMON_LAYER = REPO_ROOT / "layers" / "common"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools and handlers read from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int = 29
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"local/[$LATEST]{uuid.uuid4().hex}"

    @classmethod
    def for_function(cls, function_name: str, *, timeout_seconds: int = 29, memory_mb: int = 512) -> FakeLambdaContext:
        return cls(
            function_name=function_name,
            memory_limit_in_mb=memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}",
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=timeout_seconds,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class HandlerNotBuilt(LookupError):
    """The template names a handler module that does not exist (yet)."""

    def __init__(self, spec: FunctionSpec) -> None:
        super().__init__(f"handler {spec.relative_module_file} not built")
        self.spec = spec


@dataclass
class Invocation:
    """Outcome of one invocation: the handler's return value, or the error Lambda would report."""

    function_id: str
    request_id: str
    result: Any = None
    error: str | None = None  # "ErrorType: message" for a raised exception
    not_built: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.not_built


@dataclass
class _Environments:
    """The loaded copies of one function's handler module (one per concurrent invocation), for one file version."""

    mtime: float
    idle: list[ModuleType] = field(default_factory=list)
    loaded: int = 0


class FunctionRuntime:
    """Imports each template function's handler (per file version, one copy per concurrent invocation) and invokes it
    with a fake context."""

    def __init__(self, template: SamTemplate, *, function_names: dict[str, str] | None = None) -> None:
        self.template = template
        self.functions = template.functions()
        self._function_names = function_names or {}
        self._environments: dict[str, _Environments] = {}
        self._lock = threading.Lock()
        _ensure_on_path(COMMON_LAYER)
        isolate_powertools_router_state()

    def function_name(self, function_id: str) -> str:
        stage = self.template.parameters.get("Stage", "local")
        return self._function_names.get(function_id, f"leadbridge-{stage}-{function_id}")

    def handler(self, function_id: str) -> Any:
        """The handler of one execution environment of the function (for tests that call it directly, one at a
        time); `invoke` is the concurrency-safe way in."""
        module = self._acquire(function_id)
        self._release(function_id, module)
        return self._handler_of(function_id, module)

    def environments(self, function_id: str) -> int:
        """How many copies of the function's module are loaded (grows with concurrent invocations)."""
        with self._lock:
            found = self._environments.get(function_id)
            return found.loaded if found else 0

    def _acquire(self, function_id: str) -> ModuleType:
        """An idle execution environment of the function, or a new one when all are busy (like Lambda scaling out)."""
        spec = self.functions[function_id]
        module_file = spec.module_file
        if not module_file.is_file():
            raise HandlerNotBuilt(spec)
        mtime = module_file.stat().st_mtime
        with self._lock:
            pool = self._environments.get(function_id)
            if pool is None or pool.mtime != mtime:
                # Reloading on change lets `make run` pick up handler edits without a restart.
                pool = _Environments(mtime)
                self._environments[function_id] = pool
            if pool.idle:
                return pool.idle.pop()
            pool.loaded += 1
            copy = pool.loaded
        return _load_module(spec, copy)

    def _release(self, function_id: str, module: ModuleType) -> None:
        with self._lock:
            pool = self._environments.get(function_id)
            if pool is not None and getattr(module, "__leadbridge_mtime__", None) == pool.mtime:
                pool.idle.append(module)

    def _handler_of(self, function_id: str, module: ModuleType) -> Any:
        spec = self.functions[function_id]
        handler = getattr(module, spec.handler_function, None)
        if handler is None:
            raise HandlerNotBuilt(spec)
        return handler

    def context(self, function_id: str) -> FakeLambdaContext:
        spec = self.functions[function_id]
        return FakeLambdaContext.for_function(
            self.function_name(function_id), timeout_seconds=spec.timeout_seconds, memory_mb=spec.memory_mb
        )

    def invoke(self, function_id: str, event: Any) -> Invocation:
        context = self.context(function_id)
        invocation = Invocation(function_id=function_id, request_id=context.aws_request_id)
        try:
            module = self._acquire(function_id)
        except HandlerNotBuilt as exc:
            log.warning("%s: %s", function_id, exc)
            invocation.not_built = True
            invocation.error = str(exc)
            return invocation
        except Exception as exc:  # an import-time error is an Init error in Lambda
            log.error("%s: init failed\n%s", function_id, traceback.format_exc())
            invocation.error = f"Runtime.ImportModuleError: {type(exc).__name__}: {exc}"
            return invocation
        try:
            invocation.result = self._handler_of(function_id, module)(event, context)
        except HandlerNotBuilt as exc:
            log.warning("%s: %s", function_id, exc)
            invocation.not_built = True
            invocation.error = str(exc)
        except Exception as exc:
            # Lambda logs the traceback to CloudWatch and reports the error type to the caller.
            log.error("%s (request %s) raised\n%s", function_id, context.aws_request_id, traceback.format_exc())
            invocation.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._release(function_id, module)
        if context.get_remaining_time_in_millis() == 0:
            log.warning("%s ran longer than its %ss timeout; Lambda would have killed it", function_id,
                        context.timeout_seconds)
        return invocation


def _ensure_on_path(directory: Path) -> None:
    text = str(directory)
    if text not in sys.path:
        sys.path.insert(0, text)


def _load_module(spec: FunctionSpec, copy: int = 1) -> ModuleType:
    # Many handlers are called app.py: a unique module name per function (and per copy) keeps them apart in
    # sys.modules. The code directory goes on sys.path like /var/task does in Lambda, so sibling imports work.
    _ensure_on_path(spec.code_uri)
    mtime = spec.module_file.stat().st_mtime
    suffix = "" if copy == 1 else f"_env{copy}"
    name = f"leadbridge_local_fn.{spec.logical_id}.{spec.module_file.stem}{suffix}"
    module_spec = importlib.util.spec_from_file_location(name, spec.module_file)
    if module_spec is None or module_spec.loader is None:
        raise HandlerNotBuilt(spec)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    module.__leadbridge_mtime__ = mtime  # type: ignore[attr-defined]
    return module


class _PerThread:
    """A data descriptor holding one value per thread; reading it in a thread that never set it raises
    AttributeError, as reading an unset class attribute would."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values = threading.local()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return self.values.value
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: object, value: Any) -> None:
        self.values.value = value


_ROUTER_STATE = ("current_event", "lambda_context")
_isolated = False
_isolate_lock = threading.Lock()


def isolate_powertools_router_state() -> None:
    """Make `BaseRouter.current_event` and `BaseRouter.lambda_context` thread-local in this process (idempotent).

    Powertools assigns them on the class (`BaseRouter.current_event = ...` in `resolve`) and reads them through
    resolver and router instances. A descriptor in the class dict serves the instance reads and writes; the class
    assignment bypasses class-dict descriptors, so `BaseRouter` also gets a metaclass (a subclass of its own) carrying
    the same descriptors, which intercepts it. Every other class keeps its metaclass.
    """
    global _isolated
    with _isolate_lock:
        if _isolated:
            return
        from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

        descriptors = {name: _PerThread(name) for name in _ROUTER_STATE}
        for name, descriptor in descriptors.items():
            setattr(BaseRouter, name, descriptor)  # still the plain metaclass: this replaces the class attribute
        meta = type(BaseRouter)
        # mypy reads `__class__` as a method; on a class it is the metaclass slot, assignable between compatible ones.
        BaseRouter.__class__ = type(f"ThreadLocal{meta.__name__}", (meta,), dict(descriptors))  # type: ignore[method-assign]
        _isolated = True
