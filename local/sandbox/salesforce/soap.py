"""The SOAP Partner API of the sandbox (`POST {instance_url}/services/Soap/u/{NN.N}[/{orgId}]`): just `convertLead()`,
the documented way to convert a Lead (reference §11.1).

Authentication is the access token in `<SessionHeader><sessionId>` (namespace `urn:partner.soap.sforce.com`), not a
Bearer header. Answers are `text/xml`: the operation's response with HTTP 200, or a `soapenv:Fault` with HTTP 500
(`sf:INVALID_SESSION_ID` for a missing, expired or revoked session; `soapenv:Client` for a request that is not a
well-formed envelope of a known operation). Requests with a DTD are refused before any entity could be expanded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from pydantic import ValidationError

from local.sandbox.salesforce.convert import LeadConvert, LeadConvertResult

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_LEAD_CONVERTS = 200


class SoapFault(Exception):
    """A SOAP fault: `faultcode` (`sf:CODE` or `soapenv:Client`), `faultstring`, HTTP status (500)."""

    def __init__(self, code: str, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> bytes:
        detail = ""
        if self.code.startswith("sf:"):
            exception_code = self.code[3:]
            text = self.message.removeprefix(f"{exception_code}: ")
            detail = (f'<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
                      f"<sf:exceptionCode>{escape(exception_code)}</sf:exceptionCode>"
                      f"<sf:exceptionMessage>{escape(text)}</sf:exceptionMessage></sf:UnexpectedErrorFault></detail>")
        return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
                f'xmlns:sf="{FAULT_NS}" xmlns:xsi="{XSI}"><soapenv:Body><soapenv:Fault>'
                f"<faultcode>{escape(self.code)}</faultcode><faultstring>{escape(self.message)}</faultstring>"
                f"{detail}</soapenv:Fault></soapenv:Body></soapenv:Envelope>").encode()


def invalid_session() -> SoapFault:
    return SoapFault("sf:INVALID_SESSION_ID",
                     "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session")


def parse_xml(data: bytes) -> ET.Element:
    """Parse a request body, refusing any DTD (no entity declarations, so no XXE or entity expansion)."""
    scan = expat.ParserCreate()

    def refuse(*_: Any) -> None:
        raise SoapFault("soapenv:Client", "DOCTYPE is not allowed")

    scan.StartDoctypeDeclHandler = refuse
    scan.EntityDeclHandler = refuse
    try:
        scan.Parse(data, True)
        return ET.fromstring(data)  # noqa: S314 — the scan above let no DTD through
    except (expat.ExpatError, ET.ParseError) as err:
        raise SoapFault("soapenv:Client", f"Could not parse the request: {err}") from None


def read_request(data: bytes) -> tuple[str | None, ET.Element]:
    """(the SessionHeader's sessionId, the Body's operation element)."""
    root = parse_xml(data)
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("soapenv:Client", f"Expected a SOAP 1.1 Envelope, found {root.tag}")
    session = root.findtext(f"{{{SOAP_ENV}}}Header/{{{PARTNER}}}SessionHeader/{{{PARTNER}}}sessionId")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    operations = list(body) if body is not None else []
    if len(operations) != 1:
        raise SoapFault("soapenv:Client", "The SOAP Body must hold exactly one operation")
    return (session or "").strip() or None, operations[0]


def lead_converts(operation: ET.Element) -> list[LeadConvert]:
    """The `<leadConverts>` of a `convertLead` element, in order."""
    if operation.tag != f"{{{PARTNER}}}convertLead":
        raise SoapFault("soapenv:Client", f"No operation available for request {operation.tag}")
    requests = []
    for element in operation:
        if element.tag != f"{{{PARTNER}}}leadConverts":
            raise SoapFault("soapenv:Client", f"Element {element.tag} invalid at this location")
        values: dict[str, str | None] = {}
        for child in element:
            if not child.tag.startswith(f"{{{PARTNER}}}"):
                raise SoapFault("soapenv:Client", f"Element {child.tag} invalid at this location")
            nil = child.get(f"{{{XSI}}}nil") == "true"
            values[child.tag.split("}", 1)[1]] = None if nil else (child.text or "").strip() or None
        try:
            requests.append(LeadConvert.model_validate(values))
        except ValidationError as err:
            problem = err.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise SoapFault("soapenv:Client", f"Element {{{PARTNER}}}{where} invalid: {problem['msg']}") from None
    if not requests:
        raise SoapFault("soapenv:Client", "convertLead needs at least one leadConverts")
    if len(requests) > MAX_LEAD_CONVERTS:
        raise SoapFault("sf:EXCEEDED_ID_LIMIT", f"EXCEEDED_ID_LIMIT: more than {MAX_LEAD_CONVERTS} leadConverts")
    return requests


def convert_lead_response(results: list[LeadConvertResult]) -> bytes:
    """`convertLeadResponse` with one `<result>` per leadConverts (LeadConvertResult's elements in WSDL order)."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
             f'xmlns="{PARTNER}" xmlns:xsi="{XSI}"><soapenv:Body><convertLeadResponse>']
    for result in results:
        parts.append("<result>")
        parts.append(_id_element("accountId", result.account_id))
        parts.append(_id_element("contactId", result.contact_id))
        for error in result.errors:
            fields = "".join(f"<fields>{escape(f)}</fields>" for f in error.fields or [])
            parts.append(f"<errors>{fields}<message>{escape(error.message)}</message>"
                         f"<statusCode>{escape(error.code)}</statusCode></errors>")
        parts.append(_id_element("leadId", result.lead_id))
        parts.append(_id_element("opportunityId", result.opportunity_id))
        parts.append(f"<success>{'true' if result.success else 'false'}</success></result>")
    parts.append("</convertLeadResponse></soapenv:Body></soapenv:Envelope>")
    return "".join(parts).encode()


def _id_element(name: str, value: str | None) -> str:
    return f'<{name} xsi:nil="true"/>' if value is None else f"<{name}>{escape(value)}</{name}>"
