"""The token vault: CRM grants in Secrets Manager, refreshed ahead of expiry, exactly once across Lambdas.

Layout: one secret per connection, `leadbridge/<stage>/tenants/{tenant}/{crm}` (the `Grant` as JSON, KMS-encrypted
with the stack's key), and a sibling `.../{crm}/webhook` with the webhook signing secret (the webhook intake reads
that one and never sees a token).

Refresh protocol (`TokenVault.get_access_token`):
1. In process, one lock per connection: concurrent callers wait for the one refresh and reuse its result.
2. Across processes, a DynamoDB lease item (`T#{tenant}#{crm}` / `LEASE#token`) taken with a conditional put
   (free, or expired). The holder re-reads the secret first and skips the refresh when another worker already did
   it; the others poll the secret until the token changes (or the lease expires and they may take it).
3. `invalid_grant` (NeedsReauth) calls `on_needs_reauth` (marks the connection, logs, publishes the event) and is
   raised; transient failures are retried a few times and raised as `CrmUnavailable`, leaving the status alone.

Tokens are never logged and never leave this module except as the return value of `get_access_token`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leadbridge import aws_clients
from leadbridge.crm.base import OAuthFlow, TokenSource
from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    CrmError,
    CrmUnavailable,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import Grant
from leadbridge.observability import logger as log
from leadbridge.store.ports import LeaseStore, SecretStore
from leadbridge.store.secret_names import SECRET_RECOVERY_DAYS
from leadbridge.store.table import TTL_ATTRIBUTE, Condition, Table, tenant_crm_pk

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient



# --- adapters (of `store.ports.SecretStore` and `store.ports.LeaseStore`) ---------------------------------------------


class SecretsManagerStore:
    """`SecretStore` over Secrets Manager. Plain get/put (no staged rotation: see serverless-style.md B3)."""

    def __init__(self, *, kms_key_id: str = "", client: SecretsManagerClient | None = None) -> None:
        self._kms_key_id = kms_key_id
        self._client = client or aws_clients.client("secretsmanager")

    def get_json(self, name: str) -> dict[str, Any]:
        try:
            raw = self._client.get_secret_value(SecretId=name)["SecretString"]
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                raise ConnectionMissing("No stored credentials for this connection") from exc
            raise _store_error(exc, "read") from exc
        except BotoCoreError as exc:
            raise _store_error(exc, "read") from exc
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ConnectionMissing("The stored credentials are unreadable")
        return value

    def put_json(self, name: str, value: dict[str, Any], *, restore: bool = False) -> None:
        text = json.dumps(value, separators=(",", ":"))
        try:
            if restore:
                self._restore(name)
            try:
                self._client.put_secret_value(SecretId=name, SecretString=text)
                return
            except ClientError as exc:
                code = _code(exc)
                if code == "ResourceNotFoundException":
                    self._create(name, text)
                    return
                raise
        except ClientError as exc:
            raise _store_error(exc, "write") from exc
        except BotoCoreError as exc:
            raise _store_error(exc, "write") from exc

    def _restore(self, name: str) -> None:
        try:
            self._client.restore_secret(SecretId=name)  # a no-op for a secret that is not scheduled for deletion
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def _create(self, name: str, text: str) -> None:
        extra: dict[str, Any] = {"KmsKeyId": self._kms_key_id} if self._kms_key_id else {}
        try:
            self._client.create_secret(
                Name=name,
                SecretString=text,
                Description="leadbridge CRM credentials (managed by leadbridge; do not edit)",
                Tags=[{"Key": "app", "Value": "leadbridge"}],
                **extra,
            )
        except ClientError as exc:
            if _code(exc) != "ResourceExistsException":
                raise
            self._client.put_secret_value(SecretId=name, SecretString=text)  # created concurrently

    def delete(self, name: str, *, recovery_days: int) -> None:
        try:
            self._client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return  # already gone or already scheduled for deletion
            raise _store_error(exc, "delete") from exc
        except BotoCoreError as exc:
            raise _store_error(exc, "delete") from exc


class DynamoDBLeaseStore:
    """`LeaseStore` on the single table: item `T#{tenant}#{crm}` / `LEASE#token` (the key is the partition)."""

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def acquire(self, key: str, owner: str, seconds: float) -> bool:
        now = self._clock()
        try:
            self._table.put(
                {
                    "PK": key,
                    "SK": "LEASE#token",
                    "owner": owner,
                    "lease_until": round(now + seconds, 3),
                    # TTL only cleans up leases of crashed holders; `lease_until` decides who holds the lease.
                    TTL_ATTRIBUTE: int(now + seconds) + 3600,
                },
                condition=Condition("attribute_not_exists(PK) OR lease_until < :now", values={":now": round(now, 3)}),
            )
        except Conflict:
            return False
        return True

    def release(self, key: str, owner: str) -> None:
        try:
            self._table.delete(
                {"PK": key, "SK": "LEASE#token"},
                condition=Condition("#o = :owner", names={"#o": "owner"}, values={":owner": owner}),
            )
        except Conflict:
            return  # our lease ran out and another worker holds it now: theirs to release
        except StoreUnavailable:
            log.warning("could not release the token refresh lease; it expires by itself", extra={"lease": key})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _store_error(exc: Exception, action: str) -> StoreUnavailable:
    code = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return StoreUnavailable(f"Credential store {action} failed ({code})", details={"aws_error": code})


# --- the vault -------------------------------------------------------------------------------------------------------

NeedsReauthHandler = Callable[[Connection, NeedsReauth], None]


class TokenVault:
    """Grants of all connections of one process. Share one instance per process (it holds the locks and cache)."""

    def __init__(
        self,
        secrets: SecretStore,
        leases: LeaseStore,
        oauth_for: Callable[[str], OAuthFlow],
        *,
        on_needs_reauth: NeedsReauthHandler | None = None,
        refresh_margin: float = 300.0,
        lease_seconds: float = 15.0,
        poll_interval: float = 0.1,
        refresh_attempts: int = 3,
        retry_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._secrets = secrets
        self._leases = leases
        self._oauth_for = oauth_for
        self.on_needs_reauth = on_needs_reauth
        self.refresh_margin = refresh_margin
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.refresh_attempts = max(1, refresh_attempts)
        self.retry_delay = retry_delay
        self._clock = clock
        self._sleep = sleep
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, Grant] = {}

    # --- grants (connect / disconnect) ---

    def store_grant(self, secret_name: str, grant: Grant, *, new_connection: bool = False) -> None:
        """`new_connection`: from a (re)connect, which may follow a disconnect that scheduled the secret's deletion."""
        self._secrets.put_json(secret_name, grant.model_dump(mode="json"), restore=new_connection)
        with self._guard:
            self._cache[secret_name] = grant

    def read_grant(self, secret_name: str) -> Grant:
        grant = Grant.model_validate(self._secrets.get_json(secret_name))
        with self._guard:
            self._cache[secret_name] = grant
        return grant

    def delete_secret(self, secret_name: str, *, recovery_days: int = SECRET_RECOVERY_DAYS) -> None:
        with self._guard:
            self._cache.pop(secret_name, None)
        self._secrets.delete(secret_name, recovery_days=recovery_days)

    def store_webhook_secret(self, secret_name: str, secret: str) -> None:
        self._secrets.put_json(secret_name, {"webhook_secret": secret}, restore=True)

    def webhook_secret(self, secret_name: str) -> str:
        return str(self._secrets.get_json(secret_name)["webhook_secret"])

    def forget(self, secret_name: str) -> None:
        """Drop the in-memory copy (e.g. after the connection was re-authorized elsewhere)."""
        with self._guard:
            self._cache.pop(secret_name, None)

    # --- tokens ---

    def tokens(self, connection: Connection) -> TokenSource:
        """A `TokenSource` for a connector working on `connection`."""
        return ConnectionTokens(self, connection)

    def get_access_token(self, connection: Connection) -> str:
        self._check_usable(connection)
        grant = self._cached(connection.secret_name) or self.read_grant(connection.secret_name)
        if self._fresh(grant, rejected=None):
            return grant.access_token
        return self._refresh(connection, rejected=None)

    def refresh_after_unauthorized(self, connection: Connection, rejected_token: str) -> str:
        """The CRM answered 401 to `rejected_token`: refresh unless the stored token is already another one."""
        self._check_usable(connection)
        return self._refresh(connection, rejected=rejected_token)

    # --- internals ---

    def _check_usable(self, connection: Connection) -> None:
        if connection.status is ConnectionStatus.NEEDS_REAUTH:
            raise NeedsReauth(f"The {connection.crm} connection needs to be authorized again by an admin")
        if connection.status is ConnectionStatus.DISCONNECTED:
            raise ConnectionMissing(f"No {connection.crm} account is connected")

    def _cached(self, secret_name: str) -> Grant | None:
        with self._guard:
            return self._cache.get(secret_name)

    def _lock_for(self, secret_name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(secret_name, threading.Lock())

    def _fresh(self, grant: Grant, *, rejected: str | None) -> bool:
        if rejected is not None and grant.access_token == rejected:
            return False
        if grant.expires_at is None:
            return True  # the CRM gives no lifetime (Salesforce): valid until it answers 401
        return grant.expires_at - self._clock() > self.refresh_margin

    def _refresh(self, connection: Connection, *, rejected: str | None) -> str:
        name = connection.secret_name
        with self._lock_for(name):
            # Whoever held the lock before us may have refreshed already.
            cached = self._cached(name)
            if cached is not None and self._fresh(cached, rejected=rejected):
                return cached.access_token
            lease_key = tenant_crm_pk(connection.tenant_id, connection.crm)
            give_up_at = self._clock() + 2 * self.lease_seconds
            while True:
                owner = uuid.uuid4().hex
                if self._leases.acquire(lease_key, owner, self.lease_seconds):
                    try:
                        return self._refresh_holding_lease(connection, rejected=rejected)
                    finally:
                        self._leases.release(lease_key, owner)
                # Another Lambda is refreshing: wait for its result instead of refreshing again.
                self._sleep(self.poll_interval)
                grant = self.read_grant(name)
                if self._fresh(grant, rejected=rejected):
                    return grant.access_token
                if self._clock() > give_up_at:
                    raise CrmUnavailable("Timed out waiting for another process to refresh the CRM token")

    def _refresh_holding_lease(self, connection: Connection, *, rejected: str | None) -> str:
        grant = self.read_grant(connection.secret_name)
        if self._fresh(grant, rejected=rejected):
            return grant.access_token  # refreshed by another worker between our check and the lease
        oauth = self._oauth_for(connection.crm)
        last: CrmError | None = None
        for attempt in range(self.refresh_attempts):
            if attempt:
                self._sleep(self.retry_delay * attempt)
            try:
                refreshed = oauth.refresh(grant)
            except NeedsReauth as exc:
                self.forget(connection.secret_name)
                if self.on_needs_reauth is not None:
                    self.on_needs_reauth(connection, exc)
                raise
            except (CrmUnavailable, RateLimited) as exc:
                last = exc
                log.warning(
                    "token refresh failed, retrying",
                    extra={"tenant_id": connection.tenant_id, "crm": connection.crm, "error_code": exc.code},
                )
                continue
            self.store_grant(connection.secret_name, refreshed)
            log.info("token refreshed", extra={"tenant_id": connection.tenant_id, "crm": connection.crm})
            return refreshed.access_token
        assert last is not None
        raise CrmUnavailable(f"Could not refresh the {connection.crm} token: {last.message}") from last


class ConnectionTokens:
    """`TokenSource` bound to one connection."""

    def __init__(self, vault: TokenVault, connection: Connection) -> None:
        self._vault = vault
        self._connection = connection

    def access_token(self) -> str:
        return self._vault.get_access_token(self._connection)

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        return self._vault.refresh_after_unauthorized(self._connection, rejected_token)
