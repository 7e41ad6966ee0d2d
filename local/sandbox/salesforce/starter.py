"""Registers the Salesforce demo sandbox with the local stack (`local/sandboxes.py` finds `start` here)."""

from __future__ import annotations

import os

from local.sandbox.salesforce.demo import start_demo
from local.sandboxes import SandboxInfo, StackContext


def start(ctx: StackContext) -> SandboxInfo:
    """Start the demo org; the local gateway's OAuth callback is the connected app's callback URL.

    Fixed ports: SALESFORCE_SANDBOX_LOGIN_PORT, SALESFORCE_SANDBOX_INSTANCE_PORT; default ephemeral.
    """
    gateway = ctx.gateway_url.rstrip("/")
    sandbox, banner, env = start_demo(
        redirect_uris=[f"{gateway}/oauth/salesforce/callback"],
        login_port=int(os.environ.get("SALESFORCE_SANDBOX_LOGIN_PORT", "0")),
        instance_port=int(os.environ.get("SALESFORCE_SANDBOX_INSTANCE_PORT", "0")),
    )
    # SALESFORCE_CLIENT_SECRET_NAME (template Globals) wins over SALESFORCE_CLIENT_SECRET: store the secret there.
    secrets = {f"leadbridge/{ctx.stage}/apps/salesforce": env["SALESFORCE_CLIENT_SECRET"]}
    banner = [
        *banner,
        "  connect (demo admin token): curl -s -X POST -H \"Authorization: Bearer $LB_ADMIN_TOKEN\" "
        f"-H 'content-type: application/json' -d '{{\"return_url\": \"{gateway}/swagger\"}}' "
        f"{gateway}/connections/salesforce/authorize",
        "    then open authorization_url in a browser, pick the admin, Allow, and land on /swagger?status=connected",
        "  Outbound Messages: after connecting, add one per object with "
        f"curl -X POST {sandbox.login_base}/__admin/orgs/<org_id>/outbound-messages "
        f"-d '{{\"sobject\":\"Account\",\"endpoint_url\":\"{gateway}/webhooks/salesforce/<connection_key>\"}}'",
    ]
    return SandboxInfo(name="salesforce", url=sandbox.login_base, stop=sandbox.stop, banner=banner, env=env,
                       secrets=secrets)
