"""`make run`'s stack: banner, tokens, sandbox hook, and `python -m local.stack` as a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import httpx
import pytest

from local import sandboxes
from local.sandboxes import SandboxInfo, StackContext
from local.stack import LocalStack
from local.template import REPO_ROOT

FIXTURE_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "stack" / "template.yaml"


def test_banner_tokens_work_against_the_gateway(stack: LocalStack) -> None:
    banner = stack.banner()
    assert stack.gateway_url in banner
    assert f"{stack.gateway_url}/swagger" in banner
    assert stack.moto_endpoint in banner
    assert "demo-tenant" in banner
    admin = re.search(r"admin token:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
    member = re.search(r"member token:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
    claims = stack.issuer.verify(admin)
    assert claims["tenant_id"] == "demo-tenant" and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert stack.issuer.verify(member)["role"] == "member"
    assert f"curl -s -H 'Authorization: Bearer {admin}' {stack.gateway_url}/sync-log" in banner

    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        assert client.get("/sync-log").status_code == 401
        assert client.get("/sync-log", headers={"authorization": f"Bearer {admin}"}).status_code in (200, 501)


def test_stack_sets_the_function_environment(stack: LocalStack) -> None:
    assert os.environ["TABLE_NAME"] == stack.resources.table_name
    assert os.environ["PUBLIC_API_URL"] == stack.gateway_url  # OAuth redirect URIs point at this gateway
    assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_endpoint
    boto3.client("dynamodb").describe_table(TableName=stack.resources.table_name)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_crm_starter() -> Iterator[list[StackContext]]:
    contexts: list[StackContext] = []

    def start(context: StackContext) -> SandboxInfo:
        contexts.append(context)
        server = HTTPServer(("127.0.0.1", 0), _Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return SandboxInfo(name="fakecrm", url=url, stop=stop, banner=["admin: " + url + "/admin"],
                           env={"FAKECRM_BASE_URL": url},
                           secrets={f"leadbridge/{context.stage}/apps/fakecrm": '{"client_secret": "s3cret"}'})

    sandboxes.SANDBOX_STARTERS.append(start)
    yield contexts
    sandboxes.SANDBOX_STARTERS.remove(start)


def test_sandbox_starters_are_started_wired_and_stopped(moto_server: str, fake_crm_starter: list[StackContext],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKECRM_BASE_URL", raising=False)
    stack = LocalStack(template_path=FIXTURE_TEMPLATE, port=0, moto_endpoint=moto_server, run_schedules=False,
                       run_pump=False, persist_issuer_key=False)
    stack.start()
    try:
        (context,) = fake_crm_starter
        assert context.gateway_url == stack.gateway_url
        assert context.demo_tenant_id == "demo-tenant"
        assert context.resources.table_name == stack.resources.table_name
        url = os.environ["FAKECRM_BASE_URL"]
        assert httpx.get(url).text == "hello"
        secret = boto3.client("secretsmanager").get_secret_value(SecretId="leadbridge/local/apps/fakecrm")
        assert secret["SecretString"] == '{"client_secret": "s3cret"}'
        banner = stack.banner()
        assert f"sandbox fakecrm     {url}" in banner and f"admin: {url}/admin" in banner

        stack.reset_aws()  # e2e tests reset between cases: the sandbox's secret must come back
        assert boto3.client("secretsmanager").get_secret_value(SecretId="leadbridge/local/apps/fakecrm")
    finally:
        stack.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)


def test_python_m_local_stack_serves_until_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"LEADBRIDGE_PORT": "0", "LEADBRIDGE_LOCAL_STATE": str(tmp_path)})
    process = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=REPO_ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        banner = []
        assert process.stdout is not None
        for line in process.stdout:
            banner.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(banner)
        gateway = re.search(r"gateway \(HTTP API\)\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        admin = re.search(r"admin token:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        assert (tmp_path / "issuer-key.pem").is_file()
        assert f"export LB_ADMIN_TOKEN={admin}" in (tmp_path / "tokens.env").read_text()

        assert httpx.get(f"{gateway}/sync-log", timeout=30).status_code == 401
        authorized = httpx.get(f"{gateway}/sync-log", headers={"authorization": f"Bearer {admin}"}, timeout=30)
        assert authorized.status_code in (200, 501)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0


# In a fresh interpreter: every function's handler loaded at once from its own thread, as the stack's queue pump and
# gateway do at start-up. Prints the functions that failed to load.
_LOAD_ALL_AT_ONCE = """
import sys, threading
from local.lambda_runtime import FunctionRuntime
from local.template import REPO_ROOT, SamTemplate
runtime = FunctionRuntime(SamTemplate(REPO_ROOT / "template.yaml"))
failed = []
start = threading.Barrier(len(runtime.functions))
def load(function_id):
    start.wait()
    try:
        runtime.handler(function_id)
    except Exception as exc:
        failed.append(f"{function_id}: {type(exc).__name__}: {exc}")
threads = [threading.Thread(target=load, args=(f,)) for f in runtime.functions]
for t in threads: t.start()
for t in threads: t.join()
print(failed)
"""


def test_every_handler_loads_when_all_are_loaded_at_once_from_threads() -> None:
    # Lambda initializes each environment in its own process; locally they share one interpreter, where two threads
    # importing one package cycle at once saw a partly initialized module (a flaky 500 on the stack's first request).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1", POWERTOOLS_TRACE_DISABLED="true")
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", _LOAD_ALL_AT_ONCE], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().splitlines()[-1] == "[]"
