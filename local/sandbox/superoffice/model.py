"""In-memory state of the SuperOffice sandbox: OAuth apps, customers (tenants), users, records, tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EMPTY_DATE = "0001-01-01T00:00:00"

KINDS = ("contact", "person", "sale", "appointment")


class ApiError(Exception):
    """An error answer of the REST API, rendered as the documented error JSON."""

    def __init__(
        self, status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "Error": True,
            "ErrorType": self.error_type,
            "ErrorMessage": self.message,
            "ErrorSource": "SuperOffice.Services.Implementation",
        }


def bad_request(message: str) -> ApiError:
    return ApiError(400, "ArgumentException", message)


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "SoNotFoundException", f"{what} id {ident} not found")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Sandbox app"


@dataclass
class User:
    """A SuperID user with an associate (licensed CRM user) in one customer."""

    ctx: str
    email: str
    associate_id: int
    person_id: int
    full_name: str
    initials: str
    is_admin: bool = False


@dataclass
class UdefField:
    entity: str  # contact | person | sale | appointment
    prog_id: str
    label: str
    field_type: str  # Number ShortText LongText Date UnlimitedDate Checkbox List Decimal
    text_length: int
    udef_identity: int
    column_id: int
    list_table_id: int = 0
    list_items: dict[int, str] = field(default_factory=dict)
    is_mandatory: bool = False
    is_read_only: bool = False

    @property
    def default_prog_id(self) -> str:
        return f"SuperOffice:{self.udef_identity}"


@dataclass
class Selection:
    selection_id: int
    name: str
    target: str  # contact | person
    member_ids: list[int] = field(default_factory=list)


@dataclass
class Customer:
    ctx: str
    company_name: str
    api_host: int
    serial: str
    state: str = "Running"
    users: dict[int, User] = field(default_factory=dict)  # by associate id
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    # contact id -> ids of its persons: a Contact lists its persons, which must not mean a walk over every person
    persons_by_contact: dict[int, set[int]] = field(default_factory=dict)
    udefs: dict[str, list[UdefField]] = field(default_factory=lambda: {k: [] for k in KINDS})
    selections: dict[int, Selection] = field(default_factory=dict)
    favourites: dict[int, dict[str, list[int]]] = field(default_factory=dict)  # associate -> kind -> ids
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, itertools.count[int]] = field(default_factory=dict)

    def next_id(self, key: str, start: int = 1) -> int:
        counter = self.ids.get(key)
        if counter is None:
            counter = itertools.count(start)
            self.ids[key] = counter
        return next(counter)

    def udef(self, kind: str, key: str) -> UdefField | None:
        """A udef field by ProgId, default `SuperOffice:N` id, or label (case-insensitive)."""
        lowered = key.lower()
        for f in self.udefs[kind]:
            if lowered in (f.prog_id.lower(), f.default_prog_id.lower()):
                return f
        for f in self.udefs[kind]:
            if f.label.lower() == lowered:
                return f
        return None


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    ctx: str
    associate_id: int
    code_challenge: str | None
    code_challenge_method: str
    nonce: str | None
    expires_at: float
    used: bool = False
    issued_access: list[str] = field(default_factory=list)
    issued_refresh: list[str] = field(default_factory=list)


@dataclass
class RefreshToken:
    token: str
    client_id: str
    ctx: str
    associate_id: int
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    ctx: str
    associate_id: int
    expires_at: float
    refresh_token: str | None = None
    revoked: bool = False
