"""Domain errors.

Adapters (DynamoDB, Secrets Manager, CRM clients) translate vendor errors into these in one place each;
`leadbridge.api.errors` maps them to HTTP responses in one place. Domain code raises and catches only these.
"""

from __future__ import annotations

from typing import Any


class LeadbridgeError(Exception):
    """Base of every domain error. `code` is a stable machine-readable identifier shown to API clients."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


# --- request / domain errors ---------------------------------------------------------------------------------------


class InvalidInput(LeadbridgeError):
    """Input that passed schema validation but breaks a domain rule. `errors` name each bad field."""

    code = "invalid_input"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details={"errors": errors or []})
        self.errors = errors or []


class RefusedBeforeWrite(InvalidInput):
    """What the CRM's metadata says the CRM would refuse (a required field left empty, a value outside a restricted
    picklist, a wrong type, an invalid e-mail address, an unknown object), found before the first CRM write: nothing
    was written. `errors` name each CRM field (HTTP 422)."""


class InvalidCursor(InvalidInput):
    """A pagination cursor that is malformed, tampered with, or was issued for another tenant or query (HTTP 400)."""

    code = "invalid_cursor"


class Unauthenticated(LeadbridgeError):
    code = "unauthenticated"


class Forbidden(LeadbridgeError):
    code = "forbidden"


class NotFound(LeadbridgeError):
    code = "not_found"


class Conflict(LeadbridgeError):
    """The request conflicts with the current state (e.g. another CRM account already connected)."""

    code = "conflict"


class PreconditionFailed(LeadbridgeError):
    """Optimistic concurrency: the caller's version (If-Match / ETag) is stale."""

    code = "precondition_failed"


class ConnectionMissing(LeadbridgeError):
    """No usable connection for the tenant and CRM."""

    code = "not_connected"


class StoreUnavailable(LeadbridgeError):
    """AWS store throttled or unreachable; safe to retry."""

    code = "store_unavailable"


# --- CRM errors (raised by connectors only) --------------------------------------------------------------------------


class CrmError(LeadbridgeError):
    code = "crm_error"


class NeedsReauth(CrmError):
    """The CRM refused our credentials and a refresh did not help (revoked consent, expired refresh token)."""

    code = "needs_reauth"


class CrmNotFound(CrmError):
    code = "crm_not_found"


class CrmConflict(CrmError):
    """The CRM reports a conflicting change (HTTP 409/412)."""

    code = "crm_conflict"


class RateLimited(CrmError):
    """The CRM throttled us and retries ran out. `retry_after` is seconds, when the CRM told us."""

    code = "crm_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class CrmUnavailable(CrmError):
    """5xx, timeouts, connection errors, tenant not running: transient, retry later."""

    code = "crm_unavailable"


class CrmRejected(CrmError):
    """The CRM refused a write for a reason the caller can fix. `fields` name the offending fields when known."""

    code = "crm_rejected"

    def __init__(self, reason: str, *, fields: list[str] | None = None, status: int | None = None) -> None:
        super().__init__(reason, details={"fields": fields or [], "crm_status": status})
        self.reason = reason
        self.fields = fields or []
        self.status = status


class CrmFieldUnknown(CrmRejected):
    """The CRM refused a write because it has no such field (deleted since its metadata was read: schema drift).
    `fields` name the fields it does not know, when it says which."""

    code = "crm_rejected"


class WebhookRejected(CrmError):
    """An incoming webhook failed verification (bad signature, unknown connection, malformed body)."""

    code = "webhook_rejected"


def code_and_message(exc: BaseException) -> tuple[str, str]:
    """What a run or the sync log records for any failure: a domain error's own code and message, else
    `internal_error` with the exception's type and text."""
    if isinstance(exc, LeadbridgeError):
        return exc.code, exc.message
    return "internal_error", f"{type(exc).__name__}: {exc}"
