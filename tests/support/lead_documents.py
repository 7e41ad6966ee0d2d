"""Lead documents as the app sends them in lead events, and the status mapping the lifecycle tests configure.

- `lead(lead_id, **overrides)`: a lead at stage "New" with a company, a deal and one contact.
- `STATUS_MAPPING`: the SuperOffice sandbox's seeded pipeline, each open app stage mapped to a sale stage.
"""

from __future__ import annotations

from typing import Any

# Seed 000's pipeline, each open stage mapped to a SuperOffice sale stage; won/lost go to the sale status.
STATUS_MAPPING: dict[str, Any] = {
    "app_stages": ["New", "Lead", "Qualified", "Proposal", "Won", "Lost"],
    "stages": [
        {"app_stage": "Lead", "crm_stage": "1", "crm_status": "Open"},
        {"app_stage": "Qualified", "crm_stage": "2"},
        {"app_stage": "Proposal", "crm_stage": "3"},
    ],
    "create_at_stage": "Lead",
}


def lead(lead_id: str = "L-1", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "New",
        "companyName": f"Havblik Fisk {lead_id} ApS",
        "website": f"https://havblik-{lead_id.lower()}.dk",
        "cvr": str(40000000 + sum(map(ord, lead_id))),
        "score": 70,
        "dealTitle": f"Havblik {lead_id}",
        "dealAmount": "25000",
        "contacts": [{"id": "c1", "name": "Ida Holm", "email": f"ida@havblik-{lead_id.lower()}.dk"}],
    }
    return {**base, **overrides}
