"""The single-table adapter: key builders for every item of the one DynamoDB table, typed get/put/update/delete/
query/transaction helpers, opaque pagination cursors, and the one place AWS errors become domain errors.

Items are plain dicts of Python values. Writes accept str, int, float, bool, None, datetime (stored as ISO 8601
text), lists, dicts and non-empty sets; reads return numbers as int when integral, else float.

Keys (see docs/design): partition keys of tenant data always start with `T#{tenant}`. Key parts may not contain
`#`, so no value can address another tenant's items or another item type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.shared.dynamodb_deserializer import DYNAMODB_CONTEXT, TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from leadbridge import aws_clients
from leadbridge.concurrency import each
from leadbridge.errors import (
    Conflict,
    InvalidCursor,
    InvalidInput,
    LeadbridgeError,
    StoreUnavailable,
)
from leadbridge.models.time import as_utc

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]
Key = dict[str, str]

PK = "PK"
SK = "SK"
# Index name -> (partition key attribute, sort key attribute). Mirrors template.yaml.
INDEXES: dict[str | None, tuple[str, str]] = {
    None: (PK, SK),
    "GSI1": ("GSI1PK", "GSI1SK"),  # connections due for a scheduled run
    "GSI3": ("GSI3PK", "GSI3SK"),  # sync log by lead id
}
TTL_ATTRIBUTE = "expires_at"
BATCH_GET_MAX = 100  # BatchGetItem keys per call
CHUNK_BYTES = 300_000  # JSON held in one multi-entry item (DynamoDB's item limit is 400 KB, keys and TTL included)
_COUNT_DIGITS = 6  # a count in a cursor
BATCH_WRITE_MAX = 25  # BatchWriteItem requests per call
_BATCH_ATTEMPTS = 8
# Sorts after every character used in ids and ISO times: `SK <= prefix + HIGH` covers everything under a prefix.
HIGH = "\uffff"

# --- key builders ----------------------------------------------------------------------------------------------------


def part(value: object, name: str = "key part") -> str:
    """One component of a key: non-empty, without the `#` separator."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if not text or "#" in text:
        raise InvalidInput(
            f"{name} must be non-empty and must not contain '#'",
            errors=[{"loc": [name], "type": "invalid_key_part", "message": "empty or contains '#'"}],
        )
    return text


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamp (microseconds, `Z`), so that string order is time order. (`isoformat` writes what
    `strftime("%Y-%m-%dT%H:%M:%S.%fZ")` did for every year from 1000 on, a little faster: an inbound sync writes a few
    per record.)"""
    return as_utc(ts).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def tenant_pk(tenant: str) -> str:
    return f"T#{part(tenant, 'tenant')}"


def tenant_crm_pk(tenant: str, crm: str) -> str:
    return f"{tenant_pk(tenant)}#{part(crm, 'crm')}"


def connection_key(tenant: str, crm: str) -> Key:
    return {PK: tenant_pk(tenant), SK: f"CONN#{part(crm, 'crm')}"}


def connection_due_index(next_run_at: datetime, tenant: str, crm: str) -> Key:
    """GSI1 attributes of a connection with a schedule: the dispatcher queries `GSI1PK = DUE`, `GSI1SK <= now`."""
    return {"GSI1PK": "DUE", "GSI1SK": f"{iso(next_run_at)}#{part(tenant, 'tenant')}#{part(crm, 'crm')}"}


def webhook_pointer_key(connection_key_value: str) -> Key:
    """The item that leads from a webhook URL's connection key to its connection."""
    return {PK: f"WHK#{part(connection_key_value, 'connection_key')}", SK: "CONN"}


def settings_key(tenant: str, crm: str, version: int | None = None) -> Key:
    """`version=None` is the `current` pointer; versions are zero-padded so they sort numerically."""
    suffix = "current" if version is None else f"v{version:08d}"
    return {PK: tenant_pk(tenant), SK: f"SET#{part(crm, 'crm')}#{suffix}"}


def oauth_state_key(state: str) -> Key:
    return {PK: f"STATE#{part(state, 'state')}", SK: "STATE"}


def link_key(tenant: str, crm: str, obj: str, app_id: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"LINK#{part(obj, 'object')}#{part(app_id, 'app_id')}"}


def link_by_crm_id_key(tenant: str, crm: str, obj: str, crm_id: str) -> Key:
    """The copy of a record link kept under its CRM id: inbound sync reads it by key (batched, strongly consistent)
    instead of querying an index."""
    return {PK: tenant_crm_pk(tenant, crm), SK: f"CRMLINK#{part(obj, 'object')}#{part(crm_id, 'crm_id')}"}


def checkpoint_key(tenant: str, crm: str, obj: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"CKPT#{part(obj, 'object')}"}


def held_child_key(tenant: str, crm: str, parent_id: str, obj: str, crm_id: str) -> Key:
    """A person/deal/activity the inbound filter held back because its company is not in the app (by company)."""
    return {
        PK: tenant_crm_pk(tenant, crm),
        SK: f"HELD#{part(parent_id, 'parent_id')}#{part(obj, 'object')}#{part(crm_id, 'crm_id')}",
    }


def record_state_key(tenant: str, crm: str, obj: str, crm_id: str) -> Key:
    """What leadbridge last reported to the app about one CRM record (inbound sync)."""
    return {PK: tenant_crm_pk(tenant, crm), SK: f"REC#{part(obj, 'object')}#{part(crm_id, 'crm_id')}"}


def run_key(tenant: str, crm: str, started: datetime, run_id: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"RUN#{iso(started)}#{part(run_id, 'run_id')}"}


def log_key(tenant: str, time: datetime, entry_id: str) -> Key:
    return {PK: tenant_pk(tenant), SK: f"LOG#{iso(time)}#{part(entry_id, 'id')}"}


def lead_log_partition(tenant: str, app_id: str) -> str:
    """GSI3 partition holding the sync log of one lead."""
    return f"{tenant_pk(tenant)}#LEAD#{part(app_id, 'lead_id')}"


def log_lead_index(tenant: str, app_id: str, time: datetime, entry_id: str) -> Key:
    """GSI3 attributes of a sync log entry: the log of one lead."""
    return {"GSI3PK": lead_log_partition(tenant, app_id), "GSI3SK": f"LOG#{iso(time)}#{part(entry_id, 'id')}"}


def change_key(tenant: str, seq: int) -> Key:
    return {PK: tenant_pk(tenant), SK: f"CHG#{seq:020d}"}


def change_id_key(tenant: str, event_id: str) -> Key:
    """The change feed's pointer by event id (written once, with the change: the feed holds each id once). Its SK sorts
    after every `CHG#{seq}`, so feed reads never see it."""
    return {PK: tenant_pk(tenant), SK: f"CHGID#{part(event_id, 'event_id')}"}


def change_run_key(tenant: str, crm: str) -> Key:
    """The change feed's record of the last append a run holding the connection's lease made (its chunks and ids).
    Its SK sorts after every `CHG#{seq}`, so feed reads never see it."""
    return {PK: tenant_pk(tenant), SK: f"CHGRUN#{part(crm, 'crm')}"}


def webhook_event_key(tenant: str, crm: str, event_id: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"EVT#{part(event_id, 'event_id')}"}


def expires_at(days: float, now: datetime | None = None) -> int:
    """Epoch seconds for the table's TTL attribute."""
    return int(((now or datetime.now(UTC)) + timedelta(days=days)).timestamp())


# --- opaque cursors ---------------------------------------------------------------------------------------------------


def encode_cursor(last_key: Mapping[str, str], *, scope: str) -> str:
    """An opaque continuation token for `last_key`, bound to `scope` (tenant + query shape)."""
    payload = {"s": _scope_digest(scope), "k": dict(last_key)}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    token: str,
    *,
    scope: str,
    exact: Mapping[str, str],
    prefixed: Mapping[str, str],
    counts: tuple[str, ...] = (),
) -> Key:
    """The key inside `token`, after checking it was issued for `scope` and that its attributes are exactly
    `exact` (equal values, e.g. the tenant's partition) plus `prefixed` (values starting with the prefix), plus any
    of `counts` (optional, small non-negative integers: e.g. how many entries of a multi-entry item were returned).
    Anything else raises InvalidCursor (HTTP 400): a tampered or foreign cursor never reaches DynamoDB."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor("The cursor is malformed.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), dict):
        raise _bad_cursor("The cursor is malformed.")
    if payload.get("s") != _scope_digest(scope):
        raise _bad_cursor("The cursor belongs to another query or tenant; start again without a cursor.")
    key = payload["k"]
    required = set(exact) | set(prefixed)
    if not required <= set(key) <= required | set(counts) or not all(isinstance(v, str) for v in key.values()):
        raise _bad_cursor("The cursor is malformed.")
    if any(not (key[a].isdigit() and len(key[a]) <= _COUNT_DIGITS) for a in counts if a in key):
        raise _bad_cursor("The cursor is malformed.")
    if any(key[a] != v for a, v in exact.items()) or any(not key[a].startswith(p) for a, p in prefixed.items()):
        raise _bad_cursor("The cursor belongs to another query or tenant; start again without a cursor.")
    return {str(k): str(v) for k, v in key.items()}


def json_chunks(texts: Sequence[str], *, max_bytes: int = CHUNK_BYTES) -> Iterator[list[int]]:
    """The positions of `texts` (JSON documents) in runs whose JSON array stays under `max_bytes`, in order: what
    fits in one item of a multi-entry item (the change feed's chunks, the sync log's groups). A text over the bound
    is a run of its own."""
    run: list[int] = []
    size = 1  # "[" and "]", less the last text's comma
    for position, text in enumerate(texts):
        length = len(text.encode()) + 1  # and its comma
        if run and size + length > max_bytes:
            yield run
            run, size = [], 1
        run.append(position)
        size += length
    if run:
        yield run


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:24]


def _bad_cursor(message: str) -> InvalidCursor:
    return InvalidCursor(message, errors=[{"loc": ["query", "cursor"], "type": "invalid_cursor", "message": message}])


# --- the adapter -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPage:
    items: list[Item]
    last_key: Key | None  # DynamoDB's LastEvaluatedKey; None at the end


@dataclass
class Condition:
    """A ConditionExpression with its placeholders (`#name` -> attribute, `:value` -> Python value)."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


ITEM_NOT_EXISTS = Condition("attribute_not_exists(PK)")
ITEM_EXISTS = Condition("attribute_exists(PK)")

# Powertools' deserializer, not boto3's: importing anything of boto3 imports s3transfer and multiprocessing (about 70 ms
# of every function's cold start, issue 19 target 6); the clients are botocore's (`aws_clients`).
_deserializer = TypeDeserializer()

_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
}


class Table:
    """The one DynamoDB table. Every public method raises only `leadbridge.errors`:
    a failed condition raises `on_conflict` (Conflict unless the caller passes e.g. PreconditionFailed or NotFound);
    throttling, outages and transaction races raise StoreUnavailable."""

    def __init__(self, name: str, client: DynamoDBClient | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            # Botocore retries throttling itself; what is left after that is a StoreUnavailable for the caller.
            self._client = aws_clients.client("dynamodb")
        return self._client

    # -- single items --

    def get(self, key: Mapping[str, str], *, consistent: bool = False) -> Item | None:
        try:
            resp = self.client.get_item(TableName=self.name, Key=_ser_map(key), ConsistentRead=consistent)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc) from exc
        return _deser_map(resp["Item"]) if "Item" in resp else None

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: Condition | None = None,
        on_conflict: type[LeadbridgeError] = Conflict,
        conflict_message: str = "The item was changed or already exists.",
        return_old: bool = False,
    ) -> Item | None:
        """Writes the item; with `return_old`, returns the item it replaced (None if there was none)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": _ser_map(item)}
        kwargs.update(_condition_kwargs(condition))
        if return_old:
            kwargs["ReturnValues"] = "ALL_OLD"
        try:
            resp = self.client.put_item(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, on_conflict, conflict_message) from exc
        return _deser_map(resp["Attributes"]) if "Attributes" in resp else None

    def update(
        self,
        key: Mapping[str, str],
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
        on_conflict: type[LeadbridgeError] = Conflict,
        conflict_message: str = "The item was changed meanwhile.",
    ) -> Item:
        """SET/REMOVE/ADD attributes by name (no expression writing needed); returns the item as it is now."""
        kwargs = self._update_kwargs(key, set_values, remove, add, condition)
        try:
            resp = self.client.update_item(**kwargs, ReturnValues="ALL_NEW")
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, on_conflict, conflict_message) from exc
        return _deser_map(resp.get("Attributes", {}))

    def delete(
        self,
        key: Mapping[str, str],
        *,
        condition: Condition | None = None,
        on_conflict: type[LeadbridgeError] = Conflict,
        conflict_message: str = "The item was changed or does not exist.",
    ) -> Item | None:
        """Deletes and returns the old item (None if there was none)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": _ser_map(key), "ReturnValues": "ALL_OLD"}
        kwargs.update(_condition_kwargs(condition))
        try:
            resp = self.client.delete_item(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, on_conflict, conflict_message) from exc
        return _deser_map(resp["Attributes"]) if "Attributes" in resp else None

    # -- batches (no conditions; DynamoDB's own limits per call, unprocessed parts sent again) --

    def get_many(
        self, keys: Sequence[Mapping[str, str]], *, consistent: bool = False, attributes: Sequence[str] = ()
    ) -> list[Item]:
        """The items that exist among `keys`, in no particular order; only `attributes` of them when given (e.g.
        the keys alone, to learn which exist without reading large items)."""
        projection: dict[str, Any] = {}
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate(attributes)}
            projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        send = self.client.batch_get_item  # the client made here, before the threads

        def get_chunk(start: int) -> list[Item]:
            request = {"Keys": [_ser_map(k) for k in keys[start : start + BATCH_GET_MAX]],
                       "ConsistentRead": consistent, **projection}  # fmt: skip
            responses = self._until_processed(send, {self.name: request}, "UnprocessedKeys")
            return [_deser_map(i) for resp in responses for i in resp.get("Responses", {}).get(self.name, [])]

        # The chunks are independent: a few in flight at once.
        return [item for found in each(get_chunk, range(0, len(keys), BATCH_GET_MAX)) for item in found]

    def write_many(self, puts: Sequence[Mapping[str, Any]] = (), deletes: Sequence[Mapping[str, str]] = ()) -> None:
        """Unconditional puts and deletes, 25 to a call. Not atomic: a failure can leave part of them written, so
        callers use this only for writes that are safe to repeat."""
        requests: list[Any] = [{"PutRequest": {"Item": _ser_map(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": _ser_map(k)}} for k in deletes]
        send = self.client.batch_write_item  # the client made here, before the threads
        # The chunks are independent (callers only write what is safe to repeat): a few in flight at once.
        def write_chunk(start: int) -> None:
            self._until_processed(send, {self.name: requests[start : start + BATCH_WRITE_MAX]}, "UnprocessedItems")

        each(write_chunk, range(0, len(requests), BATCH_WRITE_MAX))

    def _until_processed(self, send: Callable[..., Any], pending: Any, unprocessed: str) -> list[Any]:
        """Sends a batch request, then what DynamoDB left unprocessed (a throttled partition), with backoff."""
        responses: list[Any] = []
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                responses.append(send(RequestItems=pending))
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc) from exc
            pending = responses[-1].get(unprocessed) or {}
            if not pending:
                return responses
            _batch_pause(attempt)
        raise StoreUnavailable("The table is busy; retry later.", details={"reason": unprocessed})

    # -- queries --

    def query(
        self,
        partition: str,
        *,
        index: str | None = None,
        sk_prefix: str | None = None,
        sk_between: tuple[str, str] | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        start_key: Mapping[str, str] | None = None,
        filter: Condition | None = None,
        consistent: bool = False,
    ) -> QueryPage:
        """One page of items in `partition` (of the table or of `index`), sort key by prefix or inclusive range.
        `limit` caps items *evaluated*, as in DynamoDB: with a filter a page may hold fewer items."""
        pk_attr, sk_attr = INDEXES[index]
        names = {"#pk": pk_attr}
        values: dict[str, Any] = {":pk": partition}
        expression = "#pk = :pk"
        if sk_prefix is not None:
            names["#sk"] = sk_attr
            values[":skp"] = sk_prefix
            expression += " AND begins_with(#sk, :skp)"
        elif sk_between is not None:
            names["#sk"] = sk_attr
            values[":sklo"], values[":skhi"] = sk_between
            expression += " AND #sk BETWEEN :sklo AND :skhi"
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": expression,
            "ScanIndexForward": not newest_first,
        }
        if index is not None:
            kwargs["IndexName"] = index
        elif consistent:
            kwargs["ConsistentRead"] = True
        if filter is not None:
            kwargs["FilterExpression"] = filter.expression
            names.update(filter.names)
            values.update(filter.values)
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = _ser_map(values)
        if limit is not None:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = _ser_map(start_key)
        try:
            resp = self.client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc) from exc
        last = resp.get("LastEvaluatedKey")
        return QueryPage(
            items=[_deser_map(i) for i in resp.get("Items", [])],
            last_key={k: str(v) for k, v in _deser_map(last).items()} if last else None,
        )

    def query_all(self, partition: str, **kwargs: Any) -> Iterator[Item]:
        """Every item `query` would return, page after page."""
        start: Key | None = None
        while True:
            page = self.query(partition, start_key=start, **kwargs)
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

    # -- transactions --

    def tx_put(self, item: Mapping[str, Any], condition: Condition | None = None) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self.name, "Item": _ser_map(item), **_condition_kwargs(condition)}}  # type: ignore[typeddict-item]

    def tx_update(
        self,
        key: Mapping[str, str],
        *,
        set_values: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> TransactWriteItemTypeDef:
        return {"Update": self._update_kwargs(key, set_values, remove, add, condition)}  # type: ignore[typeddict-item]

    def tx_delete(self, key: Mapping[str, str], condition: Condition | None = None) -> TransactWriteItemTypeDef:
        return {"Delete": {"TableName": self.name, "Key": _ser_map(key), **_condition_kwargs(condition)}}  # type: ignore[typeddict-item]

    def tx_check(self, key: Mapping[str, str], condition: Condition) -> TransactWriteItemTypeDef:
        return {"ConditionCheck": {"TableName": self.name, "Key": _ser_map(key), **_condition_kwargs(condition)}}  # type: ignore[typeddict-item]

    def transact(
        self,
        operations: Sequence[TransactWriteItemTypeDef],
        *,
        on_conflict: type[LeadbridgeError] = Conflict,
        conflict_message: str = "A condition of the transaction failed.",
    ) -> None:
        """All or nothing. A failed condition raises `on_conflict` whose details name the failed operations."""
        try:
            self.client.transact_write_items(TransactItems=list(operations))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, on_conflict, conflict_message) from exc

    # -- helpers --

    def _update_kwargs(
        self,
        key: Mapping[str, str],
        set_values: Mapping[str, Any] | None,
        remove: Sequence[str],
        add: Mapping[str, int | float] | None,
        condition: Condition | None,
    ) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses: list[str] = []
        sets = []
        for i, (attr, value) in enumerate((set_values or {}).items()):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
        if sets:
            clauses.append("SET " + ", ".join(sets))
        removes = []
        for i, attr in enumerate(remove):
            names[f"#r{i}"] = attr
            removes.append(f"#r{i}")
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        adds = []
        for i, (attr, delta) in enumerate((add or {}).items()):
            names[f"#a{i}"] = attr
            values[f":a{i}"] = delta
            adds.append(f"#a{i} :a{i}")
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if not clauses:
            raise ValueError("update needs at least one of set_values, remove, add")
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": _ser_map(key), "UpdateExpression": " ".join(clauses)}
        if condition is not None:
            kwargs["ConditionExpression"] = condition.expression
            names.update(condition.names)
            values.update(condition.values)
        kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = _ser_map(values)
        return kwargs


def _batch_pause(attempt: int) -> None:
    # Unprocessed items mean the partition is throttled: back off as the AWS SDKs do, with jitter.
    time.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random() / 2))


def _condition_kwargs(condition: Condition | None) -> dict[str, Any]:
    if condition is None:
        return {}
    kwargs: dict[str, Any] = {"ConditionExpression": condition.expression}
    if condition.names:
        kwargs["ExpressionAttributeNames"] = dict(condition.names)
    if condition.values:
        kwargs["ExpressionAttributeValues"] = _ser_map(condition.values)
    return kwargs


def _translate(
    exc: ClientError | BotoCoreError,
    on_conflict: type[LeadbridgeError] = Conflict,
    conflict_message: str = "A condition failed.",
) -> Exception:
    """The one place DynamoDB errors become domain errors. Unknown errors (ValidationException: a bug in our
    expressions) are returned unchanged so they surface as 500s with a stack trace in the log."""
    if isinstance(exc, BotoCoreError):
        return StoreUnavailable("The table is unreachable; retry later.", details={"reason": type(exc).__name__})
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return on_conflict(conflict_message)
    if code == "TransactionCanceledException":
        reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            failed = [i for i, r in enumerate(reasons) if r == "ConditionalCheckFailed"]
            error = on_conflict(conflict_message)
            error.details.setdefault("failed_operations", failed)
            return error
        if any(r in {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"} for r in reasons):
            return StoreUnavailable("The table is busy; retry later.", details={"reason": "transaction_conflict"})
    if code in _RETRYABLE:
        return StoreUnavailable("The table is busy or unavailable; retry later.", details={"reason": code})
    if code == "ResourceNotFoundException":
        return StoreUnavailable("The table does not exist (deployment problem).", details={"reason": code})
    return exc


# --- (de)serialisation -----------------------------------------------------------------------------------------------


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_to_dynamo(v) for v in value}
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def _ser_map(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _attribute(v) for k, v in values.items()}


def _attribute(value: Any) -> Any:
    """One DynamoDB attribute value, as boto3's TypeSerializer writes it (`tests/unit/test_table_serialisation.py`
    compares the two for every type an item may hold). The types items are mostly made of (str, bool, int, None,
    plain dicts and lists) come first: checking each value against every type was an eighth of the sync worker's CPU
    with TypeSerializer. The rest (floats, datetimes, sets, bytes, other mappings) goes through `_to_dynamo` first."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is dict:
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [_attribute(v) for v in value]}
    if kind is int and -(10**38) < value < 10**38:  # DynamoDB's numbers hold 38 digits: larger ones are refused below
        return {"N": str(value)}
    return _other_attribute(_to_dynamo(value))


def _other_attribute(value: Any) -> Any:
    """What TypeSerializer writes for the values `_attribute` leaves to it (after `_to_dynamo`)."""
    if isinstance(value, bool) or value is None:
        return _attribute(value)
    if isinstance(value, str):  # a subclass (a str enum) as it is: `_attribute` takes exact `str` only
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_attribute(v) for v in value]}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): _attribute(v) for k, v in value.items()}}
    if isinstance(value, set | frozenset):  # an empty one is a number set to boto3 (and refused by DynamoDB)
        if value and all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in value):
            return {"NS": [_number(v) for v in value]}
        if value and all(isinstance(v, bytes | bytearray) for v in value):
            return {"BS": [bytes(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value)!r} for value {value!r}")


def _number(value: int | Decimal) -> str:
    """As DynamoDB holds it: at most 38 digits, exactly (DYNAMODB_CONTEXT traps any rounding, as boto3's does)."""
    text = str(DYNAMODB_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN", "-Infinity", "sNaN"):
        raise TypeError("Infinity and NaN not supported")
    return text


def _deser_map(values: Mapping[str, Any]) -> Item:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in values.items()}
