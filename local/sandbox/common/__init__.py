"""The server shell shared by the CRM sandboxes (see ../README.md for what each module owns)."""

from local.sandbox.common.calls import CallCounter
from local.sandbox.common.faults import Fault, FaultInjector
from local.sandbox.common.keys import SigningKey
from local.sandbox.common.server import LoopbackServer
from local.sandbox.common.shell import SandboxShell

__all__ = ["CallCounter", "Fault", "FaultInjector", "LoopbackServer", "SandboxShell", "SigningKey"]
