"""Principal extraction from verified JWT claims, with claim names from settings."""

from __future__ import annotations

import pytest

from leadbridge.api.auth import parse_roles, principal_from_claims, require_admin
from leadbridge.config import load_settings
from leadbridge.errors import Forbidden, Unauthenticated

SETTINGS = load_settings({})


@pytest.mark.parametrize(
    ("claim", "roles"),
    [
        (["admin", "sales"], {"admin", "sales"}),
        ("admin", {"admin"}),
        ("admin sales", {"admin", "sales"}),
        ("admin,sales", {"admin", "sales"}),
        ("[admin sales]", {"admin", "sales"}),  # how API Gateway passes a list claim
        ('["admin", "sales"]', {"admin", "sales"}),
        ("", set()),
        (None, set()),
    ],
)
def test_role_claim_shapes(claim, roles):
    assert parse_roles(claim) == roles


def test_principal_from_claims():
    p = principal_from_claims(
        {"sub": "u1", "tenant_id": "acme", "email": "a@acme.test", "role": "[sales admin]"}, SETTINGS
    )
    assert (p.tenant_id, p.user_id, p.email, p.is_admin) == ("acme", "u1", "a@acme.test", True)
    assert p.roles == {"sales", "admin"}


def test_member_is_not_admin_and_require_admin_refuses():
    p = principal_from_claims({"sub": "u1", "tenant_id": "acme", "role": "sales"}, SETTINGS)
    assert not p.is_admin
    with pytest.raises(Forbidden):
        require_admin(p)


def test_claim_names_come_from_settings():
    custom = load_settings({"TENANT_CLAIM": "custom:org", "ROLE_CLAIM": "cognito:groups", "ADMIN_ROLE": "owners"})
    p = principal_from_claims(
        {"sub": "u1", "custom:org": "acme", "cognito:groups": "[owners]", "tenant_id": "x"}, custom
    )
    assert p.tenant_id == "acme" and p.is_admin
    with pytest.raises(Forbidden):
        principal_from_claims({"sub": "u1", "tenant_id": "acme"}, custom)


@pytest.mark.parametrize("claims", [{}, {"tenant_id": "acme"}, {"sub": "", "tenant_id": "acme"}])
def test_missing_claims_or_subject_is_unauthenticated(claims):
    with pytest.raises(Unauthenticated):
        principal_from_claims(claims, SETTINGS)


@pytest.mark.parametrize("tenant", [None, "", "   ", "acme#superoffice", "a b", "x" * 200])
def test_missing_or_unsafe_tenant_is_forbidden(tenant):
    claims = {"sub": "u1"} if tenant is None else {"sub": "u1", "tenant_id": tenant}
    with pytest.raises(Forbidden):
        principal_from_claims(claims, SETTINGS)
