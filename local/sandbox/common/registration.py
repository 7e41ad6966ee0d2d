"""What every CRM sandbox's `starter.py` shares: how a started demo sandbox becomes the `SandboxInfo` the local stack
(`local/sandboxes.py`) prints, exports to the functions and stores in Secrets Manager."""

from __future__ import annotations

import os
from collections.abc import Callable

from local.sandboxes import SandboxInfo, StackContext


def port_from_env(name: str) -> int:
    """A fixed port for `make run` from the environment; 0 (ephemeral) when unset."""
    return int(os.environ.get(name, "0"))


def oauth_callback(ctx: StackContext, crm: str) -> str:
    """The local gateway's OAuth callback for `crm`: the redirect URI the demo app registers."""
    return f"{ctx.gateway_url.rstrip('/')}/oauth/{crm}/callback"


def demo_sandbox_info(
    ctx: StackContext,
    crm: str,
    *,
    url: str,
    stop: Callable[[], None],
    banner: list[str],
    env: dict[str, str],
    sign_in: str,
    more_banner: tuple[str, ...] = (),
) -> SandboxInfo:
    """The stack's view of a started demo sandbox. `env` holds `<CRM>_CLIENT_SECRET`; `sign_in` says what the user
    does on the sandbox's consent page after opening the authorization URL."""
    # The functions read the app's client secret from <CRM>_CLIENT_SECRET_NAME (template Globals), which takes
    # precedence over <CRM>_CLIENT_SECRET: store it there, as an operator would before the first connect.
    secrets = {f"leadbridge/{ctx.stage}/apps/{crm}": env[f"{crm.upper()}_CLIENT_SECRET"]}
    gateway = ctx.gateway_url.rstrip("/")
    banner = [
        *banner,
        # The authorize call's answer sets the cookie that binds the sign-in to a browser: it must be made by the
        # browser that then signs in (made with curl, the sign-in ends in error=state_mismatch).
        f"  connect: in {gateway}/swagger Authorize with the admin token, call POST /connections/{crm}/authorize "
        f'with {{"return_url": "{gateway}/swagger"}},',
        f"    then open its authorization_url in the same browser, {sign_in}, and land on /swagger?status=connected",
        f"    (an app opens the connect page instead: window.open(\"{gateway}/connections/{crm}/authorize"
        '?return_url=<an allowed return URL>"), see docs/connections.md)',
        *more_banner,
    ]
    return SandboxInfo(name=crm, url=url, stop=stop, banner=banner, env=env, secrets=secrets)
