"""`MetadataCache`: the per-container TTL cache exports read CRM field metadata through."""

from __future__ import annotations

from leadbridge import runtime
from leadbridge.crm.metadata_cache import DEFAULT_TTL_SECONDS, MetadataCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Counts loads; each load returns a new value, so a cache hit is visible in the value too."""

    def __init__(self) -> None:
        self.loads = 0

    def __call__(self) -> list[str]:
        self.loads += 1
        return [f"load {self.loads}"]


def test_a_value_is_loaded_once_within_the_ttl_and_again_after_it() -> None:
    clock, load = Clock(), Loader()
    cache = MetadataCache(ttl_seconds=300, clock=clock)
    key = ("superoffice", "tenant-1", "Cust1", "https://sod/Cust1/api", "company", "custom_fields")

    assert cache.get(key, load) == ["load 1"]
    clock.now += 299
    assert cache.get(key, load) == ["load 1"] and load.loads == 1
    clock.now += 1
    assert cache.get(key, load) == ["load 2"] and load.loads == 2


def test_keys_are_separate_and_invalidation_by_prefix_drops_only_that_connection_or_object() -> None:
    cache, load = MetadataCache(clock=Clock()), Loader()
    company = ("superoffice", "t1", "Cust1", "api1", "company", "lengths")
    person = ("superoffice", "t1", "Cust1", "api1", "person", "lengths")
    other_account = ("superoffice", "t1", "Cust2", "api2", "company", "lengths")
    for key in (company, person, other_account):
        cache.get(key, load)
    assert load.loads == 3 and len(cache) == 3

    cache.invalidate(("superoffice", "t1", "Cust1", "api1", "company"))
    assert cache.get(person, load) == ["load 2"]  # still cached
    assert cache.get(other_account, load) == ["load 3"]
    assert cache.get(company, load) == ["load 4"]  # read again

    cache.clear()
    assert len(cache) == 0


def test_a_full_cache_drops_expired_entries_first_and_never_grows_past_its_bound() -> None:
    clock, load = Clock(), Loader()
    cache = MetadataCache(ttl_seconds=10, max_entries=4, clock=clock)
    for n in range(4):
        cache.get(("k", n), load)
    clock.now += 11  # all four expired
    cache.get(("fresh", 0), load)
    assert len(cache) == 1
    for n in range(10):
        cache.get(("more", n), load)
        assert len(cache) <= 4


def test_the_runtime_cache_is_one_per_container_with_the_default_ttl_and_forgotten_on_reset() -> None:
    runtime.reset()
    cache = runtime.crm_metadata_cache()
    assert runtime.crm_metadata_cache() is cache and cache.ttl_seconds == DEFAULT_TTL_SECONDS == 300
    cache.get(("k",), Loader())
    runtime.reset()
    assert runtime.crm_metadata_cache() is not cache and len(runtime.crm_metadata_cache()) == 0
