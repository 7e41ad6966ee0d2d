"""A SuperOffice sandbox filled with demo data, for `make run`.

`start_demo()` starts a sandbox with customer `Cust12345` ("Demo Leads ApS"): a few hundred generated Danish
companies (CVR numbers, domains, addresses), persons with e-mails and phones, some sales and favourites, the lead
custom fields of `lead-fields.json` on Contact except RabitIQ:29-31 (deliberately missing, so the "field not in the
CRM" path shows), a demo OAuth app and an admin user.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from local.sandbox.superoffice.sandbox import SuperOfficeSandbox

DEMO_CTX = "Cust12345"
DEMO_CLIENT_ID = "leadbridge-demo-app"
DEMO_CLIENT_SECRET = "leadbridge-demo-secret"
DEMO_ADMIN = "admin@demo-leads.dk"
DEMO_SALES_REP = "sales@demo-leads.dk"
MISSING_FIELDS = ("RabitIQ:29", "RabitIQ:30", "RabitIQ:31")
# The 37-field catalogue of the RabitIQ help page (seed 002), kept in the repo so the demo works in any clone.
LEAD_FIELDS = Path(__file__).resolve().parent / "data" / "lead-fields.json"

_PREFIX = ["Nordisk", "Dansk", "Jysk", "Fynsk", "Skandinavisk", "Københavns", "Aarhus", "Odense", "Vestjysk",
           "Sjællands", "Nørre", "Øresund", "Himmerlands", "Limfjords", "Østjysk", "Bornholms", "Sønderjysk"]
_CORE = ["Træ", "Data", "Byg", "Energi", "Software", "Logistik", "Design", "Rådgivning", "Maskin", "Fødevare",
         "Ventilation", "Elektro", "Marketing", "Transport", "Tag", "VVS", "Medico", "Finans", "Solceller"]
_SUFFIX = ["ApS", "A/S", "IVS", "I/S", "Holding ApS"]
_CITIES = [("1050", "København K"), ("8000", "Aarhus C"), ("5000", "Odense C"), ("9000", "Aalborg"),
           ("6700", "Esbjerg"), ("7100", "Vejle"), ("4000", "Roskilde"), ("8600", "Silkeborg"), ("7400", "Herning"),
           ("3400", "Hillerød"), ("6000", "Kolding"), ("8700", "Horsens")]
_STREETS = ["Vestergade", "Østergade", "Nørregade", "Søndergade", "Industrivej", "Havnegade", "Strandvejen",
            "Jernbanegade", "Skovvej", "Bredgade"]
_FIRST = ["Mette", "Lars", "Anne", "Jens", "Sofie", "Peter", "Camilla", "Mads", "Louise", "Henrik", "Ida", "Søren",
          "Freja", "Rasmus", "Julie", "Niels", "Emma", "Anders", "Maja", "Thomas"]
_LAST = ["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
         "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Poulsen"]
_TITLES = ["Direktør", "Salgschef", "CFO", "CTO", "Indkøbschef", "Marketingchef", "Projektleder"]
_TYPE_MAP = {"Number": "Number", "Text": "ShortText", "Text (Long)": "LongText"}


def _slug(name: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "/": "", " ": ""})
    return "".join(c for c in name.lower().translate(table) if c.isalnum())


def seed_demo(sb: SuperOfficeSandbox, *, companies: int = 300, seed: int = 20260101,
              redirect_uris: list[str] | None = None) -> dict[str, Any]:
    """Fill a started sandbox with the demo customer; returns facts for the banner."""
    rng = random.Random(seed)
    sb.register_app(redirect_uris or ["http://127.0.0.1:3000/oauth/superoffice/callback"],
                    client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, name="leadbridge (demo)")
    sb.add_customer(DEMO_CTX, "Demo Leads ApS", api_host=0)
    admin = sb.add_user(DEMO_CTX, DEMO_ADMIN, associate_id=5, full_name="Demo Admin", is_admin=True)
    rep = sb.add_user(DEMO_CTX, DEMO_SALES_REP, associate_id=6, full_name="Sofie Salg")
    defined = []
    if LEAD_FIELDS.exists():
        for field in json.loads(LEAD_FIELDS.read_text(encoding="utf-8"))["custom_fields"]:
            if field["prog_id"] in MISSING_FIELDS:
                continue
            sb.define_udef(DEMO_CTX, "contact", field["prog_id"], field["name_da"],
                           _TYPE_MAP.get(field["type"], "ShortText"))
            defined.append(field["prog_id"])
    used_names: set[str] = set()
    contact_ids: list[int] = []
    person_ids: list[int] = []
    for i in range(companies):
        name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        while name in used_names:
            name = f"{rng.choice(_PREFIX)} {rng.choice(_CORE)} {rng.choice(_SUFFIX)}"
        used_names.add(name)
        domain = f"{_slug(name.rsplit(' ', 1)[0])}.dk"
        zipcode, city = rng.choice(_CITIES)
        custom = {"RabitIQ:1": str(rng.randint(0, 100))} if "RabitIQ:1" in defined else {}
        rec = sb.create(DEMO_CTX, "contact", {
            "Name": name, "OrgNr": f"{rng.randint(10_000_000, 99_999_999)}", "Country": {"CountryId": 208},
            "Category": {"Id": rng.choice([1, 2])}, "Business": {"Id": rng.randint(1, 5)},
            "Associate": {"AssociateId": rng.choice([5, 6])}, "Domains": [domain],
            "Urls": [{"Value": f"https://www.{domain}", "Description": ""}],
            "Emails": [{"Value": f"info@{domain}", "Description": ""}],
            "Phones": [{"Value": f"+45 {rng.randint(20, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                                 f"{rng.randint(10, 99)}", "Description": ""}],
            "Address": {"Street": {"Address1": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
                                   "Zipcode": zipcode, "City": city}},
            "CustomFields": custom,
        }, as_associate=admin.associate_id)
        cid = rec["ContactId"]
        contact_ids.append(cid)
        for _ in range(rng.randint(1, 3)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            person = sb.create(DEMO_CTX, "person", {
                "Firstname": first, "Lastname": last, "Title": rng.choice(_TITLES), "Contact": {"ContactId": cid},
                "Emails": [{"Value": f"{_slug(first)}.{_slug(last)}@{domain}", "Description": ""}],
                "OfficePhones": [{"Value": f"+45 {rng.randint(20, 99)} {rng.randint(10, 99)} "
                                           f"{rng.randint(10, 99)} {rng.randint(10, 99)}", "Description": ""}],
                "Retired": rng.random() < 0.05,
            }, as_associate=admin.associate_id)
            person_ids.append(person["PersonId"])
        if i % 10 == 0:
            sb.create(DEMO_CTX, "sale", {
                "Contact": {"ContactId": cid}, "Heading": f"{name} - opstart", "Amount": rng.randint(10, 500) * 1000,
                "Rating": {"Id": rng.randint(1, 5)}, "SaleType": {"Id": 1}, "Currency": {"Id": 1},
                "Associate": {"AssociateId": rep.associate_id},
            }, as_associate=rep.associate_id)
    sb.add_favourites(DEMO_CTX, admin.associate_id, contact_ids=contact_ids[:10], person_ids=person_ids[:5])
    sb.add_selection(DEMO_CTX, "Varme leads", target="contact", member_ids=contact_ids[10:30])
    return {"companies": len(contact_ids), "persons": len(person_ids), "udefs": len(defined)}


def start_demo(
    login_port: int = 0,
    api_ports: list[int] | None = None,
    *,
    redirect_uris: list[str] | None = None,
    companies: int = 300,
) -> tuple[SuperOfficeSandbox, list[str], dict[str, str]]:
    """Start and seed the demo sandbox. Returns (sandbox, banner lines, env vars for the functions)."""
    sb = SuperOfficeSandbox(login_port=login_port, api_ports=api_ports)
    sb.start()
    facts = seed_demo(sb, companies=companies, redirect_uris=redirect_uris)
    login = sb.login_base
    banner = [
        f"SuperOffice sandbox login host: {login} (plays https://sod.superoffice.com)",
        f"  API host of {DEMO_CTX}:       {sb.api_base(DEMO_CTX)}/api/v1 (other host: {sb.api_hosts[1]})",
        f"  customer {DEMO_CTX} with {facts['companies']} companies, {facts['persons']} persons, "
        f"{facts['udefs']} lead custom fields ({', '.join(MISSING_FIELDS)} deliberately missing)",
        f"  OAuth app: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}",
        f"  sign in as {DEMO_ADMIN} (admin) or {DEMO_SALES_REP} on the sandbox consent page",
        f"  admin API: curl {login}/__admin/   e.g. "
        f"curl -X POST {login}/__admin/faults -d '{{\"kind\":\"429\",\"retry_after\":2}}'",
    ]
    env = {
        "SUPEROFFICE_LOGIN_BASE": login,
        "SUPEROFFICE_CLIENT_ID": DEMO_CLIENT_ID,
        "SUPEROFFICE_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "SUPEROFFICE_ENVIRONMENT": "sod",
    }
    return sb, banner, env
