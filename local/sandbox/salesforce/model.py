"""State types of the Salesforce sandbox, ids and the date formats of the REST API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from local.sandbox.salesforce.schema import ObjectDef

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id18(id15: str) -> str:
    """The 18-character, case-insensitive-safe form of a 15-character Salesforce id (documented checksum)."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _CHECKSUM_ALPHABET[bits]
    return id15 + suffix


def make_id(prefix: str, pod: str, number: int) -> str:
    digits = ""
    n = number
    while True:
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
        if n == 0:
            break
    return id18((prefix + pod + digits.rjust(15 - len(prefix) - len(pod), "0"))[:15])


class ApiError(Exception):
    """A REST error answered as Salesforce does: a JSON array of `{message, errorCode, fields?}`."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def item(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = self.fields
        return body

    def body(self) -> list[dict[str, Any]]:
        return [self.item()]


class RecordErrors(ApiError):
    """Several problems with one record (e.g. two required fields and a too-long text)."""

    def __init__(self, errors: list[ApiError]) -> None:
        super().__init__(400, errors[0].code, errors[0].message, errors[0].fields)
        self.errors = errors

    def body(self) -> list[dict[str, Any]]:
        return [e.item() for e in self.errors]


def sf_datetime(value: datetime) -> str:
    """`2024-05-01T10:00:00.000+0000`, the REST API's datetime form."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def render_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Connected app"


@dataclass
class OutboundMessage:
    """An Outbound Message action (Setup → Process Automation), fired by a rule on create and every edit."""

    id: str
    sobject: str
    endpoint_url: str
    fields: list[str]
    name: str = "leadbridge"
    active: bool = True


@dataclass
class Org:
    org_id: str
    name: str
    instance: str  # a pod-ish code used in ids
    objects: dict[str, ObjectDef]
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    outbound: dict[str, OutboundMessage] = field(default_factory=dict)
    api_usage: int = 0
    api_limit: int = 100_000
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    last_stamp: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))

    def next_id(self, prefix: str) -> str:
        return make_id(prefix, self.instance, next(self.counter))

    def stamp(self) -> datetime:
        """Now, strictly after the previous stamp (millisecond resolution, as SystemModstamp has)."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self.last_stamp:
            now = self.last_stamp + timedelta(milliseconds=1)
        self.last_stamp = now
        return now


@dataclass
class Transaction:
    """One all-or-none unit of writes (`SalesforceState.transaction`): the Outbound Message notifications its writes
    raised wait here until it commits, and a rollback drops them with the writes."""

    org_id: str
    notifications: list[Any] = field(default_factory=list)
    rolled_back: bool = False

    def rollback(self) -> None:
        self.rolled_back = True


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    org_id: str
    user_id: str
    code_challenge: str | None
    expires_at: float
    scope: str
    used: bool = False


@dataclass
class Session:
    token: str
    client_id: str
    org_id: str
    user_id: str
    expires_at: float
    refresh_token: str | None
    revoked: bool = False


@dataclass
class RefreshGrant:
    token: str
    client_id: str
    org_id: str
    user_id: str
    scope: str
    revoked: bool = False
