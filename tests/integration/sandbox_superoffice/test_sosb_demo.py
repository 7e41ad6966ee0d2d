"""The `make run` demo sandbox: seeded customer, custom fields with deliberate gaps, env for the functions."""

from __future__ import annotations

import httpx

from local.sandbox.superoffice.demo import DEMO_ADMIN, DEMO_CLIENT_ID, DEMO_CTX, start_demo


def test_demo_sandbox_is_seeded_and_usable() -> None:
    sb, banner, env = start_demo(companies=40)
    try:
        assert env == {"SUPEROFFICE_LOGIN_BASE": sb.login_base, "SUPEROFFICE_CLIENT_ID": DEMO_CLIENT_ID,
                       "SUPEROFFICE_CLIENT_SECRET": "leadbridge-demo-secret", "SUPEROFFICE_ENVIRONMENT": "sod"}
        assert any(sb.login_base in line for line in banner) and any(DEMO_CTX in line for line in banner)
        token = sb.issue_tokens(DEMO_CTX, DEMO_ADMIN, DEMO_CLIENT_ID)
        api = httpx.Client(base_url=f"{sb.api_base(DEMO_CTX)}/api/v1",
                           headers={"Authorization": f"Bearer {token['access_token']}"})
        prog_ids = [f["ProgId"] for f in api.get("/Contact/UdefLayout/Published").json()]
        assert len(prog_ids) == 34 and "RabitIQ:1" in prog_ids and "RabitIQ:37" in prog_ids
        assert not {"RabitIQ:29", "RabitIQ:30", "RabitIQ:31"} & set(prog_ids)
        rows = api.get("/Contact", params={"$select": "contactId,name,orgnr,url", "$top": "1000"}).json()["value"]
        assert len(rows) == 40
        assert all(len(r["orgnr"]) == 8 and r["orgnr"].isdigit() and r["url"].startswith("https://www.")
                   for r in rows)
        persons = api.get("/Person", params={"$select": "personId,email"}).json()["value"]
        assert len(persons) >= 40 and all("@" in p["email"] for p in persons)
        assert api.get("/Sale", params={"$select": "saleId"}).json()["value"]
        assert api.get("/Archive/contactfavourites", params={"$select": "contactId"}).json()["value"]
        api.close()
        assert sb.spec_violations == []
    finally:
        sb.stop()
