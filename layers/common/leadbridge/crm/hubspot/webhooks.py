"""HubSpot webhooks (Webhooks API v3 deliveries of a project app; reference hubspot-api.md §6).

HubSpot webhooks belong to the *app*, not to a connection: every installed portal's events go to one target URL,
`{PUBLIC_API_URL}/webhooks/hubspot` (written into the app's `webhooks/webhooks-hsmeta.json` by
`scripts/hubspot_hsmeta.py`, from `hsmeta` below), batched up to 100 per POST (one portal per POST). So
`HubSpotWebhooks` is an `AppWebhookVerifier`: the intake checks the signature with the app's client secret and
routes each event to the connection(s) of its `portalId` (the connection's `account_id`, the hub id).

Signature: v3 only. `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(key = client secret, message = method + URI +
raw body + timestamp)), the URI being the full public URL with the §6.4 sequences decoded, and
`X-HubSpot-Request-Timestamp` (epoch ms) within 5 minutes of now, either way. HubSpot also sends the legacy v1/v2
signatures; we do not fall back to them, not even when the v3 headers are missing: they sign no timestamp, so one
captured delivery (with its v3 headers stripped) could be replayed for ever. Every delivery a current app receives
carries v3.

Events: `event_id` = `{portalId}:{subscriptionId}:{eventId}:{occurredAt}`, because HubSpot's eventId alone is not
unique (and `attemptNumber`, which changes between retries, stays out of it); the processor de-duplicates on it.
`is_own_write` recognises leadbridge's own writes (`changeSource` INTEGRATION with `sourceId` = our app id): the
intake drops and counts them. Events without a `sourceId` are left to the inbound kernel's record-state comparison.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from leadbridge.crm.base import WebhookRequest
from leadbridge.errors import WebhookRejected
from leadbridge.json_body import MalformedBody, parse_json_body
from leadbridge.models.crm import CrmObject, WebhookEvent

if TYPE_CHECKING:  # the settings models are for the hsmeta command, not for the intake's cold start
    from leadbridge.models.settings import SettingsDocument

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
MAX_SKEW_MS = 300_000  # 5 minutes, into the past (replay) and into the future (clock skew)
# §6.4: HubSpot signs the URI with these sequences decoded (the query's own `?` is never encoded).
_URI_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
OBJECTS = {"contact": CrmObject.PERSON, "company": CrmObject.COMPANY, "deal": CrmObject.DEAL}
# Generic `object.*` events name the object by type id.
OBJECT_TYPE_IDS = {"0-1": CrmObject.PERSON, "0-2": CrmObject.COMPANY, "0-3": CrmObject.DEAL, "0-27": CrmObject.ACTIVITY}
ACTIONS = {
    "creation": "created",
    "deletion": "deleted",
    "privacyDeletion": "deleted",
    "propertyChange": "changed",
    "associationChange": "changed",
    "restore": "restored",
    "merge": "merged",
}
OWN_WRITE_SOURCE = "INTEGRATION"
# hsmeta: the app objects whose CRM changes leadbridge syncs, as `crmObjects` object types, and the properties a
# subscription always needs besides the mapped ones (a deal's stage says open, won or lost).
HSMETA_OBJECTS = {CrmObject.COMPANY: "company", CrmObject.PERSON: "contact", CrmObject.DEAL: "deal"}
ALWAYS_SUBSCRIBED = {CrmObject.DEAL: ("dealstage",)}
UNSUBSCRIBABLE = frozenset({"hs_lastmodifieddate", "lastmodifieddate"})  # §6.1: refused as propertyChange
MAX_SUBSCRIPTIONS = 1000  # per app (§6.1)


def decoded_uri(uri: str) -> str:
    """The URI as HubSpot signs it (§6.4)."""
    for encoded, plain in _URI_DECODE.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    return uri


def signature_v3(secret: str, method: str, uri: str, raw_body: bytes, timestamp_ms: str) -> str:
    """The value HubSpot puts in `X-HubSpot-Signature-v3`."""
    message = method.upper().encode() + decoded_uri(uri).encode() + raw_body + timestamp_ms.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode("ascii")


class HubSpotEvent(BaseModel):
    """One element of a delivery's JSON array (§6.2). Unknown fields are ignored; the ids are numbers in HubSpot's
    JSON but read as text, so nothing depends on their size."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)

    eventId: str
    subscriptionId: str
    portalId: str
    occurredAt: int
    subscriptionType: str
    appId: str | None = None
    attemptNumber: int = 0
    objectId: str | None = None
    objectTypeId: str | None = None
    propertyName: str | None = None
    propertyValue: Any = None
    changeFlag: str | None = None
    changeSource: str | None = None
    sourceId: str | None = None
    primaryObjectId: str | None = None  # merge events: the record that survives

    def event_key(self) -> str:
        return f"{self.portalId}:{self.subscriptionId}:{self.eventId}:{self.occurredAt}"


class HubSpotWebhooks:
    """`AppWebhookVerifier` for HubSpot. `client_secret` may be a callable (read lazily, e.g. from Secrets Manager,
    only when a delivery arrives); `app_id` is the app's id, to recognise our own writes (None: none recognised)."""

    def __init__(
        self,
        *,
        app_id: str | None,
        client_secret: str | Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self._client_secret = client_secret
        self._clock = clock

    def app_secret(self) -> str | None:
        secret = self._client_secret() if callable(self._client_secret) else self._client_secret
        return secret or None

    def verify(self, request: WebhookRequest, secret: str) -> bool:
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not secret or not signature or not timestamp or not timestamp.isdigit() or len(timestamp) > 16:
            return False
        if abs(int(self._clock() * 1000) - int(timestamp)) > MAX_SKEW_MS:
            return False
        expected = signature_v3(secret, request.method, request.url, request.raw_body, timestamp)
        return hmac.compare_digest(expected.encode(), signature.encode())

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            body = parse_json_body(request.raw_body)
        except MalformedBody as exc:
            raise WebhookRejected(exc.reason) from None
        if not isinstance(body, list):
            raise WebhookRejected("a HubSpot delivery is a JSON array of events")
        events = []
        for index, item in enumerate(body):
            try:
                raw = HubSpotEvent.model_validate(item)
            except ValidationError as exc:
                where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
                raise WebhookRejected(f"event {index} is not a HubSpot event (at {where or 'the event'})") from None
            events.append(_event(raw))
        return events

    def test_response(self, events: list[WebhookEvent]) -> tuple[int, str, str] | None:
        return None  # HubSpot wants any 2xx; the intake's JSON 200 will do

    def is_own_write(self, event: WebhookEvent) -> bool:
        return (
            self.app_id is not None
            and event.payload.get("changeSource") == OWN_WRITE_SOURCE
            and str(event.payload.get("sourceId")) == self.app_id
        )


def _event(raw: HubSpotEvent) -> WebhookEvent:
    kind, _, verb = raw.subscriptionType.partition(".")
    obj = OBJECT_TYPE_IDS.get(raw.objectTypeId or "") if kind == "object" else OBJECTS.get(kind)
    record_id = raw.primaryObjectId if verb == "merge" and raw.primaryObjectId else raw.objectId
    payload: dict[str, Any] = {
        "changeSource": raw.changeSource,
        "sourceId": raw.sourceId,
        "subscriptionId": raw.subscriptionId,
        "attemptNumber": raw.attemptNumber,
        "appId": raw.appId,
        "changeFlag": raw.changeFlag,
    }
    if raw.propertyName:
        payload["propertyName"] = raw.propertyName
        payload["propertyValue"] = raw.propertyValue
    return WebhookEvent(
        event_id=raw.event_key(),
        event=raw.subscriptionType,
        object=obj,
        record_id=record_id,
        account_id=raw.portalId,
        action=ACTIONS.get(verb, verb or "unknown"),
        occurred_at=datetime.fromtimestamp(raw.occurredAt / 1000, tz=UTC),
        changed_fields=[raw.propertyName] if raw.propertyName else [],
        changed_by=_writer(raw.sourceId),
        payload={k: v for k, v in payload.items() if v is not None},
    )


def _writer(source_id: str | None) -> str | None:
    """`userId:76023669` (a UI user) → `76023669`; an app's id as it is."""
    if not source_id:
        return None
    return source_id.split(":", 1)[1] if source_id.startswith("userId:") else source_id


def hsmeta(
    documents: Iterable[SettingsDocument], *, target_url: str, max_concurrent_requests: int = 10
) -> dict[str, Any]:
    """The project app's `webhooks/webhooks-hsmeta.json` for the settings of every HubSpot tenant of a deployment
    (reference §6.1): for each object any tenant syncs from HubSpot, its creation and deletion, and a propertyChange
    per property any tenant maps from HubSpot (plus `dealstage` for deals). Raises ValueError past HubSpot's 1,000
    subscriptions per app."""
    properties: dict[CrmObject, set[str]] = {}
    for document in documents:
        for obj in HSMETA_OBJECTS:
            if not document.objects.for_object(obj).direction.inbound:
                continue
            wanted = properties.setdefault(obj, set(ALWAYS_SUBSCRIBED.get(obj, ())))
            wanted.update(m.crm_field for m in document.field_mappings.for_object(obj) if m.inbound)
    subscriptions: list[dict[str, Any]] = []
    for obj, object_type in HSMETA_OBJECTS.items():
        if obj not in properties:
            continue
        subscriptions += [
            {"subscriptionType": f"object.{kind}", "objectType": object_type, "active": True}
            for kind in ("creation", "deletion")
        ]
        subscriptions += [
            {"subscriptionType": "object.propertyChange", "objectType": object_type, "propertyName": name,
             "active": True}
            for name in sorted(properties[obj] - UNSUBSCRIBABLE)
        ]  # fmt: skip
    if len(subscriptions) > MAX_SUBSCRIPTIONS:
        raise ValueError(f"{len(subscriptions)} subscriptions: HubSpot allows {MAX_SUBSCRIPTIONS} per app")
    return {
        "uid": "leadbridge_webhooks",
        "type": "webhooks",
        "config": {
            "settings": {"targetUrl": target_url, "maxConcurrentRequests": max_concurrent_requests},
            "subscriptions": {"crmObjects": subscriptions},
        },
    }
