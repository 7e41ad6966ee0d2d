"""Runs template functions in-process the way Lambda would: handler module by file path, a Lambda context, and errors
reported instead of crashing the caller.

Timeout: each invocation runs on a thread of its own with the function's `Timeout` from template.yaml (or an override,
`FunctionRuntime(timeouts=...)` / `runtime.timeout(function_id, seconds)`, for tests), and
`context.get_remaining_time_in_millis()` counts down from it. When it passes, the caller gets Lambda's error
(`Sandbox.Timedout: Task timed out after N.NN seconds`), so an SQS batch is not deleted and comes back after the
visibility timeout, and the execution environment is not used again. Lambda would freeze and discard the abandoned
code; a thread cannot be killed, so it is stopped at its next I/O instead: from the deadline on, every AWS call
(botocore `before-send`) and every HTTP call through httpx made by that invocation, including the threads it started
through a `ThreadPoolExecutor`, raises `InvocationAbandoned` (a BaseException, which no `except Exception` catches).

Concurrency: the local gateway serves requests on many threads of one process, while Lambda gives every execution
environment one event at a time. Two things keep overlapping invocations apart the way separate environments are:
- each concurrent invocation of a function gets its own copy of the handler module (an "execution environment"
  from a small pool), so per-resolver state such as Powertools' `app.context` (route arguments) is never shared;
- Powertools keeps the current event and Lambda context on the *class* `BaseRouter` (shared by every resolver of every
  function in the process); `isolate_powertools_router_state` makes those two attributes thread-local here. This is a
  local-runtime patch only: on Lambda one process handles one event at a time, so production code is untouched.
"""

from __future__ import annotations

import contextvars
import importlib.util
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ACCOUNT_ID, REGION, REPO_ROOT, FunctionSpec, SamTemplate

log = logging.getLogger("local.runtime")

COMMON_LAYER = REPO_ROOT / "layers" / "common"
_LOADING = threading.RLock()  # handler modules are loaded one at a time (`_load_module`)


@dataclass
class FakeLambdaContext:
    """The attributes Powertools and handlers read from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: float = 29
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"local/[$LATEST]{uuid.uuid4().hex}"

    @classmethod
    def for_function(
        cls, function_name: str, *, timeout_seconds: float = 29, memory_mb: int = 512
    ) -> FakeLambdaContext:
        return cls(
            function_name=function_name,
            memory_limit_in_mb=memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}",
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=timeout_seconds,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationAbandoned(BaseException):
    """Raised at the next AWS or HTTP call of an invocation past its timeout: Lambda would have frozen it there."""


@dataclass
class Deadline:
    """One invocation's end. `stopped` lists the calls refused after it (e.g. `dynamodb.UpdateItem`)."""

    function_id: str
    request_id: str
    at: float  # time.monotonic()
    abandoned: bool = False
    stopped: list[str] = field(default_factory=list)

    def check(self, call: str) -> None:
        if self.abandoned or time.monotonic() >= self.at:
            self.stopped.append(call)
            raise InvocationAbandoned(
                f"{self.function_id} (request {self.request_id}) timed out; {call} was not made"
            )


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("lambda_deadline", default=None)


def check_deadline(call: str) -> None:
    """Refuse `call` when the invocation this code runs for is past its timeout (a no-op outside invocations)."""
    deadline = _deadline.get()
    if deadline is not None:
        deadline.check(call)


@dataclass
class AbandonedInvocation:
    """An invocation that ran past its timeout: its thread, still running until its next I/O, and its deadline."""

    function_id: str
    request_id: str
    thread: threading.Thread
    deadline: Deadline


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
    timed_out: bool = False

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

    def __init__(
        self,
        template: SamTemplate,
        *,
        function_names: dict[str, str] | None = None,
        timeouts: dict[str, float] | None = None,
    ) -> None:
        self.template = template
        self.functions = template.functions()
        self._function_names = function_names or {}
        self._timeouts = dict(timeouts or {})  # seconds, by function id: overrides of the template's Timeout
        self._environments: dict[str, _Environments] = {}
        self._lock = threading.Lock()
        self.abandoned: list[AbandonedInvocation] = []
        _ensure_on_path(COMMON_LAYER)
        isolate_powertools_router_state()
        stop_abandoned_invocations_at_io()

    def timeout_seconds(self, function_id: str) -> float:
        """The function's timeout: the override, else its template `Timeout` (Globals merged in)."""
        return self._timeouts.get(function_id, self.functions[function_id].timeout_seconds)

    @contextmanager
    def timeout(self, function_id: str, seconds: float) -> Iterator[None]:
        """Invocations of `function_id` started inside get `seconds` instead of the template's Timeout (tests)."""
        if function_id not in self.functions:
            raise KeyError(f"{function_id} is not a function of the template")
        saved = self._timeouts.get(function_id)
        self._timeouts[function_id] = seconds
        try:
            yield
        finally:
            if saved is None:
                self._timeouts.pop(function_id, None)
            else:
                self._timeouts[function_id] = saved

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
            self.function_name(function_id), timeout_seconds=self.timeout_seconds(function_id), memory_mb=spec.memory_mb
        )

    def invoke(self, function_id: str, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        invocation = Invocation(function_id=function_id, request_id=request_id)
        try:
            module = self._acquire(function_id)  # the init phase: not counted in the timeout, as on Lambda
        except HandlerNotBuilt as exc:
            log.warning("%s: %s", function_id, exc)
            invocation.not_built = True
            invocation.error = str(exc)
            return invocation
        except Exception as exc:  # an import-time error is an Init error in Lambda
            log.error("%s: init failed\n%s", function_id, traceback.format_exc())
            invocation.error = f"Runtime.ImportModuleError: {type(exc).__name__}: {exc}"
            return invocation
        context = self.context(function_id)
        context.aws_request_id = request_id
        deadline = Deadline(function_id, request_id, context._deadline)
        # The caller's context variables go along (as they would within one thread), plus this invocation's deadline.
        variables = contextvars.copy_context()
        thread = threading.Thread(
            target=variables.run,
            args=(self._run_handler, function_id, module, event, context, deadline, invocation),
            name=f"lambda-{function_id}-{request_id[:8]}",
            daemon=True,
        )
        thread.start()
        thread.join(max(0.0, deadline.at - time.monotonic()))
        if thread.is_alive() or invocation.timed_out:
            deadline.abandoned = True
            timeout = context.timeout_seconds
            invocation.timed_out = True
            invocation.result = None
            invocation.error = f"Sandbox.Timedout: Task timed out after {timeout:.2f} seconds"
            log.warning("%s (request %s) timed out after %.2f s: abandoned, its environment discarded",
                        function_id, request_id, timeout)
            with self._lock:
                self.abandoned.append(AbandonedInvocation(function_id, request_id, thread, deadline))
            return invocation  # the module is not released: Lambda starts a new environment after a timeout
        self._release(function_id, module)
        return invocation

    def _run_handler(self, function_id: str, module: ModuleType, event: Any, context: FakeLambdaContext,
                     deadline: Deadline, invocation: Invocation) -> None:
        _deadline.set(deadline)
        try:
            result = self._handler_of(function_id, module)(event, context)
        except HandlerNotBuilt as exc:
            log.warning("%s: %s", function_id, exc)
            invocation.not_built = True
            invocation.error = str(exc)
        except InvocationAbandoned as exc:
            invocation.timed_out = True  # it may end so just before the caller stops waiting
            log.info("abandoned invocation stopped: %s", exc)
        except Exception as exc:
            if deadline.abandoned:
                return  # nobody is waiting for it any more
            # Lambda logs the traceback to CloudWatch and reports the error type to the caller.
            log.error("%s (request %s) raised\n%s", function_id, context.aws_request_id, traceback.format_exc())
            invocation.error = f"{type(exc).__name__}: {exc}"
        else:
            if not deadline.abandoned:
                invocation.result = result


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
        # One at a time, as Lambda initializes each environment in its own process: here the environments share one
        # interpreter, and two threads importing the same package cycle at once can each see the other's module only
        # partly initialized (ImportError "partially initialized module", KeyError in importlib).
        with _LOADING:
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


_stopping_installed = False
_stopping_lock = threading.Lock()


def stop_abandoned_invocations_at_io() -> None:
    """Install, once per process, the checks that stop an abandoned invocation at its next I/O (see the module doc).

    - botocore: every client created from now on gets a `before-send` handler (each attempt of each AWS call);
    - httpx: `Client.send` checks first (every CRM call goes through an httpx client);
    - `ThreadPoolExecutor.submit` runs the task in a copy of the submitter's context variables, so the threads an
      invocation starts (read-ahead, batched writes) carry its deadline. Local only: Lambda freezes the whole process.
    """
    global _stopping_installed
    with _stopping_lock:
        if _stopping_installed:
            return
        import botocore.session
        import httpx

        create_client = botocore.session.Session.create_client

        def create_client_with_deadline(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = create_client(self, *args, **kwargs)
            client.meta.events.register("before-send", _before_send)
            return client

        botocore.session.Session.create_client = create_client_with_deadline  # type: ignore[method-assign]

        send = httpx.Client.send

        def send_with_deadline(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            check_deadline(f"HTTP {request.method} {request.url.host}{request.url.path}")
            return send(self, request, **kwargs)

        httpx.Client.send = send_with_deadline  # type: ignore[method-assign]

        submit = ThreadPoolExecutor.submit

        def submit_in_context(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            return submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = submit_in_context  # type: ignore[method-assign,assignment]
        _stopping_installed = True


def _before_send(event_name: str = "", **_: Any) -> None:
    # event_name is "before-send.<service>.<Operation>"
    check_deadline(event_name.removeprefix("before-send."))


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
