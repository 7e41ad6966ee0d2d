"""A minimal SOAP Partner API client for the sandbox's tests: `convert_leads()` posts a `convertLead` envelope,
`results()` / `fault()` read the answer."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import httpx

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def envelope(session_id: str | None, operation: str) -> str:
    header = (f"<soapenv:Header><SessionHeader><sessionId>{escape(session_id)}</sessionId></SessionHeader>"
              "</soapenv:Header>") if session_id is not None else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
            f'xmlns="{PARTNER}">{header}<soapenv:Body>{operation}</soapenv:Body></soapenv:Envelope>')


def convert_leads(instance_url: str, session_id: str | None, *converts: dict[str, Any],
                  version: str = "62.0") -> httpx.Response:
    items = "".join(
        "<leadConverts>" + "".join(f"<{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</{k}>"
                                   for k, v in c.items()) + "</leadConverts>"
        for c in converts)
    return post(instance_url, envelope(session_id, f"<convertLead>{items}</convertLead>"), version=version)


def post(instance_url: str, body: str, *, version: str = "62.0") -> httpx.Response:
    return httpx.post(f"{instance_url}/services/Soap/u/{version}", content=body.encode(),
                      headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}, timeout=10)


def results(response: httpx.Response) -> list[dict[str, Any]]:
    """Each `<result>` as {accountId, contactId, leadId, opportunityId: str | None, success: bool, errors: [...]}."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    found = root.findall(f"{{{SOAP_ENV}}}Body/{{{PARTNER}}}convertLeadResponse/{{{PARTNER}}}result")
    out = []
    for result in found:
        item: dict[str, Any] = {}
        for name in ("accountId", "contactId", "leadId", "opportunityId"):
            element = result.find(f"{{{PARTNER}}}{name}")
            assert element is not None, name
            item[name] = None if element.get(XSI_NIL) == "true" else element.text
        item["success"] = result.findtext(f"{{{PARTNER}}}success") == "true"
        item["errors"] = [{"statusCode": e.findtext(f"{{{PARTNER}}}statusCode"),
                           "message": e.findtext(f"{{{PARTNER}}}message"),
                           "fields": [f.text for f in e.findall(f"{{{PARTNER}}}fields")]}
                          for e in result.findall(f"{{{PARTNER}}}errors")]
        out.append(item)
    return out


def fault(response: httpx.Response) -> tuple[str | None, str | None]:
    """(faultcode, faultstring) of a SOAP fault answer."""
    assert response.status_code == 500, response.text
    element = ET.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert element is not None, response.text
    return element.findtext("faultcode"), element.findtext("faultstring")
