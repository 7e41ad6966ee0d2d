"""The connector kit's shared pieces without a CRM: the transport (bearer token, one refresh-and-replay on 401, the
CRM's replay and translation hooks, call counting), the metadata cache policy, and lookups by CRM name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from leadbridge.crm import base
from leadbridge.crm.defaults import FALLBACK_REQUEST_BUDGET, default_settings, profile, request_budget
from leadbridge.crm.http import RetryingSender, RetryPolicy
from leadbridge.crm.metadata_cache import MetadataCache, MetadataCachePolicy, share_metadata
from leadbridge.crm.profile import GENERIC_PROFILE
from leadbridge.crm.transport import CrmTransport
from leadbridge.errors import CrmError, CrmNotFound, NeedsReauth


class Tokens:
    def __init__(self) -> None:
        self.current = "t1"
        self.refreshed: list[str] = []

    def access_token(self) -> str:
        return self.current

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        self.refreshed.append(rejected_token)
        self.current = f"t{len(self.refreshed) + 1}"
        return self.current


def transport(answers: list[httpx.Response], seen: list[httpx.Request], tokens: Tokens) -> CrmTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    sender = RetryingSender(httpx.Client(transport=httpx.MockTransport(handle)), policy=RetryPolicy(max_attempts=1))
    return CrmTransport(sender, tokens, service="Test CRM", translate=_translate, reauth_message="still 401")


def _translate(op: str, response: httpx.Response, sent: Any) -> CrmError:
    return CrmNotFound(f"Test CRM {op}: HTTP {response.status_code} after sending {sent!r}")


def test_a_401_refreshes_the_token_once_and_replays_with_the_new_one() -> None:
    seen: list[httpx.Request] = []
    tokens = Tokens()
    http = transport([httpx.Response(401), httpx.Response(200, json={"id": 7})], seen, tokens)

    assert http.request("thing.create", "POST", lambda: "https://crm.test/things", json_body={"a": 1}) == {"id": 7}
    assert [r.headers["Authorization"] for r in seen] == ["Bearer t1", "Bearer t2"]
    assert tokens.refreshed == ["t1"] and json.loads(seen[1].content) == {"a": 1}
    assert http.calls["thing.create"] == 2 and http.request_count() == 2


def test_a_second_401_is_needs_reauth_without_another_refresh() -> None:
    tokens = Tokens()
    http = transport([httpx.Response(401), httpx.Response(401)], [], tokens)
    with pytest.raises(NeedsReauth, match="still 401"):
        http.request("thing.get", "GET", lambda: "https://crm.test/things/1")
    assert tokens.refreshed == ["t1"]


def test_the_crms_replay_hook_sends_again_to_where_the_url_now_points_and_its_translation_names_errors() -> None:
    seen: list[httpx.Request] = []
    base_url = ["https://old.crm.test"]

    def moved(response: httpx.Response) -> bool:
        if response.status_code != 421:
            return False
        base_url[0] = "https://new.crm.test"
        return True

    http = transport([httpx.Response(421), httpx.Response(404)], seen, Tokens())
    url: Callable[[], str] = lambda: f"{base_url[0]}/things/1"  # noqa: E731
    with pytest.raises(CrmNotFound, match=r"thing\.get: HTTP 404"):
        http.request("thing.get", "GET", url, replay=moved)
    assert [str(r.url) for r in seen] == ["https://old.crm.test/things/1", "https://new.crm.test/things/1"]


def test_the_metadata_cache_policy_decides_whether_and_how_long_a_connector_shares_metadata() -> None:
    class Connector:
        metadata_cache: MetadataCache | None = None

    cache = MetadataCache(ttl_seconds=300)
    assert share_metadata(Connector(), MetadataCachePolicy(), cache).metadata_cache is cache
    assert share_metadata(Connector(), MetadataCachePolicy(ttl_seconds=None), cache).metadata_cache is None
    shorter = share_metadata(Connector(), MetadataCachePolicy(ttl_seconds=30), cache).metadata_cache
    assert shorter is not None and shorter is not cache and shorter.ttl_seconds == 30
    shorter.put(("k",), 1)
    assert cache.get(("k",), lambda: 2) == 1 and len(cache) == 1  # one store, per-CRM lifetimes


def test_a_crm_without_a_provider_gets_the_generic_profile_settings_and_budget() -> None:
    assert "nocrm" not in base.supported()
    assert profile("nocrm") is GENERIC_PROFILE and request_budget("nocrm") == FALLBACK_REQUEST_BUDGET
    assert default_settings("nocrm").crm == "nocrm"
    base.unregister("nocrm")  # forgetting a name never registered is harmless
