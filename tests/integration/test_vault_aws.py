"""The vault's AWS adapters against moto: grants in KMS-encrypted Secrets Manager secrets, the DynamoDB refresh lease,
and a burst of callers in separate vaults (separate "Lambdas") sharing only those two stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from leadbridge.errors import ConnectionMissing
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import Grant
from leadbridge.store.secret_names import grant_secret_name
from leadbridge.store.table import Table
from leadbridge.store.vault import DynamoDBLeaseStore, SecretsManagerStore, TokenVault
from local.aws import LocalResources
from tests.support.waiting import wait_until


def _grant(token: str = "token-0", expires_in: float = -1) -> Grant:
    return Grant(
        access_token=token,
        refresh_token="refresh-secret",
        expires_at=time.time() + expires_in,
        account_id="Cust1",
        api_base="https://crm.example/Cust1/api",
    )


def _connection(secret_name: str) -> Connection:
    return Connection(
        tenant_id="t1",
        crm="superoffice",
        status=ConnectionStatus.CONNECTED,
        account_id="Cust1",
        api_base="https://crm.example/Cust1/api",
        secret_name=secret_name,
        connected_by="u1",
        connected_at=datetime.now(UTC),
        connection_key="k1",
    )


@pytest.fixture
def store(aws: LocalResources) -> SecretsManagerStore:
    return SecretsManagerStore(kms_key_id=aws.kms_key_id)


def test_grant_secret_is_created_encrypted_with_the_stack_key_and_updated(
    aws: LocalResources, store: SecretsManagerStore
) -> None:
    name = grant_secret_name("leadbridge/local/", "t1", "superoffice")
    store.put_json(name, _grant("first").model_dump(mode="json"))
    store.put_json(name, _grant("second").model_dump(mode="json"))

    sm = boto3.client("secretsmanager")
    described = sm.describe_secret(SecretId=name)
    assert name == "leadbridge/local/tenants/t1/superoffice"
    assert described["KmsKeyId"] in (aws.kms_key_id, aws.kms_key_arn)
    assert store.get_json(name)["access_token"] == "second"


def test_deleted_secret_is_recoverable_and_restored_by_a_reconnect(store: SecretsManagerStore) -> None:
    name = grant_secret_name("leadbridge/local/", "t1", "superoffice")
    store.put_json(name, {"access_token": "a"})

    store.delete(name, recovery_days=7)

    sm = boto3.client("secretsmanager")
    assert "DeletedDate" in sm.describe_secret(SecretId=name)  # scheduled, not gone
    with pytest.raises(ConnectionMissing):
        store.get_json(name)
    store.delete(name, recovery_days=7)  # deleting twice is fine
    store.put_json(name, {"access_token": "b"}, restore=True)  # reconnect within the window
    assert store.get_json(name) == {"access_token": "b"}


def test_missing_secret_is_connection_missing(store: SecretsManagerStore) -> None:
    with pytest.raises(ConnectionMissing):
        store.get_json("leadbridge/local/tenants/nobody/superoffice")


def test_lease_is_exclusive_until_released_or_expired(aws: LocalResources) -> None:
    now = [1000.0]
    leases = DynamoDBLeaseStore(Table(aws.table_name), clock=lambda: now[0])

    assert leases.acquire("T#t1#superoffice", "a", 15) is True
    assert leases.acquire("T#t1#superoffice", "b", 15) is False
    assert leases.acquire("T#t2#superoffice", "b", 15) is True  # other connection, other lease
    leases.release("T#t1#superoffice", "b")  # not b's: ignored
    assert leases.acquire("T#t1#superoffice", "c", 15) is False
    now[0] += 16  # a crashed without releasing
    assert leases.acquire("T#t1#superoffice", "c", 15) is True
    leases.release("T#t1#superoffice", "a")  # a's lease ran out; must not free c's
    assert leases.acquire("T#t1#superoffice", "d", 15) is False
    leases.release("T#t1#superoffice", "c")
    assert leases.acquire("T#t1#superoffice", "d", 15) is True


class CountingOAuth:
    """A token endpoint that answers only once `in_flight_until()` holds, keeping the lease held until then."""

    def __init__(self, in_flight_until: Callable[[], bool]) -> None:
        self.refreshes = 0
        self.lock = threading.Lock()
        self.in_flight_until = in_flight_until

    def refresh(self, grant: Grant) -> Grant:
        with self.lock:
            self.refreshes += 1
            n = self.refreshes
        wait_until(self.in_flight_until, what="the other vaults to find the lease taken while the refresh is in flight")
        return grant.model_copy(update={"access_token": f"token-{n}", "expires_at": time.time() + 3600})


class RefusalsSeen:
    """A vault's view of the shared DynamoDB lease, noting in `refused` that this vault found the lease taken."""

    def __init__(self, leases: DynamoDBLeaseStore, refused: set[int], vault: int) -> None:
        self.leases, self.refused, self.vault = leases, refused, vault

    def acquire(self, key: str, owner: str, seconds: float) -> bool:
        acquired = self.leases.acquire(key, owner, seconds)
        if not acquired:
            self.refused.add(self.vault)  # set.add is atomic under the GIL
        return acquired

    def release(self, key: str, owner: str) -> None:
        self.leases.release(key, owner)


def test_burst_across_separate_vaults_refreshes_once(aws: LocalResources, store: SecretsManagerStore) -> None:
    name = grant_secret_name("leadbridge/local/", "t1", "superoffice")
    store.put_json(name, _grant("token-0", expires_in=-1).model_dump(mode="json"))
    refused: set[int] = set()
    oauth = CountingOAuth(in_flight_until=lambda: len(refused) == 19)  # every other vault arrived and waits
    vaults = [
        TokenVault(
            SecretsManagerStore(kms_key_id=aws.kms_key_id),
            RefusalsSeen(DynamoDBLeaseStore(Table(aws.table_name)), refused, i),
            lambda crm: oauth,  # type: ignore[arg-type,return-value]
            poll_interval=0.05,
        )
        for i in range(20)
    ]
    results: list[str] = []
    errors: list[Any] = []
    barrier = threading.Barrier(20)

    def call(vault: TokenVault) -> None:
        barrier.wait()
        try:
            results.append(vault.get_access_token(_connection(name)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(v,)) for v in vaults]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert oauth.refreshes == 1
    assert results == ["token-1"] * 20
    assert store.get_json(name)["access_token"] == "token-1"
    assert store.get_json(name)["refresh_token"] == "refresh-secret"
