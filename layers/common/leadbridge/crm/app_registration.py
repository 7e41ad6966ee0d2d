"""A CRM app registration's environment settings, read the same way for every CRM: `{PREFIX}_CLIENT_ID`, the client
secret (`{PREFIX}_CLIENT_SECRET_NAME`: a Secrets Manager secret read only when a token call needs it, through
Powertools parameters with a 5-minute cache; else `{PREFIX}_CLIENT_SECRET`, for local/dev) and the HTTP timeouts
(`{PREFIX}_CONNECT_TIMEOUT` / `{PREFIX}_READ_TIMEOUT`, seconds, default 5 / 30)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from leadbridge.crm.http import Timeouts


def client_secret_from_env(env: Mapping[str, str], prefix: str) -> str | Callable[[], str]:
    secret_name = env.get(f"{prefix}_CLIENT_SECRET_NAME")
    if secret_name:
        return lambda: secret_from_secrets_manager(secret_name)
    return env.get(f"{prefix}_CLIENT_SECRET", "")


def timeouts_from_env(env: Mapping[str, str], prefix: str) -> Timeouts:
    return Timeouts(
        connect=float(env.get(f"{prefix}_CONNECT_TIMEOUT", "5")),
        read=float(env.get(f"{prefix}_READ_TIMEOUT", "30")),
    )


def secret_from_secrets_manager(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(name, max_age=300)
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    # Accept a bare secret or a JSON object {"client_secret": "..."} (how the console stores key/value secrets).
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return text
        if isinstance(document, dict) and document.get("client_secret"):
            return str(document["client_secret"])
    return text
