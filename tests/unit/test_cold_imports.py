"""Cold start guard (issue #19, target 6): importing a function's handler module, in a fresh interpreter as Lambda
does, loads none of the modules deferred to first use. Behavioural, not timed: benchmarks/bench_cold_start.py
measures the time.

What is deferred, and why (docs/operations.md, "Cold start"):
- `phonenumbers` (E.164 formatting, `leadbridge.mapping.phones`): only when a phone field is mapped;
- the CRM packages (`leadbridge.crm.superoffice`, `leadbridge.crm.salesforce`, `leadbridge.crm.hubspot`), authlib
  and httpx: only when a request reaches a CRM (the provider registry imports a CRM's package on first lookup);
- Powertools' idempotency utility (its DynamoDB layer): only for `POST /leads/{id}/export` with an Idempotency-Key;
- Powertools' OpenAPI models: only to write the OpenAPI document (`scripts/generate_openapi.py`);
- the token vault and the sync log adapter: built by their factories on first use;
- for the webhook intake, which only verifies and queues: the settings models, every store port, mapping and the
  inbound kernel;
- boto3 (and s3transfer, multiprocessing with it): the clients are botocore's (`leadbridge.aws_clients`) and items are
  read with Powertools' deserializer; only Powertools' idempotency and parameters utilities import boto3, on first use;
- the export flow (`leadbridge.export`) for every function that does not export: the area packages import their
  modules when a name is first read (`leadbridge.lazy_exports`), so importing `leadbridge.settings.schedule` no longer
  loads every settings module and, through them, the export code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.template import expand_globals, load_template

ROOT = Path(__file__).resolve().parents[2]

DEFERRED_EVERYWHERE = (
    "phonenumbers",
    "leadbridge.crm.superoffice",
    "leadbridge.crm.salesforce",
    "leadbridge.crm.hubspot",
    "authlib",
    "httpx",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.event_handler.openapi.models",
    "leadbridge.store.vault",
    "leadbridge.store.log",
    "boto3",
    "s3transfer",
    "multiprocessing",
)
_NOT_EXPORTING = ("leadbridge.export",)
DEFERRED_BY_FUNCTION = {
    "WebhookIntakeFunction": (
        "leadbridge.models.settings",
        "leadbridge.store.ports",
        "leadbridge.mapping",
        "leadbridge.inbound.kernel",
        *_NOT_EXPORTING,
    ),
    "SyncWorkerFunction": _NOT_EXPORTING,
    "DispatcherFunction": _NOT_EXPORTING,
    "WebhookProcessorFunction": _NOT_EXPORTING,
    "SyncApiFunction": _NOT_EXPORTING,
    "OauthFunction": _NOT_EXPORTING,
    # Its preview and validation modules come with the first request that needs them.
    "SettingsFunction": (*_NOT_EXPORTING, "leadbridge.settings.previewing", "leadbridge.settings.validation"),
}

# Prints the modules loaded by importing the handler file the way Lambda does (code directory and layer on the path).
PROBE = """
import importlib.util, json, sys
module_file, code_dir, layer = sys.argv[1:4]
sys.path[:0] = [code_dir, layer]
spec = importlib.util.spec_from_file_location("handler_under_test", module_file)
module = importlib.util.module_from_spec(spec)
sys.modules["handler_under_test"] = module
spec.loader.exec_module(module)
print(json.dumps(sorted(sys.modules)))
"""


# Prints leadbridge's pydantic models whose validators were built while the handler was imported (`defer_build`).
BUILT_PROBE = PROBE.replace(
    "print(json.dumps(sorted(sys.modules)))",
    """from pydantic import BaseModel
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
print(json.dumps(sorted({f"{c.__module__}.{c.__qualname__}" for c in subclasses(BaseModel)
                         if c.__module__.startswith("leadbridge.") and c.__pydantic_complete__})))""",
)
# Built at class definition whatever the config: a generic model's parametrisation (the 401 body of the OpenAPI
# declarations), small.
BUILT_AT_IMPORT_ANYWAY = {"leadbridge.api.responses"}


def _functions() -> dict[str, tuple[Path, Path]]:
    template = expand_globals(load_template(ROOT / "template.yaml"))
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        code_dir = ROOT / str(props["CodeUri"])
        module = str(props["Handler"]).rpartition(".")[0]
        found[logical_id] = (code_dir / f"{module.replace('.', '/')}.py", code_dir)
    return found


FUNCTIONS = _functions()


def _loaded(module_file: Path, code_dir: Path, probe: str = PROBE) -> set[str]:
    return set(_probe(probe, module_file, code_dir))


def _probe(probe: str, module_file: Path, code_dir: Path) -> Any:
    # A clean environment: no PYTHONPATH from the test run, tracing on as deployed (LAMBDA_TASK_ROOT set: Powertools'
    # Tracer patches at import, and patching everything would import httpx).
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "POWERTOOLS_TRACE_DISABLED"}}
    env.update(LAMBDA_TASK_ROOT=str(ROOT), AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1")
    done = subprocess.run(
        [sys.executable, "-c", probe, str(module_file), str(code_dir), str(ROOT / "layers" / "common")],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _loads(loaded: set[str], package: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for name in loaded)


def test_every_function_of_the_template_is_checked() -> None:
    assert len(FUNCTIONS) >= 10
    assert set(DEFERRED_BY_FUNCTION) <= set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_importing_the_handler_loads_nothing_deferred_to_first_use(function: str) -> None:
    module_file, code_dir = FUNCTIONS[function]
    loaded = _loaded(module_file, code_dir)

    assert "handler_under_test" in loaded and _loads(loaded, "leadbridge")  # the probe did import the handler
    deferred = DEFERRED_EVERYWHERE + DEFERRED_BY_FUNCTION.get(function, ())
    assert [name for name in deferred if _loads(loaded, name)] == []


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_importing_the_handler_builds_no_model_validator(function: str) -> None:
    """leadbridge's models are built on first use (`defer_build`): a model added without it brings the import cost
    back, and shows up here."""
    module_file, code_dir = FUNCTIONS[function]
    built = _loaded(module_file, code_dir, BUILT_PROBE)

    assert [name for name in built if name.rpartition(".")[0] not in BUILT_AT_IMPORT_ANYWAY
            and not any(name.startswith(f"{module}.") for module in BUILT_AT_IMPORT_ANYWAY)] == []


# With tracing on, loading the CRM packages (as the provider registry does on first lookup) patches httpx for X-Ray
# before authlib is imported, so the OAuth clients (authlib subclasses `httpx.Client`) are traced too.
TRACED_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[3]]
import httpx
from aws_xray_sdk.core import patcher
before = "httpx" in patcher._PATCHED_MODULES
from leadbridge.crm.base import supported
supported()
from authlib.integrations.httpx_client import OAuth2Client
print(json.dumps([before, httpx.Client.__name__, [c.__name__ for c in OAuth2Client.__mro__]]))
"""


def test_crm_requests_are_still_traced_once_the_crm_packages_are_loaded() -> None:
    before, client, oauth_bases = _probe(TRACED_PROBE, Path("-"), Path("-"))

    assert before is False  # not at import: that is the cold start saved
    assert client == "_InstrumentedClient"  # X-Ray's traced client, which every `httpx.Client(...)` now builds
    assert "_InstrumentedClient" in oauth_bases


# Prints the collector's settings after the handler's import: thresholds and how many objects were frozen.
COLLECTOR_PROBE = PROBE.replace(
    "print(json.dumps(sorted(sys.modules)))",
    "import gc\nprint(json.dumps({'threshold': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))",
)


@pytest.mark.parametrize("in_lambda", [True, False])
def test_the_sync_worker_settles_the_collector_only_in_a_lambda_environment(
    in_lambda: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Lambda (`AWS_LAMBDA_RUNTIME_API` set) the worker's init freezes what it loaded and spaces young collections
    out (`leadbridge.collector`); in the local runtime's shared interpreter it leaves the collector as it is."""
    from leadbridge import collector

    if in_lambda:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    else:
        monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    module_file, code_dir = FUNCTIONS["SyncWorkerFunction"]
    settled = _probe(COLLECTOR_PROBE, module_file, code_dir)

    if in_lambda:
        assert settled["threshold"] == [collector.YOUNG_COLLECTION_EVERY, 10, 1]
        assert settled["frozen"] > 10_000  # Powertools, botocore and leadbridge's modules, at least
    else:
        assert settled == {"threshold": [700, 10, 10], "frozen": 0}  # CPython's defaults


def test_loading_every_crm_s_oauth_client_writes_no_warning_to_the_log() -> None:
    # authlib 1.9 warns at import that its httpx client moves to httpx2: a line in every cold start's log otherwise.
    probe = ("import sys; sys.path[:0] = [sys.argv[3]]\n"
             "import leadbridge.crm.hubspot.oauth, leadbridge.crm.salesforce.oauth, leadbridge.crm.superoffice.oauth\n"
             "print('[]')")  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # any warning shown (authlib shows its own "always" anyway)
    done = subprocess.run([sys.executable, "-c", probe, "-", "-", str(ROOT / "layers" / "common")],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=120)  # fmt: skip

    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
