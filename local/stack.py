"""The whole backend on loopback: `python -m local.stack` (what `make run` runs), and `LocalStack` for tests.

moto (AWS) with the template's resources -> gateway (HTTP API routes -> handlers) -> CRM sandboxes -> queue and
stream pumps -> scheduler, then a banner with URLs and ready-to-paste bearer tokens for the demo tenant.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import weakref
from pathlib import Path
from types import FrameType
from typing import Any

from local.aws import LocalResources, MotoServer, client, configure_process_env, create_resources, reset_moto
from local.gateway import Gateway
from local.lambda_runtime import FunctionRuntime
from local.pump import QueuePump
from local.sandboxes import SandboxInfo, StackContext, all_starters
from local.scheduler import Scheduler
from local.streams import StreamPump
from local.template import REPO_ROOT, TEMPLATE_PATH, SamTemplate
from local.tokens import LocalIssuer

log = logging.getLogger("local.stack")

DEFAULT_PORT = 3000
DEMO_TENANT_ID = "demo-tenant"
LOCAL_STATE = Path(os.environ.get("LEADBRIDGE_LOCAL_STATE", REPO_ROOT / ".local-state"))
BANNER_TOKEN_TTL = 12 * 3600


_RUNNING: weakref.WeakSet[LocalStack] = weakref.WeakSet()


def running_stacks() -> list[LocalStack]:
    """The stacks of this process that are started and not stopped (tests let their stream relays catch up)."""
    return list(_RUNNING)


class LocalStack:
    def __init__(
        self,
        *,
        template_path: Path = TEMPLATE_PATH,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        moto_endpoint: str | None = None,
        run_schedules: bool = True,
        run_pump: bool = True,
        start_sandboxes: bool = True,
        persist_issuer_key: bool = True,
        visibility_timeout: int = 2,
        parameter_overrides: dict[str, str] | None = None,
    ) -> None:
        self.template = SamTemplate(template_path, parameter_overrides)
        self.host = host
        self.port = port
        self._external_moto = moto_endpoint
        self.run_schedules = run_schedules
        self.run_pump = run_pump
        self.start_sandboxes = start_sandboxes
        self.persist_issuer_key = persist_issuer_key
        self.visibility_timeout = visibility_timeout
        self.demo_tenant_id = DEMO_TENANT_ID
        self.sandboxes: list[SandboxInfo] = []
        self._moto: MotoServer | None = None
        self.moto_endpoint = ""
        self.resources: LocalResources
        self.issuer: LocalIssuer
        self.runtime: FunctionRuntime
        self.gateway: Gateway
        self.pump: QueuePump
        self.streams: StreamPump
        self.scheduler: Scheduler

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def swagger_url(self) -> str:
        return f"{self.gateway.url}/swagger"

    @property
    def ui_demo_url(self) -> str:
        return f"{self.gateway.url}/ui/"

    def _ui_demo_config(self) -> dict[str, Any]:
        """The demo page at /ui/ is the demo tenant's lead app: the API URL and fresh admin and member tokens."""
        return {
            "apiUrl": self.gateway.url,
            "tenant": self.demo_tenant_id,
            "adminToken": self.admin_token(self.demo_tenant_id, sub="demo-admin", email="admin@demo-tenant.example",
                                           ttl=BANNER_TOKEN_TTL),
            "memberToken": self.member_token(self.demo_tenant_id, sub="demo-member",
                                             email="member@demo-tenant.example", ttl=BANNER_TOKEN_TTL),
        }

    def start(self) -> LocalStack:
        if self._external_moto:
            self.moto_endpoint = self._external_moto
            reset_moto(self.moto_endpoint)
        else:
            self._moto = MotoServer()
            self.moto_endpoint = self._moto.start()
        configure_process_env(self.moto_endpoint)

        default_authorizer, authorizers = self.template.http_api_auth()
        authorizer = authorizers[default_authorizer] if default_authorizer else next(iter(authorizers.values()))
        self.issuer = LocalIssuer(
            issuer=authorizer.issuer,
            audience=authorizer.audience[0],
            key_path=LOCAL_STATE / "issuer-key.pem" if self.persist_issuer_key else None,
            tenant_claim=self.template.parameters.get("TenantClaim", "tenant_id"),
            role_claim=self.template.parameters.get("RoleClaim", "role"),
        )
        self.runtime = FunctionRuntime(self.template)
        self.gateway = Gateway(self.template, self.runtime, self.issuer, host=self.host, port=self.port)
        self.gateway.demo_config = self._ui_demo_config
        self._create_aws()
        self.gateway.start()

        if self.start_sandboxes:
            self._start_sandboxes()

        self.pump = QueuePump(self.template, self.runtime, self.resources,
                              visibility_timeout=self.visibility_timeout)
        self.streams = StreamPump(self.template, self.runtime, self.resources)
        if self.run_pump:
            self.pump.start()
            self.streams.start()
        _RUNNING.add(self)
        self.scheduler = Scheduler(self.template, self.runtime)
        if self.run_schedules:
            self.scheduler.start()
        return self

    def _create_aws(self) -> None:
        # The local gateway's own pages (e.g. /swagger) are valid OAuth return URLs, so connect can be clicked through.
        return_urls = [u for u in (self.template.parameters.get("AllowedReturnUrls", ""), f"{self.gateway.url}/") if u]
        self.resources = create_resources(
            self.template,
            self.moto_endpoint,
            extra_environment={"PUBLIC_API_URL": self.gateway.url, "ALLOWED_RETURN_URLS": ",".join(return_urls)},
        )
        os.environ.update(self.resources.environment)
        differing = sorted({
            name for env in self.resources.function_environments.values() for name, value in env.items()
            if self.resources.environment.get(name) != value
        })
        if differing:
            # All functions share this process's environment; per-function values cannot apply in-process.
            log.info("per-function environment variables use the Globals value locally: %s", ", ".join(differing))
        _clear_settings_cache()

    def _start_sandboxes(self) -> None:
        context = StackContext(
            moto_endpoint=self.moto_endpoint,
            region=self.resources.region,
            stage=self.template.parameters.get("Stage", "local"),
            resources=self.resources,
            gateway_url=self.gateway.url,
            demo_tenant_id=self.demo_tenant_id,
        )
        for starter in all_starters():
            try:
                info = starter(context)
            except Exception:
                log.exception("sandbox starter %s failed; the stack runs without it",
                              getattr(starter, "__qualname__", starter))
                continue
            self.sandboxes.append(info)
            os.environ.update(info.env)
        self._store_sandbox_secrets()
        _clear_settings_cache()

    def _store_sandbox_secrets(self) -> None:
        secrets = client("secretsmanager", self.moto_endpoint, self.resources.region)
        for info in self.sandboxes:
            for name, value in info.secrets.items():
                try:
                    secrets.create_secret(Name=name, SecretString=value, KmsKeyId=self.resources.kms_key_id)
                except secrets.exceptions.ResourceExistsException:
                    secrets.put_secret_value(SecretId=name, SecretString=value)

    def reset_aws(self) -> None:
        """Empty every table and queue (fresh moto state with the template's resources); sandboxes keep running."""
        reset_moto(self.moto_endpoint)
        self._create_aws()
        self.streams.forget_streams()
        os.environ.update({k: v for info in self.sandboxes for k, v in info.env.items()})
        self._store_sandbox_secrets()

    def token(self, tenant_id: str, role: str = "admin", *, ttl: int = 3600, **claims: Any) -> str:
        return self.issuer.mint(tenant_id=tenant_id, sub=claims.pop("sub", f"{role}@{tenant_id}"), role=role,
                                ttl=ttl, **claims)

    def admin_token(self, tenant_id: str = DEMO_TENANT_ID, **claims: Any) -> str:
        return self.token(tenant_id, self.template.parameters.get("AdminRole", "admin"), **claims)

    def member_token(self, tenant_id: str = DEMO_TENANT_ID, **claims: Any) -> str:
        return self.token(tenant_id, "member", **claims)

    def stop(self) -> None:
        _RUNNING.discard(self)
        for stopper in (getattr(self, "scheduler", None), getattr(self, "pump", None), getattr(self, "streams", None),
                        getattr(self, "gateway", None)):
            if stopper is not None:
                try:
                    stopper.stop()
                except Exception:
                    log.exception("stopping %s failed", type(stopper).__name__)
        for info in self.sandboxes:
            try:
                info.stop()
            except Exception:
                log.exception("stopping sandbox %s failed", info.name)
        self.sandboxes.clear()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def banner(self) -> str:
        admin = self.admin_token(self.demo_tenant_id, sub="demo-admin", email="admin@demo-tenant.example",
                                 ttl=BANNER_TOKEN_TTL)
        member = self.member_token(self.demo_tenant_id, sub="demo-member", email="member@demo-tenant.example",
                                   ttl=BANNER_TOKEN_TTL)
        self._write_token_env(admin, member)
        routes = sorted(self.template.http_routes(), key=lambda r: (r.path, r.method))
        lines = [
            "",
            "leadbridge local stack is up",
            f"  gateway (HTTP API)  {self.gateway.url}",
            f"  swagger             {self.swagger_url}   (spec: {self.gateway.url}/openapi.json)",
            f"  UI demo (lead app)  {self.ui_demo_url}   (ui/ in a demo lead app, as the demo admin)",
            f"  moto (AWS)          {self.moto_endpoint}   (AWS_ENDPOINT_URL for the aws CLI / boto3)",
            f"  table / bus         {self.resources.table_name} / {self.resources.event_bus_name}",
        ]
        lines += [f"  queue {name:<13} {url}" for name, url in self.resources.queue_urls.items()]
        for info in self.sandboxes:
            lines.append(f"  sandbox {info.name:<11} {info.url}")
            lines.extend(f"    {line}" for line in info.banner)
        if not self.sandboxes:
            lines.append("  sandboxes           none registered (local/sandboxes.py)")
        lines += ["", "  routes:"]
        for route in routes:
            built = "" if self.runtime.functions[route.function_id].module_file.is_file() else "   [not built: 501]"
            auth = "jwt" if route.authorizer else "public"
            lines.append(f"    {route.method:<7}{route.path:<36}{auth:<7}{route.function_id}{built}")
        schedules = [f"{s.function_id} {s.expression}" for s in self.scheduler.schedules if s.enabled]
        lines.append(f"  schedules: {', '.join(schedules) or 'none'}"
                     f"{'' if self.run_schedules else ' (not running)'}")
        lines += [
            "",
            f"  demo tenant: {self.demo_tenant_id}   (tokens valid 12 h; also in {LOCAL_STATE}/tokens.env)",
            f"  admin token:  {admin}",
            "",
            f"  member token: {member}",
            "",
            "  try:",
            f"    curl -s -H 'Authorization: Bearer {admin}' {self.gateway.url}/sync-log",
            "  or:",
            f"    source {LOCAL_STATE}/tokens.env && curl -s -H \"Authorization: Bearer $LB_ADMIN_TOKEN\" "
            "\"$LB_API_URL/sync-log\"",
            "",
            "  Ctrl-C stops everything.",
            "",
        ]
        return "\n".join(lines)

    def _write_token_env(self, admin: str, member: str) -> None:
        if not self.persist_issuer_key:
            return
        LOCAL_STATE.mkdir(parents=True, exist_ok=True)
        path = LOCAL_STATE / "tokens.env"
        path.write_text(
            f"export LB_API_URL={self.gateway.url}\n"
            f"export LB_TENANT_ID={self.demo_tenant_id}\n"
            f"export LB_ADMIN_TOKEN={admin}\n"
            f"export LB_MEMBER_TOKEN={member}\n",
            encoding="utf-8",
        )
        path.chmod(0o600)


def _clear_settings_cache() -> None:
    try:
        from leadbridge.config import settings
    except ImportError:  # layers/common not on sys.path yet; nothing cached either
        return
    settings.cache_clear()


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    port = int(os.environ.get("LEADBRIDGE_PORT", os.environ.get("PORT", DEFAULT_PORT)))
    stack = LocalStack(port=port)
    stopped = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
    except OSError as exc:
        log.error("cannot start the local stack: %s (is port %s in use? set LEADBRIDGE_PORT)", exc, port)
        stack.stop()
        return 1
    print(stack.banner(), flush=True)
    stopped.wait()
    log.info("stopping")
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
