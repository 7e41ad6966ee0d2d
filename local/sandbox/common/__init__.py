"""Plumbing shared by the CRM sandboxes."""

from local.sandbox.common.calls import CallCounter
from local.sandbox.common.faults import Fault, FaultInjector
from local.sandbox.common.keys import SigningKey
from local.sandbox.common.server import LoopbackServer

__all__ = ["CallCounter", "Fault", "FaultInjector", "LoopbackServer", "SigningKey"]
