"""Registers the Salesforce demo sandbox with the local stack (`local/sandboxes.py` finds `start` here)."""

from __future__ import annotations

from local.sandbox.common.registration import demo_sandbox_info, oauth_callback, port_from_env
from local.sandbox.salesforce.demo import start_demo
from local.sandboxes import SandboxInfo, StackContext


def start(ctx: StackContext) -> SandboxInfo:
    """Start the demo org; the local gateway's OAuth callback is the connected app's callback URL.

    Fixed ports: SALESFORCE_SANDBOX_LOGIN_PORT, SALESFORCE_SANDBOX_INSTANCE_PORT; default ephemeral.
    """
    sandbox, banner, env = start_demo(
        redirect_uris=[oauth_callback(ctx, "salesforce")],
        login_port=port_from_env("SALESFORCE_SANDBOX_LOGIN_PORT"),
        instance_port=port_from_env("SALESFORCE_SANDBOX_INSTANCE_PORT"),
    )
    gateway = ctx.gateway_url.rstrip("/")
    outbound_hint = (
        "  Outbound Messages: after connecting, add one per object with "
        f"curl -X POST {sandbox.login_base}/__admin/orgs/<org_id>/outbound-messages "
        f"-d '{{\"sobject\":\"Account\",\"endpoint_url\":\"{gateway}/webhooks/salesforce/<connection_key>\"}}'"
    )
    return demo_sandbox_info(ctx, "salesforce", url=sandbox.login_base, stop=sandbox.stop, banner=banner, env=env,
                             sign_in="pick the admin, Allow", more_banner=(outbound_hint,))
