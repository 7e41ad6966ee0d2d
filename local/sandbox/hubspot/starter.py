"""Registers the HubSpot demo sandbox with the local stack (`local/sandboxes.py` finds `start` here)."""

from __future__ import annotations

from local.sandbox.common.registration import demo_sandbox_info, oauth_callback, port_from_env
from local.sandbox.hubspot.demo import start_demo
from local.sandboxes import SandboxInfo, StackContext


def start(ctx: StackContext) -> SandboxInfo:
    """Start the demo portal; the local gateway's OAuth callback is the app's redirect URL, its app-level webhook
    endpoint the app's webhook target. Fixed ports: HUBSPOT_SANDBOX_APP_PORT, HUBSPOT_SANDBOX_API_PORT."""
    sandbox, banner, env = start_demo(
        redirect_uris=[oauth_callback(ctx, "hubspot")],
        webhook_url=f"{ctx.gateway_url.rstrip('/')}/webhooks/hubspot",
        app_port=port_from_env("HUBSPOT_SANDBOX_APP_PORT"),
        api_port=port_from_env("HUBSPOT_SANDBOX_API_PORT"),
    )
    return demo_sandbox_info(ctx, "hubspot", url=sandbox.app_base, stop=sandbox.stop, banner=banner, env=env,
                             sign_in="pick the admin, Connect app")
