"""Token vault refresh logic over in-memory secret and lease stores (the DynamoDB/Secrets Manager versions are in
tests/integration/test_vault*.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge.errors import ConnectionMissing, CrmUnavailable, NeedsReauth
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import Grant
from leadbridge.store.vault import TokenVault
from tests.support.waiting import wait_until

SECRET = "leadbridge/test/tenants/t1/fakecrm"


class Secrets:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.reads = 0

    def get_json(self, name: str) -> dict[str, Any]:
        with self.lock:
            self.reads += 1
            if name not in self.values:
                raise ConnectionMissing("missing")
            return dict(self.values[name])

    def put_json(self, name: str, value: dict[str, Any], *, restore: bool = False) -> None:
        with self.lock:
            self.values[name] = dict(value)

    def delete(self, name: str, *, recovery_days: int) -> None:
        self.values.pop(name, None)


class Leases:
    """One lease store shared by several vaults, like the DynamoDB item shared by Lambdas."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.holders: dict[str, tuple[str, float]] = {}
        self.acquired = 0
        self.clock = clock

    def acquire(self, key: str, owner: str, seconds: float) -> bool:
        with self.lock:
            held = self.holders.get(key)
            if held is not None and held[1] > self.clock():
                return False
            self.holders[key] = (owner, self.clock() + seconds)
            self.acquired += 1
            return True

    def release(self, key: str, owner: str) -> None:
        with self.lock:
            if self.holders.get(key, ("", 0.0))[0] == owner:
                del self.holders[key]


class Crm:
    """The CRM's token endpoint. With `in_flight_until`, a refresh answers only once that condition holds: it stays in
    flight until the callers it must overlap with have arrived, however slowly they are scheduled."""

    def __init__(self, *, failures: list[Exception] | None = None,
                 in_flight_until: Callable[[], bool] | None = None) -> None:
        self.refreshes = 0
        self.failures = failures or []
        self.in_flight_until = in_flight_until
        self.lock = threading.Lock()

    def refresh(self, grant: Grant) -> Grant:
        with self.lock:
            self.refreshes += 1
            n = self.refreshes
        if self.in_flight_until is not None:
            wait_until(self.in_flight_until, what="the other callers to arrive while the refresh is in flight")
        if self.failures:
            raise self.failures.pop(0)
        return grant.model_copy(update={"access_token": f"token-{n}", "expires_at": time.time() + 3600})


class Arrivals:
    """Who has reached the vaults so far: callers that called in, and vaults the shared lease turned away."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.callers = 0
        self.refused_vaults: set[int] = set()

    def caller(self) -> None:
        with self.lock:
            self.callers += 1

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.callers, len(self.refused_vaults)


class VaultLeases:
    """One vault's view of the shared lease store, telling `arrivals` when this vault found the lease held."""

    def __init__(self, shared: Leases, arrivals: Arrivals, vault: int) -> None:
        self.shared, self.arrivals, self.vault = shared, arrivals, vault

    def acquire(self, key: str, owner: str, seconds: float) -> bool:
        acquired = self.shared.acquire(key, owner, seconds)
        if not acquired:
            with self.arrivals.lock:
                self.arrivals.refused_vaults.add(self.vault)
        return acquired

    def release(self, key: str, owner: str) -> None:
        self.shared.release(key, owner)


def _grant(*, expires_in: float | None, token: str = "token-0") -> Grant:
    return Grant(
        access_token=token,
        refresh_token="refresh",
        expires_at=None if expires_in is None else time.time() + expires_in,
        account_id="Cust1",
        api_base="https://crm.example/Cust1/api",
    )


def _connection(status: ConnectionStatus = ConnectionStatus.CONNECTED) -> Connection:
    return Connection(
        tenant_id="t1",
        crm="fakecrm",
        status=status,
        account_id="Cust1",
        api_base="https://crm.example/Cust1/api",
        secret_name=SECRET,
        connected_by="u1",
        connected_at=datetime.now(UTC),
        connection_key="k",
    )


class Clock:
    """Time that passes only when the vault sleeps (its injected `sleep`), so a lease runs out without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _vault(secrets: Secrets, leases: Leases | VaultLeases, crm: Crm, **kwargs: Any) -> TokenVault:
    kwargs.setdefault("retry_delay", 0.0)
    kwargs.setdefault("poll_interval", 0.01)
    return TokenVault(secrets, leases, lambda name: crm, **kwargs)  # type: ignore[arg-type,return-value]


def test_a_fresh_token_is_returned_without_refresh() -> None:
    secrets, crm = Secrets(), Crm()
    secrets.put_json(SECRET, _grant(expires_in=3600).model_dump())

    token = _vault(secrets, Leases(), crm).get_access_token(_connection())

    assert token == "token-0" and crm.refreshes == 0


def test_a_token_within_the_margin_is_refreshed_and_stored() -> None:
    secrets, crm = Secrets(), Crm()
    secrets.put_json(SECRET, _grant(expires_in=120).model_dump())  # inside the 5-minute margin

    token = _vault(secrets, Leases(), crm).get_access_token(_connection())

    assert token == "token-1" and crm.refreshes == 1
    assert secrets.values[SECRET]["access_token"] == "token-1"
    assert secrets.values[SECRET]["refresh_token"] == "refresh"


def _burst(vaults: list[TokenVault], count: int, arrivals: Arrivals) -> list[str]:
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def call(vault: TokenVault) -> None:
        barrier.wait()
        arrivals.caller()
        try:
            results.append(vault.get_access_token(_connection()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(vaults[i % len(vaults)],)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


def test_concurrent_callers_in_one_process_share_one_refresh() -> None:
    arrivals = Arrivals()
    secrets, crm = Secrets(), Crm(in_flight_until=lambda: arrivals.counts()[0] == 20)
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())

    results = _burst([_vault(secrets, Leases(), crm)], 20, arrivals)

    assert crm.refreshes == 1 and set(results) == {"token-1"}


def test_separate_processes_refresh_once_through_the_lease() -> None:
    arrivals = Arrivals()
    # The refresh answers once all 20 callers called in and the 4 other vaults found the lease taken.
    secrets, leases, crm = Secrets(), Leases(), Crm(in_flight_until=lambda: arrivals.counts() == (20, 4))
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())
    vaults = [_vault(secrets, VaultLeases(leases, arrivals, i), crm) for i in range(5)]  # type: ignore[arg-type]

    results = _burst(vaults, 20, arrivals)

    assert crm.refreshes == 1 and set(results) == {"token-1"}


def test_invalid_grant_calls_the_reauth_handler_and_raises() -> None:
    secrets, crm = Secrets(), Crm(failures=[NeedsReauth("invalid_grant")])
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())
    seen: list[tuple[str, str]] = []
    vault = _vault(secrets, Leases(), crm, on_needs_reauth=lambda c, e: seen.append((c.tenant_id, e.message)))

    with pytest.raises(NeedsReauth):
        vault.get_access_token(_connection())

    assert seen == [("t1", "invalid_grant")] and crm.refreshes == 1


def test_transient_failures_are_retried_and_do_not_mark_reauth() -> None:
    secrets = Secrets()
    crm = Crm(failures=[CrmUnavailable("503"), CrmUnavailable("503")])
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())
    seen: list[Any] = []

    token = _vault(secrets, Leases(), crm, on_needs_reauth=lambda c, e: seen.append(e)).get_access_token(_connection())

    assert token == "token-3" and crm.refreshes == 3 and seen == []


def test_transient_failures_exhausted_raise_unavailable_without_reauth() -> None:
    secrets = Secrets()
    crm = Crm(failures=[CrmUnavailable("503")] * 3)
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())
    seen: list[Any] = []

    with pytest.raises(CrmUnavailable):
        _vault(secrets, Leases(), crm, on_needs_reauth=lambda c, e: seen.append(e)).get_access_token(_connection())

    assert seen == [] and secrets.values[SECRET]["access_token"] == "token-0"


def test_unauthorized_refreshes_a_token_without_expiry_only_once() -> None:
    secrets, crm = Secrets(), Crm()
    secrets.put_json(SECRET, _grant(expires_in=None).model_dump())
    vault = _vault(secrets, Leases(), crm)
    assert vault.get_access_token(_connection()) == "token-0"  # no expiry: used until the CRM says 401

    first = vault.refresh_after_unauthorized(_connection(), "token-0")
    second = _vault(secrets, Leases(), crm).refresh_after_unauthorized(_connection(), "token-0")

    assert first == second == "token-1" and crm.refreshes == 1


def test_a_connection_needing_reauth_is_not_refreshed() -> None:
    secrets, crm = Secrets(), Crm()
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())

    with pytest.raises(NeedsReauth):
        _vault(secrets, Leases(), crm).get_access_token(_connection(ConnectionStatus.NEEDS_REAUTH))
    with pytest.raises(ConnectionMissing):
        _vault(secrets, Leases(), crm).get_access_token(_connection(ConnectionStatus.DISCONNECTED))
    assert crm.refreshes == 0


def test_a_waiter_takes_over_a_lease_abandoned_by_a_crashed_holder() -> None:
    clock = Clock()
    secrets, leases, crm = Secrets(), Leases(clock=clock), Crm()
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())
    assert leases.acquire("T#t1#fakecrm", "crashed-lambda", 0.2)  # never released

    vault = _vault(secrets, leases, crm, lease_seconds=0.2, clock=clock, sleep=clock.sleep)
    token = vault.get_access_token(_connection())

    assert token == "token-1" and crm.refreshes == 1


def test_the_lease_holder_rereads_and_skips_a_refresh_another_worker_just_did() -> None:
    secrets, crm = Secrets(), Crm()
    secrets.put_json(SECRET, _grant(expires_in=-1).model_dump())

    class RacingLeases(Leases):
        def acquire(self, key: str, owner: str, seconds: float) -> bool:
            # Another Lambda finished its refresh between our expiry check and our lease.
            secrets.put_json(SECRET, _grant(expires_in=3600, token="token-elsewhere").model_dump())
            return super().acquire(key, owner, seconds)

    token = _vault(secrets, RacingLeases(), crm).get_access_token(_connection())

    assert token == "token-elsewhere" and crm.refreshes == 0


def test_secret_names_keep_tenants_apart() -> None:
    from leadbridge.store.secret_names import grant_secret_name

    assert grant_secret_name("leadbridge/dev/", "org:42", "superoffice") == "leadbridge/dev/tenants/org+42/superoffice"
    assert grant_secret_name("leadbridge/dev", "org-42", "superoffice") == "leadbridge/dev/tenants/org-42/superoffice"
