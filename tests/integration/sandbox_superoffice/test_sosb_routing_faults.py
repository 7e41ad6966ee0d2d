"""Tenant routing (Tenant Status API, 421, moving hosts), injected faults, call counts and the HTTP admin API."""

from __future__ import annotations

import httpx
import pytest

CTX = "Cust12345"


def test_tenant_status_and_421_on_wrong_hosts(tenant) -> None:  # type: ignore[no-untyped-def]
    sb = tenant.sb
    status = httpx.get(f"{sb.login_base}/api/state/{CTX}").json()
    assert status["State"] == "Running" and status["IsRunning"] is True
    assert status["Api"] == f"{sb.api_hosts[0]}/{CTX}/api" and status["Endpoint"] == f"{sb.api_hosts[0]}/{CTX}"
    auth = tenant.api.headers
    for wrong in (sb.api_hosts[1], sb.login_base):
        response = httpx.get(f"{wrong}/{CTX}/api/v1/Contact/default", headers=auth)
        assert response.status_code == 421
        assert "Wrong subdomain used to access tenant" in response.json()["ErrorMessage"]

    sb.move_customer(CTX, 1)
    assert tenant.api.get("/Contact/default").status_code == 421  # the client's cached base is stale now
    moved = httpx.get(f"{sb.login_base}/api/state/{CTX}").json()
    assert moved["Api"] == f"{sb.api_hosts[1]}/{CTX}/api"
    assert httpx.get(f"{moved['Api']}/v1/Contact/default", headers=auth).status_code == 200

    sb.set_customer_state(CTX, "Suspended")
    suspended = httpx.get(f"{sb.login_base}/api/state/{CTX}").json()
    assert suspended["State"] == "Suspended" and suspended["IsRunning"] is False
    assert httpx.get(f"{moved['Api']}/v1/Contact/default", headers=auth).status_code == 503
    assert httpx.get(f"{sb.login_base}/api/state/Cust99999").json()["State"] == "Unknown"


def test_status_faults_with_count_and_filters(tenant) -> None:  # type: ignore[no-untyped-def]
    sb = tenant.sb
    sb.inject_fault("429", count=2, retry_after=7, path_prefix="/api/v1/Contact", method="GET")
    first = tenant.api.get("/Contact/default")
    assert first.status_code == 429 and first.headers["Retry-After"] == "7" and first.json()["Error"] is True
    assert tenant.api.get("/Person/default").status_code == 200  # other path untouched
    assert tenant.api.get("/Contact/default").status_code == 429
    assert tenant.api.get("/Contact/default").status_code == 200  # count used up
    for kind in ("500", "503"):
        sb.inject_fault(kind)
        assert tenant.api.get("/Contact/default").status_code == int(kind)
    sb.inject_fault("421", ctx=CTX)
    assert tenant.api.get("/Contact/default").status_code == 421
    sb.inject_fault("503", count=None, path_prefix="/login/common/oauth/tokens")
    for _ in range(3):
        refused = httpx.post(f"{sb.login_base}/login/common/oauth/tokens", data={"grant_type": "refresh_token"})
        assert refused.status_code == 503
    sb.clear_faults()
    assert httpx.post(f"{sb.login_base}/login/common/oauth/tokens",
                      data={"grant_type": "refresh_token"}).status_code == 400


def test_latency_and_timeout_faults(tenant) -> None:  # type: ignore[no-untyped-def]
    sb = tenant.sb
    sb.inject_fault("latency", seconds=0.2)
    assert tenant.api.get("/Contact/default").status_code == 200  # slow, but answered
    assert sb.faults.active() == []
    sb.inject_fault("timeout", seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        tenant.api.get("/Contact/default", timeout=0.3)


def test_call_counts_by_operation(tenant) -> None:  # type: ignore[no-untyped-def]
    sb = tenant.sb
    sb.reset_call_counts()
    cid = tenant.api.post("/Contact", json={"Name": "Counted"}).json()["ContactId"]
    tenant.api.get(f"/Contact/{cid}")
    tenant.api.get(f"/Contact/{cid}")
    sb.inject_fault("500")
    tenant.api.get(f"/Contact/{cid}")
    tenant.api.get("/Contact", params={"$select": "contactId"})
    assert sb.call_counts(CTX) == {"POST /api/v1/Contact": 1, "GET /api/v1/Contact/{id}": 3,
                                   "GET /api/v1/Contact": 1}


def test_http_admin_api(tenant) -> None:  # type: ignore[no-untyped-def]
    admin = httpx.Client(base_url=f"{tenant.sb.login_base}/__admin")
    assert "POST /__admin/faults" in admin.get("/").json()["endpoints"]
    created = admin.post(f"/customers/{CTX}/contacts", json={"Name": "Via admin", "OrgNr": "87654321"})
    assert created.status_code == 201
    cid = created.json()["ContactId"]
    assert tenant.api.get(f"/Contact/{cid}").json()["Name"] == "Via admin"
    assert admin.patch(f"/customers/{CTX}/contacts/{cid}", json={"Department": "X"}).json()["Department"] == "X"
    assert admin.post(f"/customers/{CTX}/udefs", json={"entity": "contact", "prog_id": "RabitIQ:1",
                                                       "label": "Score", "field_type": "Number"}).status_code == 201
    fault = admin.post("/faults", json={"kind": "429", "retry_after": 3, "count": 1}).json()
    assert fault["kind"] == "429" and admin.get("/faults").json()[0]["id"] == fault["id"]
    assert tenant.api.get("/Contact/default").status_code == 429
    assert admin.get(f"/customers/{CTX}/calls").json()["GET /api/v1/Contact/{id}"] == 1
    assert admin.post(f"/customers/{CTX}/expire-tokens").json()["expired"] >= 1
    assert tenant.api.get("/Contact/default").status_code == 401
    assert admin.post("/faults", json={"kind": "teapot"}).status_code == 400
    assert admin.post("/customers", json={"ctx": "not-a-ctx"}).status_code == 400
    assert admin.get("/customers/Cust1/calls").status_code == 404
    assert admin.delete(f"/customers/{CTX}/contacts/{cid}").json() == {"deleted": cid}
    admin.close()
