"""Registers the SuperOffice demo sandbox with the local stack (`local/sandboxes.py` finds `start` here)."""

from __future__ import annotations

import os

from local.sandbox.superoffice.demo import start_demo
from local.sandboxes import SandboxInfo, StackContext


def start(ctx: StackContext) -> SandboxInfo:
    """Start the demo sandbox; the OAuth callback of the local gateway is a registered redirect URI.

    Fixed ports: SUPEROFFICE_SANDBOX_LOGIN_PORT and SUPEROFFICE_SANDBOX_API_PORTS (comma-separated, two or more);
    default ephemeral.
    """
    login_port = int(os.environ.get("SUPEROFFICE_SANDBOX_LOGIN_PORT", "0"))
    raw_ports = os.environ.get("SUPEROFFICE_SANDBOX_API_PORTS", "")
    api_ports = [int(p) for p in raw_ports.split(",") if p.strip()] or None
    callback = f"{ctx.gateway_url.rstrip('/')}/oauth/superoffice/callback"
    sandbox, banner, env = start_demo(login_port, api_ports, redirect_uris=[callback])
    # The functions read the app's client secret from SUPEROFFICE_CLIENT_SECRET_NAME (template Globals), which takes
    # precedence over SUPEROFFICE_CLIENT_SECRET: store it there, as an operator would before the first connect.
    secrets = {f"leadbridge/{ctx.stage}/apps/superoffice": env["SUPEROFFICE_CLIENT_SECRET"]}
    gateway = ctx.gateway_url.rstrip("/")
    banner = [
        *banner,
        "  connect (demo admin token): curl -s -X POST -H \"Authorization: Bearer $LB_ADMIN_TOKEN\" "
        f"-H 'content-type: application/json' -d '{{\"return_url\": \"{gateway}/swagger\"}}' "
        f"{gateway}/connections/superoffice/authorize",
        "    then open authorization_url in a browser, sign in, and land on /swagger?status=connected",
    ]
    return SandboxInfo(
        name="superoffice", url=sandbox.login_base, stop=sandbox.stop, banner=banner, env=env, secrets=secrets
    )
