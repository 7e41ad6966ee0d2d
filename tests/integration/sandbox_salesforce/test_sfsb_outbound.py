"""Outbound Messages from the sandbox: the documented SOAP envelope, only the exact Ack counts, retries."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.support.salesforce_sandbox import ACK, OrgEnv, Receiver

NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "o": "http://soap.sforce.com/2005/09/outbound",
      "sf": "urn:sobject.enterprise.soap.sforce.com"}


def test_change_sends_the_envelope_and_ack_stops_it(org: OrgEnv, receiver: Receiver) -> None:
    action = org.sb.add_outbound_message(org.org_id, "Opportunity", receiver.url,
                                         ["Id", "Name", "StageName", "AccountId"])
    deal = org.api.post("/sobjects/Opportunity/", json={"Name": "Big", "StageName": "Prospecting",
                                                        "CloseDate": "2030-01-01"}).json()["id"]
    org.api.patch(f"/sobjects/Opportunity/{deal}", json={"StageName": "Closed Won"})
    attempts = org.sb.tick_outbound()
    assert len(attempts) == 1 and attempts[0].acked and len(attempts[0].notification_ids) == 2
    root = ET.fromstring(receiver.bodies[0])
    notes = root.find("s:Body/o:notifications", NS)
    assert notes is not None
    assert notes.findtext("o:OrganizationId", namespaces=NS) == org.org_id
    assert notes.findtext("o:ActionId", namespaces=NS) == action.id
    first = notes.findall("o:Notification", NS)[0]
    assert first.findtext("o:Id", namespaces=NS).startswith("04l")
    sobject = first.find("o:sObject", NS)
    assert sobject.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "sf:Opportunity"
    # only the latest values are sent, even for the notification of the create
    assert sobject.findtext("sf:StageName", namespaces=NS) == "Closed Won"
    assert sobject.findtext("sf:Id", namespaces=NS) == deal
    assert org.sb.tick_outbound(force=True) == []  # acknowledged: nothing left


def test_anything_but_the_ack_is_retried_with_the_same_ids(org: OrgEnv, receiver: Receiver) -> None:
    org.sb.add_outbound_message(org.org_id, "Lead", receiver.url)
    receiver.replies = [(500, "oops"), (200, "<ok/>"), (200, ACK.replace("true", "false"))]
    org.api.post("/sobjects/Lead/", json={"LastName": "L", "Company": "C"})
    first = org.sb.tick_outbound()
    assert not first[0].acked and first[0].status == 500
    assert org.sb.tick_outbound() == []  # the retry interval has not passed
    second = org.sb.tick_outbound(force=True)
    third = org.sb.tick_outbound(force=True)
    fourth = org.sb.tick_outbound(force=True)
    assert [a.acked for a in (second[0], third[0], fourth[0])] == [False, False, True]
    assert first[0].notification_ids == fourth[0].notification_ids
    assert len(receiver.bodies) == 4
