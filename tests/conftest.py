"""Shared fixtures: moto server, the template's AWS resources, and the whole local stack.

- `moto_server` (session): endpoint URL of a moto server on 127.0.0.1; AWS env vars point every boto3 client at it.
- `aws` (function): fresh moto state with the table, queues, bus and key of template.yaml; the functions' environment
  variables (TABLE_NAME, SYNC_QUEUE_URL, ...) set in os.environ; yields `local.aws.LocalResources`.
- `lambda_context` (function): a fake Lambda context for calling handlers directly.
- `stack` (module): a started `local.stack.LocalStack` (gateway, pump, sandboxes) sharing the session moto server;
  schedules do not fire by themselves (call `stack.scheduler.fire_now("DispatcherFunction")`).
- `mint_token` (function): `mint_token(tenant_id, role="admin", **claims) -> str` bearer for the `stack` gateway.
- `fixture_stack` (module): a `LocalStack` over tests/fixtures/stack/template.yaml.

Fixtures shared by several test modules live in `tests/support/` and are registered here through `pytest_plugins`
(SuperOffice and Salesforce tenants connected through the gateway, the SuperOffice webhook plumbing); a module that
defines a fixture of the same name overrides them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local.aws import LocalResources, MotoServer, configure_process_env, create_resources, reset_moto
from local.lambda_runtime import FakeLambdaContext
from local.template import SamTemplate
from tests.support.local_stack import clear_settings_cache, finish_stopping, running_stack

if TYPE_CHECKING:
    from local.stack import LocalStack

pytest_plugins = [
    "tests.support.superoffice_connect",
    "tests.support.salesforce_connect",
    "tests.support.superoffice_webhooks",
]


def pytest_sessionfinish() -> None:
    finish_stopping()  # servers of module-scoped fixtures shutting down in the background (without a moto_server)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    saved = dict(os.environ)
    server = MotoServer()
    endpoint = server.start()
    configure_process_env(endpoint)
    yield endpoint
    finish_stopping()  # the local stacks' servers, stopping in the background
    server.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sam_template() -> SamTemplate:
    return SamTemplate()


@pytest.fixture
def aws(moto_server: str, sam_template: SamTemplate, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    reset_moto(moto_server)
    resources = create_resources(sam_template, moto_server)
    for name, value in resources.environment.items():
        monkeypatch.setenv(name, value)
    clear_settings_cache()
    yield resources
    clear_settings_cache()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext.for_function("test-function", timeout_seconds=29, memory_mb=512)


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    with running_stack(moto_server) as local_stack:
        yield local_stack


@pytest.fixture
def mint_token(stack: LocalStack) -> Callable[..., str]:
    def mint(tenant_id: str, role: str = "admin", **claims: Any) -> str:
        return stack.issuer.mint(tenant_id=tenant_id, sub=f"user-{role}@{tenant_id}", role=role, **claims)

    return mint


FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "stack" / "template.yaml"


@pytest.fixture(scope="module")
def fixture_stack(moto_server: str) -> Iterator[LocalStack]:
    """LocalStack over tests/fixtures/stack/template.yaml: test-controlled echo, SQS consumer and scheduled functions.

    Pump and scheduler do not run by themselves (step them with `pump.poll_once` / `scheduler.fire_now`); failed
    messages are visible again at once (visibility timeout 0) so retries need no waiting.
    """
    overrides = {"CorsAllowOrigins": "https://app.example.com"}
    with running_stack(moto_server, template_path=FIXTURE_TEMPLATE, run_pump=False, start_sandboxes=False,
                       visibility_timeout=0, parameter_overrides=overrides) as local_stack:
        yield local_stack
