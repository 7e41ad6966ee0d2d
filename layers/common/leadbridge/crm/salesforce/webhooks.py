"""Salesforce Outbound Messages: parse the SOAP notification and answer the Ack Salesforce waits for.

Envelope (outbound WSDL, namespace `http://soap.sforce.com/2005/09/outbound`): `notifications` with
`OrganizationId, ActionId, SessionId, EnterpriseUrl, PartnerUrl` and up to 100 `Notification {Id, sObject}`.
Outbound Messages carry no signature: the proof is the unguessable per-connection key in the URL (the intake found
the connection by it before `verify` runs) plus the `OrganizationId`, returned as each event's `account_id` so the
intake refuses messages from any org but the connected one. De-duplicate on the notification `Id` (delivery is
at-least-once); the payload may be stale, so the processor re-reads the record.

Salesforce counts a delivery as done only on HTTP 200 with the exact `<Ack>true</Ack>` envelope (`ACK`, text/xml);
anything else is retried for up to 24 hours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from leadbridge.crm.base import WebhookRequest
from leadbridge.errors import WebhookRejected
from leadbridge.models.crm import CrmObject, WebhookEvent

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACK = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)
OBJECTS = {
    "Account": CrmObject.COMPANY,
    "Lead": CrmObject.COMPANY,
    "Contact": CrmObject.PERSON,
    "Opportunity": CrmObject.DEAL,
    "Task": CrmObject.ACTIVITY,
}
MAX_BODY = 2_000_000
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """The 18-character form of a Salesforce id (15-character ids are case-sensitive; 18 are not)."""
    if len(value) != 15:
        return value
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(value[chunk * 5:chunk * 5 + 5]) if "A" <= ch <= "Z")
        suffix += _ID_SUFFIX[bits]
    return value + suffix


class SalesforceWebhooks:
    """`WebhookVerifier` for Outbound Messages."""

    def verify(self, request: WebhookRequest, secret: str) -> bool:
        # No signature exists. Reaching here means the URL key matched a connection; a connection without a stored
        # secret (never set up, or disconnected) still fails. The OrganizationId check follows in the intake.
        return bool(secret)

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        raw_body = request.raw_body
        if len(raw_body) > MAX_BODY:
            raise WebhookRejected("Outbound Message body is too large")
        head = raw_body[:2048].upper()
        if b"<!DOCTYPE" in head or b"<!ENTITY" in raw_body.upper():
            raise WebhookRejected("Outbound Message bodies carry no DTD")  # refuse entity expansion outright
        try:
            root = ET.fromstring(raw_body)  # noqa: S314 — DTDs are refused above
        except ET.ParseError as exc:
            raise WebhookRejected(f"Outbound Message body is not XML ({exc})") from exc
        notes = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
        if notes is None:
            raise WebhookRejected("not a SOAP envelope with an Outbound Message notifications element")
        org_id = _text(notes, "OrganizationId")
        if not org_id:
            raise WebhookRejected("Outbound Message has no OrganizationId")
        action_id = _text(notes, "ActionId")
        events = []
        for index, note in enumerate(notes.findall(f"{{{OUTBOUND_NS}}}Notification")):
            note_id = _text(note, "Id")
            sobject = note.find(f"{{{OUTBOUND_NS}}}sObject")
            if not note_id or sobject is None:
                raise WebhookRejected(f"Notification {index} has no Id or sObject")
            type_name = (sobject.get(XSI_TYPE) or "").split(":")[-1]
            values: dict[str, Any] = {}
            for child in sobject:
                name = child.tag.split("}")[-1]
                values[name] = child.text
            record_id = values.get("Id")
            events.append(
                WebhookEvent(
                    event_id=note_id,
                    event=f"{type_name.lower() or 'unknown'}.changed",
                    object=OBJECTS.get(type_name),
                    record_id=str(record_id) if record_id else None,
                    account_id=id18(org_id),
                    action="changed",  # a rule fired on create or edit; the message does not say which
                    changed_by=str(values["LastModifiedById"]) if values.get("LastModifiedById") else None,
                    payload={"sobject": type_name, "action_id": action_id, **values},
                )
            )
        return events

    def test_response(self, events: list[WebhookEvent]) -> tuple[int, str, str] | None:
        """Every delivery is answered with the Ack, or Salesforce re-sends it for a day."""
        return 200, "text/xml", ACK


def _text(node: ET.Element, name: str) -> str | None:
    found = node.find(f"{{{OUTBOUND_NS}}}{name}")
    return found.text.strip() if found is not None and found.text else None
