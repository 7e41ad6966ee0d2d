"""The CRM sandboxes the local stack starts. A CRM sandbox registers one starter here.

A starter receives the StackContext (moto endpoint, the template's resources, the gateway URL, the demo tenant) and
returns a SandboxInfo: its URL, banner lines, environment variables the functions need (e.g. the CRM base URLs), and
Secrets Manager secrets to create (e.g. the app client secret at leadbridge/<stage>/apps/<crm>). Example:

    def start_superoffice(ctx: StackContext) -> SandboxInfo:
        server = SuperOfficeSandbox(host="127.0.0.1", port=0); server.start()
        return SandboxInfo(name="superoffice", url=server.url, stop=server.stop,
                           env={"SUPEROFFICE_BASE_URL": server.url},
                           secrets={"leadbridge/local/apps/superoffice": '{"client_secret": "..."}'},
                           banner=[f"admin UI: {server.url}/admin"])

Register it either by appending to SANDBOX_STARTERS, or (no edit here needed) by putting a module
`local/sandbox/<crm>/starter.py` with a function `start(ctx: StackContext) -> SandboxInfo`: the stack finds those.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from local.aws import LocalResources

log = logging.getLogger("local.sandboxes")


@dataclass(frozen=True)
class StackContext:
    moto_endpoint: str
    region: str
    stage: str
    resources: LocalResources
    gateway_url: str  # public base URL of the local API (OAuth redirect URIs, webhook targets)
    demo_tenant_id: str


@dataclass
class SandboxInfo:
    name: str
    url: str
    stop: Callable[[], None] = lambda: None
    banner: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


SandboxStarter = Callable[[StackContext], SandboxInfo]

SANDBOX_STARTERS: list[SandboxStarter] = []


def all_starters() -> list[SandboxStarter]:
    """SANDBOX_STARTERS plus every `local/sandbox/<crm>/starter.py:start`, in name order."""
    starters = list(SANDBOX_STARTERS)
    sandbox_root = Path(__file__).with_name("sandbox")
    for starter_file in sorted(sandbox_root.glob("*/starter.py")):
        module_name = f"local.sandbox.{starter_file.parent.name}.starter"
        try:
            module = importlib.import_module(module_name)
        except Exception:
            log.exception("sandbox starter %s failed to import; skipped", module_name)
            continue
        start = getattr(module, "start", None)
        if callable(start) and start not in starters:
            starters.append(start)
    return starters
