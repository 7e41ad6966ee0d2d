"""The events AWS delivers to functions, built the way AWS builds them (HTTP API v2.0, SQS, EventBridge schedule).

Handler tests may use these builders too, so direct invocations and gateway requests see identical shapes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import ACCOUNT_ID, REGION

# HTTP APIs pass these bodies as text; everything else arrives base64-encoded with isBase64Encoded=true.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-javascript")


def is_text_content_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith(_TEXT_TYPES) or media.endswith(("+json", "+xml"))


def http_api_event(
    method: str,
    raw_path: str,
    *,
    route_key: str | None = None,
    raw_query: str = "",
    headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    body: bytes | str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    jwt_claims: Mapping[str, Any] | None = None,
    jwt_scopes: list[str] | None = None,
    source_ip: str = "127.0.0.1",
    api_id: str = "local",
    domain_name: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event.

    `headers` may repeat a name (joined with commas, as API Gateway does); the cookie header moves to `cookies`.
    `jwt_claims` are the verified token claims; they are flattened to strings the way the JWT authorizer does.
    """
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    domain = domain_name or merged.get("host", "127.0.0.1")
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {raw_path}",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id or _request_id(),
            "routeKey": route_key or f"{method.upper()} {raw_path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if jwt_claims is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": flatten_claims(jwt_claims), "scopes": jwt_scopes}
        }
    if body:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        text = None
        if is_text_content_type(merged.get("content-type")):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # not text after all: passed on as bytes (base64), never with bytes replaced
                text = None
        if text is not None:
            event["body"] = text
        else:
            event["body"] = base64.b64encode(raw).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _request_id() -> str:
    # API Gateway request ids look like "JKJaXmPLvHcESHA="; any unique token works for correlation.
    return base64.b64encode(uuid.uuid4().bytes[:10]).decode("ascii")


def _query_parameters(raw_query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        values[name] = f"{values[name]},{value}" if name in values else value
    return values


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """API Gateway's JWT authorizer hands claims to the function as strings: numbers as digits, lists as "[a b]"."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return "[" + " ".join(text(v) for v in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: text(value) for name, value in claims.items()}


def decode_path(raw_path: str) -> str:
    return unquote(raw_path)


# ------------------------------------------------------------------------------------------------ SQS


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """A Lambda SQS event record from an SQS ReceiveMessage message (with AttributeNames/MessageAttributeNames All)."""
    attributes = dict(message.get("Attributes") or {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": (base64.b64encode(value["BinaryValue"]).decode("ascii")
                                if value.get("BinaryValue") is not None else None),
                "stringListValues": list(value.get("StringListValues") or []),
                "binaryListValues": list(value.get("BinaryListValues") or []),
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


# ------------------------------------------------------------------------------------------------ schedules


def scheduled_event(rule_arn: str, *, at: datetime | None = None, region: str = REGION) -> dict[str, Any]:
    """The EventBridge "Scheduled Event" a Schedule event source delivers."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
