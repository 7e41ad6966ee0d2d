"""Demo data for `make run`: one org with an admin and a sales rep, 120 Danish accounts with contacts, a few
opportunities, a required custom field the admin must map, and the lead-score field from the app's catalogue."""

from __future__ import annotations

import random

from local.sandbox.salesforce.sandbox import SalesforceSandbox

DEMO_CLIENT_ID = "3MVG9leadbridgeDemoConsumerKey"
DEMO_CLIENT_SECRET = "leadbridge-demo-consumer-secret"
DEMO_ORG_NAME = "Nordlys Consulting ApS"
DEMO_ADMIN = "admin@demo-leads.test"
DEMO_SALES_REP = "rep@demo-leads.test"

_PREFIX = ["Nordic", "Dansk", "Jysk", "Fyns", "Sjællands", "Baltic", "Copenhagen", "Aarhus", "Odense", "Aalborg"]
_CORE = ["Software", "Logistik", "Byg", "Energi", "Medico", "Design", "Foods", "Marine", "Data", "Consult"]
_SUFFIX = ["ApS", "A/S", "I/S", "Group", "Holding"]
_FIRST = ["Anne", "Mette", "Lars", "Søren", "Jens", "Camilla", "Mads", "Sofie", "Peter", "Louise"]
_LAST = ["Hansen", "Nielsen", "Jensen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen"]


def seed_demo(sb: SalesforceSandbox, *, redirect_uris: list[str], accounts: int = 120, seed: int = 20260101
              ) -> dict[str, str | int]:
    rng = random.Random(seed)
    sb.register_app(redirect_uris, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
                    name="leadbridge (demo)")
    org = sb.add_org(DEMO_ORG_NAME, country="Denmark", locale="da_DK", time_zone="Europe/Copenhagen")
    sb.add_user(org.org_id, DEMO_ADMIN, name="Demo Admin", is_admin=True)
    rep = sb.add_user(org.org_id, DEMO_SALES_REP, name="Sofie Salg")
    sb.add_custom_field(org.org_id, "Account", "Lead_Score__c", "double", label="Lead Score")
    sb.add_custom_field(org.org_id, "Account", "CVR__c", "string", label="CVR", length=8, external_id=True)
    sb.add_custom_field(org.org_id, "Lead", "Lead_Score__c", "double", label="Lead Score")
    names: set[str] = set()
    for i in range(accounts):
        name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        while name in names:
            name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        names.add(name)
        domain = name.rsplit(" ", 1)[0].lower().replace(" ", "").replace("æ", "ae").replace("ø", "oe") + ".dk"
        account = sb.create(org.org_id, "Account", {
            "Name": name, "Website": f"https://www.{domain}", "CVR__c": str(rng.randint(10_000_000, 99_999_999)),
            "BillingCountry": "Denmark", "Phone": f"+45 {rng.randint(20, 99)} {rng.randint(10, 99)} "
                                                  f"{rng.randint(10, 99)} {rng.randint(10, 99)}",
            "Lead_Score__c": rng.randint(0, 100)})
        for _ in range(rng.randint(1, 3)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            sb.create(org.org_id, "Contact", {
                "AccountId": account, "FirstName": first, "LastName": last,
                "Email": f"{first.lower().replace('ø', 'oe')}.{last.lower().replace('ø', 'oe')}@{domain}"})
        if i % 10 == 0:
            sb.create(org.org_id, "Opportunity", {"AccountId": account, "Name": f"{name} - opstart",
                                                  "StageName": "Qualification", "CloseDate": "2030-06-30",
                                                  "Amount": rng.randint(10, 500) * 1000, "OwnerId": rep})
    return {"org_id": org.org_id, "accounts": accounts}


def start_demo(*, redirect_uris: list[str], login_port: int = 0, instance_port: int = 0,
               accounts: int = 120) -> tuple[SalesforceSandbox, list[str], dict[str, str]]:
    """Start and seed the demo sandbox. Returns (sandbox, banner lines, env vars for the functions)."""
    sb = SalesforceSandbox(login_port=login_port, instance_port=instance_port, outbound_delay_factor=0.02)
    sb.start()
    facts = seed_demo(sb, redirect_uris=redirect_uris, accounts=accounts)
    banner = [
        f"Salesforce sandbox login host: {sb.login_base} (plays https://login.salesforce.com)",
        f"  instance_url:                 {sb.instance_url} (REST API /services/data/v62.0/)",
        f"  org {facts['org_id']} ({DEMO_ORG_NAME}) with {facts['accounts']} accounts; custom fields "
        "Lead_Score__c, CVR__c (external id) on Account",
        f"  connected app: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}",
        f"  log in as {DEMO_ADMIN} (admin) or {DEMO_SALES_REP} on the sandbox consent page",
        f"  admin API: curl {sb.login_base}/__admin/",
    ]
    env = {
        "SALESFORCE_LOGIN_BASE": sb.login_base,
        "SALESFORCE_CLIENT_ID": DEMO_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }
    return sb, banner, env
