"""Overlapping requests through the local gateway each get their own event, route arguments and Lambda context, the
way separate Lambda execution environments would — also for Powertools resolvers, which keep the current event on a
class attribute shared by every function in the process.

The functions under test are written here (two Powertools HTTP resolvers): a middleware holds every request at a
barrier until all of them are inside their handlers, so the overlap is certain rather than left to thread timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.gateway import Gateway
from local.lambda_runtime import FunctionRuntime
from local.template import SamTemplate
from local.tokens import LocalIssuer

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Handler: app.lambda_handler
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  AlphaFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: alpha/
      Events:
        Get:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Method: GET, Path: "/alpha/{item}" }
  BetaFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: beta/
      Events:
        Post:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Method: POST, Path: "/beta/{item}" }
"""

HANDLER = """\
import concurrency_probe
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver(enable_validation=True)


def hold_until_all_arrived(app, next_middleware):
    concurrency_probe.BARRIER.wait(timeout=60)  # every request is now past `resolve`, inside a handler
    return next_middleware(app)


app.use(middlewares=[hold_until_all_arrived])


@app.{method}("/{name}/<item>")
def answer(item: str) -> dict:
    event = app.current_event
    return {{
        "function": app.lambda_context.function_name,
        "request_id": app.lambda_context.aws_request_id,
        "item": item,
        "path": event.raw_path,
        "marker": event.headers.get("x-marker"),
    }}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for name, method in (("alpha", "get"), ("beta", "post")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(HANDLER.format(name=name, method=method))
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "concurrency_probe.py").write_text("import threading\nBARRIER = threading.Barrier(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "probe"))
    template = SamTemplate(tmp_path / "template.yaml")
    server = Gateway(template, FunctionRuntime(template), LocalIssuer(issuer="https://issuer.test", audience="x"))
    server.start()
    yield server
    server.stop()


def _barrier(parties: int) -> None:
    import concurrency_probe  # the module the handlers share; on sys.path via the fixture

    concurrency_probe.BARRIER = threading.Barrier(parties)


# Generous bounds (barrier 60 s < request 90 s < join 100 s < the test's 120 s): they catch a gateway that serializes
# requests, not a busy machine.
def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response | BaseException]:
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # surfaced by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    return results


def _request(gateway: Gateway, method: str, name: str, item: str) -> Callable[[], httpx.Response]:
    def call() -> httpx.Response:
        marker = f"{name}-{item}"
        return httpx.request(method, f"{gateway.url}/{name}/{item}", headers={"x-marker": marker}, timeout=90)

    return call


def _bodies(results: list[httpx.Response | BaseException]) -> list[dict[str, Any]]:
    bodies = []
    for result in results:
        assert isinstance(result, httpx.Response), result
        assert result.status_code == 200, result.text
        bodies.append(dict(result.json()))
    return bodies


def test_overlapping_requests_to_two_functions_each_see_their_own_event(gateway: Gateway) -> None:
    _barrier(2)

    alpha, beta = _bodies(
        _at_once([_request(gateway, "GET", "alpha", "a-1"), _request(gateway, "POST", "beta", "b-2")])
    )

    assert (alpha["function"], alpha["item"], alpha["path"], alpha["marker"]) == (
        gateway.runtime.function_name("AlphaFunction"),
        "a-1",
        "/alpha/a-1",
        "alpha-a-1",
    )
    assert (beta["function"], beta["item"], beta["path"], beta["marker"]) == (
        gateway.runtime.function_name("BetaFunction"),
        "b-2",
        "/beta/b-2",
        "beta-b-2",
    )
    assert alpha["request_id"] != beta["request_id"]


def test_overlapping_requests_to_one_function_run_in_separate_environments(gateway: Gateway) -> None:
    _barrier(4)

    bodies = _bodies(
        _at_once(
            [_request(gateway, "GET", "alpha", f"a-{i}") for i in range(2)]
            + [_request(gateway, "POST", "beta", f"b-{i}") for i in range(2)]
        )
    )

    expected = [("alpha", "a-0"), ("alpha", "a-1"), ("beta", "b-0"), ("beta", "b-1")]
    for body, (name, item) in zip(bodies, expected, strict=True):
        assert (body["item"], body["path"], body["marker"]) == (item, f"/{name}/{item}", f"{name}-{item}")
    assert len({b["request_id"] for b in bodies}) == 4
    # Lambda scales out: two overlapping invocations of a function ran in two copies of its module.
    assert gateway.runtime.environments("AlphaFunction") == 2
    assert gateway.runtime.environments("BetaFunction") == 2

    # Afterwards the environments are reused, not reloaded.
    _barrier(1)
    assert _bodies([_request(gateway, "GET", "alpha", "again")()])[0]["item"] == "again"
    assert gateway.runtime.environments("AlphaFunction") == 2
