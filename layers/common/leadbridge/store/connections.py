"""Connection records (`T#{tenant}` / `CONN#{crm}`) and OAuth state items (`STATE#{state}` / `STATE`) in the table.

A connection item also carries GSI1 (`GSI1PK=DUE`, `GSI1SK={next_run_at}#{tenant}#{crm}`) while it is connected and
has a schedule, so the dispatcher finds due connections; removed when it needs re-authorization or is disconnected.

The public webhook intake finds a connection from the unguessable key in its URL through a pointer item
(`WHK#{connection_key}` / `CONN`, holding `tenant_id` and `crm`, nothing secret): a consistent read of the pointer,
then of the connection. Not an index query: index reads are eventually consistent, and a webhook sent right after
the connect must not be rejected as an unknown key. `save` writes the pointer before the connection, so a stored
connection always has one. Pointers are never deleted:
- after a disconnect the key still finds the connection, so the intake acknowledges late events as skipped
  (issue 8) instead of rejecting them like an unknown key;
- a reconnect of the same CRM account keeps the key (a URL an admin entered in the CRM keeps working);
  connecting another account issues a new key, and the old pointer then leads to a connection with another key,
  which the lookup treats as unknown. A pointer left by a save that failed is just as harmless.

The app-level webhook intake (HubSpot: one URL for every installed account) finds the connections of a CRM account
through account pointers (`ACCT#{crm}#{account_id}` / `T#{tenant}`, one per tenant that connected that account,
nothing secret): a consistent query of the account's partition, then a consistent read of each connection, kept only
if it still holds that account. `save` writes the pointer with the webhook pointer; account pointers are never
deleted either (a tenant that connected another account since is filtered out by that check; a disconnected one is
still found, so late events are acknowledged as skipped for it).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from leadbridge.errors import Conflict
from leadbridge.models.connection import Connection, ConnectionStatus, OAuthState
from leadbridge.store.table import (
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Condition,
    Item,
    Table,
    connection_due_index,
    connection_key,
    oauth_state_key,
    part,
    tenant_pk,
    webhook_pointer_key,
)

_INDEX_ATTRIBUTES = ("GSI1PK", "GSI1SK")


class ConnectionStore:
    """Connection records and OAuth states of all tenants. Raises only `leadbridge.errors`."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # --- connections ---

    def get(self, tenant_id: str, crm: str) -> Connection | None:
        item = self._table.get(connection_key(tenant_id, crm), consistent=True)
        return _connection(item) if item else None

    def list(self, tenant_id: str) -> list[Connection]:
        items = self._table.query_all(tenant_pk(tenant_id), sk_prefix="CONN#", consistent=True)
        return [_connection(item) for item in items]

    def by_webhook_key(
        self, connection_key_value: str, *, owner: tuple[str, str] | None = None
    ) -> Connection | None:
        """The connection a webhook URL points at (for the webhook intake), or None for an unknown or replaced key
        (replaced when another CRM account was connected).
        `owner`: the key's `webhook_key_owner`, when the caller remembers it (it never changes), saves its read."""
        owner = owner or self.webhook_key_owner(connection_key_value)
        if owner is None:
            return None
        connection = self.get(*owner)
        if connection is None or connection.connection_key != connection_key_value:
            return None  # the save that wrote the pointer failed, or a reconnect replaced the key
        return connection

    def by_account(self, crm: str, account_id: str) -> builtins.list[Connection]:
        """Every connection of `crm` (any status) whose CRM account is `account_id`, oldest tenant pointer first: the
        app-level webhook intake routes an event to each (a portal connected by two tenants reaches both)."""
        if not account_id or "#" in account_id:
            return []  # no pointer can exist for it (`_save_account_pointer`)
        found: builtins.list[Connection] = []
        for pointer in self._table.query_all(_account_pk(crm, account_id), consistent=True):
            connection = self.get(str(pointer["tenant_id"]), crm)
            if connection is not None and connection.account_id == account_id:
                found.append(connection)
        return found

    def webhook_key_owner(self, connection_key_value: str) -> tuple[str, str] | None:
        """(tenant, crm) of the connection a webhook key was issued to, from its pointer, or None. A key never changes
        owner (`_save_webhook_pointer`), so the answer may be remembered."""
        pointer = self._table.get(webhook_pointer_key(connection_key_value), consistent=True)
        return (str(pointer["tenant_id"]), str(pointer["crm"])) if pointer else None

    def save(self, connection: Connection, *, only_if_account: str | None = None) -> None:
        """Write the whole record, and the pointer from its connection key (see the module docstring). With
        `only_if_account`, refuse (Conflict) if the stored record holds credentials of another CRM account, so that
        two concurrent connects cannot both win."""
        self._save_webhook_pointer(connection)
        self._save_account_pointer(connection)
        condition = None
        if only_if_account is not None:
            condition = Condition(
                "attribute_not_exists(PK) OR account_id = :account OR #status = :disconnected",
                names={"#status": "status"},
                values={":account": only_if_account, ":disconnected": ConnectionStatus.DISCONNECTED.value},
            )
        self._table.put(
            _item(connection),
            condition=condition,
            on_conflict=Conflict,
            conflict_message="Another CRM account is already connected for this tenant.",
        )

    def _save_webhook_pointer(self, connection: Connection) -> None:
        """Idempotent, so every save writes it: saves are rare (connect, webhook repair, disconnect), and the store
        cannot know whether the key is new without a read. Written on its own before the connection rather than in
        a transaction with it: a left-over pointer is harmless (the lookup checks the key), while a transaction on
        the connection item makes the frequent plain updates of that item fail (TransactionConflict) meanwhile.
        The condition keeps a key from ever changing owner."""
        self._table.put(
            {
                **webhook_pointer_key(connection.connection_key),
                "tenant_id": connection.tenant_id,
                "crm": connection.crm,
            },
            condition=Condition(
                "attribute_not_exists(PK) OR (#tenant = :tenant AND #crm = :crm)",
                names={"#tenant": "tenant_id", "#crm": "crm"},
                values={":tenant": connection.tenant_id, ":crm": connection.crm},
            ),
            conflict_message="The connection key belongs to another connection.",
        )

    def _save_account_pointer(self, connection: Connection) -> None:
        """Idempotent like the webhook pointer. An account id no key can hold (empty, or with `#`) gets none: no CRM
        leadbridge supports issues such ids, and `by_account` answers no connection for them."""
        if not connection.account_id or "#" in connection.account_id:
            return
        self._table.put(
            {
                PK: _account_pk(connection.crm, connection.account_id),
                SK: tenant_pk(connection.tenant_id),
                "tenant_id": connection.tenant_id,
                "crm": connection.crm,
            }
        )

    def transition(
        self,
        tenant_id: str,
        crm: str,
        *,
        expected: ConnectionStatus,
        status: ConnectionStatus,
        set_values: dict[str, Any] | None = None,
    ) -> Connection | None:
        """Set `status` (and more) only if the record is in `expected`; None when it was not (someone else won)."""
        values: dict[str, Any] = {"status": status.value, **(set_values or {})}
        if "connection_key" in values:
            raise ValueError("a new connection key needs its webhook pointer: use save()")
        remove: list[str] = []
        if status is not ConnectionStatus.CONNECTED:
            remove += ["GSI1PK", "GSI1SK"]  # the dispatcher must not schedule a connection that cannot work
        try:
            item = self._table.update(
                connection_key(tenant_id, crm),
                set_values=values,
                remove=remove,
                condition=Condition(
                    "#status = :expected", names={"#status": "status"}, values={":expected": expected.value}
                ),
            )
        except Conflict:
            return None
        return _connection(item)

    def set_next_run(self, tenant_id: str, crm: str, next_run_at: datetime | None) -> None:
        """Schedule (or unschedule with None) the next sync run; the settings issue calls this."""
        key = connection_key(tenant_id, crm)
        if next_run_at is None:
            self._table.update(key, set_values={"next_run_at": None}, remove=["GSI1PK", "GSI1SK"])
            return
        self._table.update(
            key,
            set_values={"next_run_at": next_run_at, **connection_due_index(next_run_at, tenant_id, crm)},
            condition=Condition(
                "#status = :connected",
                names={"#status": "status"},
                values={":connected": ConnectionStatus.CONNECTED.value},
            ),
            conflict_message="Only a connected CRM can be scheduled.",
        )

    def record_outcome(self, tenant_id: str, crm: str, *, at: datetime, error: str | None = None) -> None:
        """Health after a CRM call: a success clears the last error; a failure keeps the last success time."""
        if error is None:
            values: dict[str, Any] = {"last_success_at": at, "last_error": None, "last_error_at": None}
        else:
            values = {"last_error": error[:1000], "last_error_at": at}
        key = connection_key(tenant_id, crm)
        self._table.update(key, set_values=values, condition=Condition("attribute_exists(PK)"))

    # --- OAuth states ---

    def save_state(self, state: OAuthState) -> None:
        item: Item = {
            **oauth_state_key(state.state),
            **state.model_dump(exclude={"expires_at"}, exclude_none=True),
            "state_expires_at": state.expires_at,
            # TTL removes abandoned states (lazily, within ~48 h); expiry is enforced on read, not by TTL.
            TTL_ATTRIBUTE: int(state.expires_at.timestamp()),
        }
        self._table.put(item, condition=ITEM_NOT_EXISTS)

    def get_state(self, state: str) -> OAuthState | None:
        """The state without using it up, or None."""
        item = self._table.get(oauth_state_key(state), consistent=True)
        if item is None:
            return None
        item["expires_at"] = item.pop("state_expires_at")
        return OAuthState.model_validate(item)

    def take_state(self, state: str) -> OAuthState | None:
        """Delete and return the state, or None if it does not exist (forged, used or cleaned up): single use."""
        try:
            old = self._table.delete(oauth_state_key(state), condition=Condition("attribute_exists(PK)"))
        except Conflict:
            return None
        if old is None:
            return None
        old["expires_at"] = old.pop("state_expires_at")
        return OAuthState.model_validate(old)


def _account_pk(crm: str, account_id: str) -> str:
    return f"ACCT#{part(crm, 'crm')}#{part(account_id, 'account_id')}"


def _item(connection: Connection) -> Item:
    item: Item = {
        **connection_key(connection.tenant_id, connection.crm),
        **connection.model_dump(mode="python"),
        "status": connection.status.value,
        "webhook_status": connection.webhook_status.value,
    }
    if connection.status is ConnectionStatus.CONNECTED and connection.next_run_at is not None:
        item.update(connection_due_index(connection.next_run_at, connection.tenant_id, connection.crm))
    return item


def _connection(item: Item) -> Connection:
    return Connection.model_validate(
        {k: v for k, v in item.items() if k not in (PK, SK, *_INDEX_ATTRIBUTES) and v is not None}
    )
