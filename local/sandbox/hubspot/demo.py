"""Demo data for `make run`: one portal with an admin and a sales rep, Danish companies with contacts (associated as
a HubSpot user links them), a few deals in the default pipeline, and a custom `cvr` company property to match on."""

from __future__ import annotations

import random

from local.sandbox.hubspot.sandbox import HubSpotSandbox

DEMO_CLIENT_ID = "leadbridge-demo-hubspot-client"
DEMO_CLIENT_SECRET = "leadbridge-demo-hubspot-secret"
DEMO_PORTAL_NAME = "Fjord Leads ApS"
DEMO_ADMIN = "admin@demo-leads.no"
DEMO_SALES_REP = "rep@demo-leads.no"
# What the app's settings allow: the connector's scopes (reference §1.1) and the optional schema writes.
DEMO_SCOPES = [
    "oauth",
    *(f"crm.objects.{obj}.{access}" for obj in ("contacts", "companies", "deals") for access in ("read", "write")),
    "crm.objects.owners.read",
    *(f"crm.schemas.{obj}.{access}" for obj in ("contacts", "companies", "deals") for access in ("read", "write")),
]

_PREFIX = ["Nordic", "Dansk", "Jysk", "Fyns", "Baltic", "Aarhus", "Odense", "Aalborg", "Vestjysk", "Bornholms"]
_CORE = ["Software", "Logistik", "Byg", "Energi", "Medico", "Design", "Foods", "Marine", "Data", "Consult"]
_SUFFIX = ["ApS", "A/S", "Group", "Holding"]
_FIRST = ["Anne", "Mette", "Lars", "Jens", "Camilla", "Mads", "Peter", "Louise"]
_LAST = ["Hansen", "Nielsen", "Jensen", "Pedersen", "Andersen", "Larsen"]


def _ascii(text: str) -> str:
    return text.lower().replace(" ", "").replace("æ", "ae").replace("ø", "oe").replace("å", "aa")


def seed_demo(sb: HubSpotSandbox, *, redirect_uris: list[str], companies: int = 60, seed: int = 20261201
              ) -> dict[str, str | int]:
    rng = random.Random(seed)
    app = sb.register_app(redirect_uris, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SCOPES, name="leadbridge (demo)")
    portal = sb.add_portal(DEMO_PORTAL_NAME, time_zone="Europe/Copenhagen", domain="fjordleads.dk")
    admin = sb.add_user(portal.hub_id, DEMO_ADMIN, "Demo", "Admin")
    rep = sb.add_user(portal.hub_id, DEMO_SALES_REP, "Sofie", "Salg")
    sb.add_property(portal.hub_id, "companies", "cvr", "CVR number", unique=True)
    sb.add_property(portal.hub_id, "companies", "lead_score", "Lead score", "number", "number")
    names: set[str] = set()
    for i in range(companies):
        name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        while name in names:
            name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        names.add(name)
        domain = _ascii(name.rsplit(" ", 1)[0]) + ".dk"
        company = sb.add_record(portal.hub_id, "companies", {
            "name": name, "domain": domain, "cvr": str(rng.randint(10_000_000, 99_999_999)),
            "country": "Denmark", "city": rng.choice(["Aarhus", "Odense", "Aalborg", "København"]),
            "lead_score": rng.randint(0, 100), "hubspot_owner_id": rng.choice([admin.id, rep.id])})
        for _ in range(rng.randint(1, 3)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@{domain}"
            contact = sb.add_record(portal.hub_id, "contacts",
                                    {"firstname": first, "lastname": last, "email": email})
            sb.associate(portal.hub_id, "contacts", contact.id, "companies", company.id)
        if i % 10 == 0:
            deal = sb.add_record(portal.hub_id, "deals", {
                "dealname": f"{name} - opstart", "pipeline": "default", "dealstage": "qualifiedtobuy",
                "amount": rng.randint(10, 500) * 1000, "hubspot_owner_id": rep.id})
            sb.associate(portal.hub_id, "deals", deal.id, "companies", company.id)
    return {"hub_id": portal.hub_id, "companies": companies, "app_id": app.app_id}


def start_demo(*, redirect_uris: list[str], webhook_url: str, app_port: int = 0, api_port: int = 0,
               companies: int = 60) -> tuple[HubSpotSandbox, list[str], dict[str, str]]:
    """Start and seed the demo sandbox; its webhooks go to `webhook_url` from a background thread, as HubSpot's
    would. Returns (sandbox, banner lines, env vars for the functions)."""
    sb = HubSpotSandbox(app_port=app_port, api_port=api_port, webhook_background=True, webhook_poll=1.0)
    sb.start()
    facts = seed_demo(sb, redirect_uris=redirect_uris, companies=companies)
    sb.set_webhook_target(DEMO_CLIENT_ID, webhook_url)
    for event_type in ("company.creation", "company.deletion", "contact.creation", "contact.deletion",
                       "deal.creation", "deal.deletion"):
        sb.subscribe(DEMO_CLIENT_ID, event_type)
    for event_type, prop in (("company.propertyChange", "name"), ("company.propertyChange", "domain"),
                             ("contact.propertyChange", "email"), ("contact.propertyChange", "firstname"),
                             ("contact.propertyChange", "lastname"), ("deal.propertyChange", "dealstage"),
                             ("deal.propertyChange", "amount")):
        sb.subscribe(DEMO_CLIENT_ID, event_type, prop)
    banner = [
        f"HubSpot sandbox app host: {sb.app_base} (plays https://app.hubspot.com)",
        f"  API host:               {sb.api_base} (plays https://api.hubapi.com)",
        f"  portal {facts['hub_id']} ({DEMO_PORTAL_NAME}) with {facts['companies']} companies; custom company "
        "properties cvr (unique), lead_score",
        f"  app: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET} app_id={facts['app_id']}; "
        f"webhooks to {webhook_url}",
        f"  log in as {DEMO_ADMIN} (admin) or {DEMO_SALES_REP} on the sandbox install page",
        f"  admin API: curl {sb.app_base}/__admin/",
    ]
    env = {
        "HUBSPOT_API_BASE": sb.api_base,
        "HUBSPOT_APP_BASE": sb.app_base,
        "HUBSPOT_CLIENT_ID": DEMO_CLIENT_ID,
        "HUBSPOT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "HUBSPOT_APP_ID": str(facts["app_id"]),
        "HUBSPOT_WEBHOOK_URL": webhook_url,
    }
    return sb, banner, env
