"""Runs template functions in-process the way Lambda would: handler module by file path, a Lambda context, and errors
reported instead of crashing the caller.
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


class FunctionRuntime:
    """Imports each template function's handler once (per file version) and invokes it with a fake context."""

    def __init__(self, template: SamTemplate, *, function_names: dict[str, str] | None = None) -> None:
        self.template = template
        self.functions = template.functions()
        self._function_names = function_names or {}
        self._modules: dict[str, tuple[float, ModuleType]] = {}
        self._lock = threading.Lock()
        _ensure_on_path(COMMON_LAYER)

    def function_name(self, function_id: str) -> str:
        stage = self.template.parameters.get("Stage", "local")
        return self._function_names.get(function_id, f"leadbridge-{stage}-{function_id}")

    def handler(self, function_id: str) -> Any:
        spec = self.functions[function_id]
        module_file = spec.module_file
        if not module_file.is_file():
            raise HandlerNotBuilt(spec)
        mtime = module_file.stat().st_mtime
        with self._lock:
            cached = self._modules.get(function_id)
            if cached is None or cached[0] != mtime:
                # Reloading on change lets `make run` pick up handler edits without a restart.
                cached = (mtime, _load_module(spec))
                self._modules[function_id] = cached
        handler = getattr(cached[1], spec.handler_function, None)
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
            handler = self.handler(function_id)
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
            invocation.result = handler(event, context)
        except Exception as exc:
            # Lambda logs the traceback to CloudWatch and reports the error type to the caller.
            log.error("%s (request %s) raised\n%s", function_id, context.aws_request_id, traceback.format_exc())
            invocation.error = f"{type(exc).__name__}: {exc}"
        if context.get_remaining_time_in_millis() == 0:
            log.warning("%s ran longer than its %ss timeout; Lambda would have killed it", function_id,
                        context.timeout_seconds)
        return invocation


def _ensure_on_path(directory: Path) -> None:
    text = str(directory)
    if text not in sys.path:
        sys.path.insert(0, text)


def _load_module(spec: FunctionSpec) -> ModuleType:
    # Many handlers are called app.py: a unique module name per function keeps them apart in sys.modules.
    # The code directory goes on sys.path like /var/task does in Lambda, so sibling imports work.
    _ensure_on_path(spec.code_uri)
    name = f"leadbridge_local_fn.{spec.logical_id}.{spec.module_file.stem}"
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
    return module
