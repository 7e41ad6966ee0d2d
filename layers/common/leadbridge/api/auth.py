"""Who is calling: tenant, user and roles from the JWT claims the HTTP API's JWT authorizer has already verified.

Claim names come from settings (TENANT_CLAIM, ROLE_CLAIM, ADMIN_ROLE). The role claim may be a JSON list, a string,
or a space/comma separated string; API Gateway flattens list claims to a string such as `"[admin user]"`, which is
handled too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from leadbridge.config import Settings, settings
from leadbridge.errors import Forbidden, Unauthenticated

# Tenant ids become key prefixes in the table (`T#{tenant}`); a `#` would let one tenant address another's items.
_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$")


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant_id: str
    user_id: str
    email: str | None = None
    roles: frozenset[str] = frozenset()
    is_admin: bool = False


def parse_roles(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return frozenset(p.strip().strip("\"'") for p in re.split(r"[\s,]+", text) if p.strip().strip("\"'"))


def principal_from_claims(claims: Mapping[str, Any], config: Settings | None = None) -> Principal:
    """Raises Unauthenticated without claims or subject, Forbidden without a (valid) tenant claim."""
    config = config or settings()
    if not claims:
        raise Unauthenticated("Missing or invalid bearer token.")
    user_id = str(claims.get("sub") or "").strip()
    if not user_id:
        raise Unauthenticated("The token has no subject (sub) claim.")
    tenant = str(claims.get(config.tenant_claim) or "").strip()
    if not tenant:
        raise Forbidden(
            f"The token carries no tenant claim ({config.tenant_claim}); this user belongs to no tenant.",
            details={"claim": config.tenant_claim},
        )
    if not _TENANT_ID.fullmatch(tenant):
        raise Forbidden("The token's tenant claim is not a valid tenant id.", details={"claim": config.tenant_claim})
    roles = parse_roles(claims.get(config.role_claim))
    email = claims.get("email")
    return Principal(
        tenant_id=tenant,
        user_id=user_id,
        email=str(email) if email else None,
        roles=roles,
        is_admin=config.admin_role in roles,
    )


def require_admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This action needs the admin role.", details={"required_role": settings().admin_role})
    return principal
