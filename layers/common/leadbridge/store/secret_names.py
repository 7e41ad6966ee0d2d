"""Where a connection's secrets live in Secrets Manager, and how long a deleted one can be recovered: naming only, no
AWS client, so the connect flows and the webhook intake can name a secret without loading the vault's adapters.
"""

from __future__ import annotations

import re

from leadbridge.errors import InvalidInput

SECRET_RECOVERY_DAYS = 7
_SECRET_PART = re.compile(r"^[A-Za-z0-9._@+=\-]{1,128}$")


def grant_secret_name(prefix: str, tenant_id: str, crm: str) -> str:
    """`leadbridge/<stage>/tenants/{tenant}/{crm}`; `prefix` is `Settings.secret_prefix`.

    Secret names cannot hold `:`, which tenant ids may (`leadbridge.api.auth`); it becomes `+`, which tenant ids
    cannot hold, so distinct tenants keep distinct secrets."""
    tenant_part = tenant_id.replace(":", "+")
    for label, value in (("tenant_id", tenant_part), ("crm", crm)):
        if not _SECRET_PART.fullmatch(value):
            raise InvalidInput(f"{label} cannot be part of a secret name", errors=[{"loc": [label], "type": "value"}])
    return f"{prefix.rstrip('/')}/tenants/{tenant_part}/{crm}"


def webhook_secret_name(grant_secret: str) -> str:
    return f"{grant_secret}/webhook"
