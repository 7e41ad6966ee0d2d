"""Registers the SuperOffice demo sandbox with the local stack (`local/sandboxes.py` finds `start` here)."""

from __future__ import annotations

import os

from local.sandbox.common.registration import demo_sandbox_info, oauth_callback, port_from_env
from local.sandbox.superoffice.demo import start_demo
from local.sandboxes import SandboxInfo, StackContext


def start(ctx: StackContext) -> SandboxInfo:
    """Start the demo sandbox; the OAuth callback of the local gateway is a registered redirect URI.

    Fixed ports: SUPEROFFICE_SANDBOX_LOGIN_PORT and SUPEROFFICE_SANDBOX_API_PORTS (comma-separated, two or more);
    default ephemeral.
    """
    raw_ports = os.environ.get("SUPEROFFICE_SANDBOX_API_PORTS", "")
    api_ports = [int(p) for p in raw_ports.split(",") if p.strip()] or None
    sandbox, banner, env = start_demo(port_from_env("SUPEROFFICE_SANDBOX_LOGIN_PORT"), api_ports,
                                      redirect_uris=[oauth_callback(ctx, "superoffice")])
    return demo_sandbox_info(ctx, "superoffice", url=sandbox.login_base, stop=sandbox.stop, banner=banner, env=env,
                             sign_in="sign in")
