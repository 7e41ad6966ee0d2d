"""A minimal CRM kept in memory, built the way docs/adding-a-crm.md says a CRM package is built: a `CrmProvider`
(profile, default settings, request budget, metadata cache policy, OAuth flow, connector, webhook verifier) and a
`Connector` that uses the kit's paginator. Registered from a test with `registered(...)`, it goes through export and
inbound sync with no change to sync code: nothing in `leadbridge` names it.

The "CRM" is `MemoryCrm`: records per object with ids and change times from an injected clock, like a CRM's database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge.crm.base import (
    AuthorizationRequest,
    ConnectionContext,
    TokenSource,
    WebhookRequest,
    register,
    unregister,
)
from leadbridge.crm.metadata_cache import MetadataCachePolicy
from leadbridge.crm.paging import check_next_token, keyset_pages
from leadbridge.crm.profile import SEED_APP_STAGES, CrmProfile, field_mapping, seed_starting_sections
from leadbridge.errors import CrmNotFound, InvalidCursor, WebhookRejected
from leadbridge.models.crm import (
    ChangePage,
    CrmObject,
    CrmObjectInfo,
    CrmRecord,
    CrmUser,
    FieldInfo,
    FieldType,
    Grant,
    Stage,
    StageKind,
    WebhookEvent,
    WebhookRegistration,
)
from leadbridge.models.settings import SettingsDocument

NAME = "memcrm"
REQUEST_BUDGET = 500

PROFILE = CrmProfile(
    label="Memory CRM",
    objects={
        CrmObject.COMPANY: "Organisation",
        CrmObject.PERSON: "Member",
        CrmObject.DEAL: "Opportunity",
        CrmObject.ACTIVITY: "Todo",
    },
    owner_field=None,
    stage_field="stage",
    status_field=None,
)

# The CRM's fields per object: what `fields()` reports and what a write keeps (anything else is skipped).
FIELDS: dict[CrmObject, tuple[str, ...]] = {
    CrmObject.COMPANY: ("name", "website", "org_no", "phone", "city"),
    CrmObject.PERSON: ("first", "last", "email", "title"),
    CrmObject.DEAL: ("title", "amount", "stage"),
    CrmObject.ACTIVITY: ("subject",),
}


def default_settings() -> SettingsDocument:
    """Companies and persons both ways (the app's records out, the CRM's changes in); deals and activities off."""

    def both(app: str, crm: str) -> dict[str, Any]:
        return field_mapping(app, crm, direction="both")

    return SettingsDocument.model_validate(
        {
            "crm": NAME,
            "objects": {
                "company": {"crm_object": "Organisation", "direction": "both"},
                "person": {"crm_object": "Member", "direction": "both"},
                "deal": {"crm_object": "Opportunity", "direction": "off"},
                "activity": {"crm_object": "Todo", "direction": "off"},
            },
            "field_mappings": {
                "company": [
                    both("company_name", "name"),
                    both("website", "website"),
                    both("org_number", "org_no"),
                    both("phone", "phone"),
                    both("city", "city"),
                ],
                "person": [
                    both("first_name", "first"),
                    both("last_name", "last"),
                    both("email", "email"),
                    both("title", "title"),
                ],
            },
            "status_mapping": {"app_stages": list(SEED_APP_STAGES), "stages": [], "create_at_stage": "Lead"},
            **seed_starting_sections(),
            "initial_import": True,
            "country_mapping": {},
        }
    )


@dataclass
class MemoryCrm:
    """The CRM's side: its records, the change times it stamps (from `clock`, strictly increasing, like a database
    sequence), its webhooks."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    records: dict[CrmObject, dict[str, CrmRecord]] = field(default_factory=lambda: {o: {} for o in CrmObject})
    webhooks: dict[str, WebhookRegistration] = field(default_factory=dict)
    next_id: int = 100
    now: datetime = datetime(2000, 1, 1, tzinfo=UTC)  # the last change time stamped

    def tick(self) -> datetime:
        self.now = max(self.clock(), self.now + timedelta(milliseconds=1))
        return self.now

    def save(self, obj: CrmObject, fields: Mapping[str, Any], *, record_id: str | None = None,
             parent_id: str | None = None) -> CrmRecord:  # fmt: skip
        """A record written by anyone (leadbridge or a CRM user): new id or merged fields, a new change time."""
        if record_id is None:
            self.next_id += 1
            record_id = str(self.next_id)
            current = CrmRecord(object=obj, id=record_id, parent_id=parent_id, created_at=self.now)
        else:
            current = self.records[obj].get(record_id) or _missing(obj, record_id)
        record = current.model_copy(
            update={"fields": {**current.fields, **fields}, "updated_at": self.tick(), "url": _url(obj, record_id)}
        )
        self.records[obj][record_id] = record
        return record


class MemoryConnector:
    """`Connector` over a `MemoryCrm`: the members sync code uses, and nothing it does not."""

    crm = NAME

    def __init__(self, crm: MemoryCrm, context: ConnectionContext, tokens: TokenSource, *, page_size: int = 2) -> None:
        self.memory = crm
        self.context = context
        self.tokens = tokens
        self.page_size = page_size
        self.calls: Counter[str] = Counter()
        self._skipped: list[str] = []

    # --- what sync code reports ---
    def request_count(self) -> int:
        return sum(self.calls.values())

    def take_skipped_fields(self) -> list[str]:
        skipped, self._skipped = self._skipped, []
        return skipped

    # --- metadata ---
    def objects(self) -> list[CrmObjectInfo]:
        return [CrmObjectInfo(object=o, crm_name=name, label=name) for o, name in PROFILE.objects.items()]

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        self._call("fields")
        return [FieldInfo(name=n, label=n.title(), type=FieldType.STRING, length=255) for n in FIELDS[obj]]

    def stages(self) -> list[Stage]:
        return [Stage(id=s, name=s, kind=StageKind.OPEN, rank=i) for i, s in enumerate(SEED_APP_STAGES)]

    def users(self) -> list[CrmUser]:
        return [CrmUser(id="u1", name="Memory Admin", email="admin@memcrm.test")]

    # --- records ---
    def get(self, obj: CrmObject, record_id: str) -> CrmRecord:
        self._call(f"{obj.value}.get")
        return self.memory.records[obj].get(record_id) or _missing(obj, record_id)

    def create(
        self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None, person_id: str | None = None
    ) -> CrmRecord:
        self._call(f"{obj.value}.create")
        return self.memory.save(obj, self._known(obj, fields), parent_id=parent_id)

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        self._call(f"{obj.value}.update")
        return self.memory.save(obj, self._known(obj, fields), record_id=record_id)

    def delete(self, obj: CrmObject, record_id: str) -> None:
        self._call(f"{obj.value}.delete")
        self.memory.records[obj].pop(record_id, None)

    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
        org_nr_field: str | None = None,
        domain_field: str | None = None,
    ) -> list[CrmRecord]:
        self._call("company.search")
        org_key, site_key = org_nr_field or "org_no", domain_field or "website"
        found = []
        for record in self.memory.records[CrmObject.COMPANY].values():
            values = record.fields
            if (
                (org_nr and values.get(org_key) == org_nr)
                or (name and str(values.get("name") or "").casefold().startswith(name.casefold()))
                or (domain and domain in str(values.get(site_key) or ""))
            ):
                found.append(record)
        return found[:limit]

    def list_persons(self, company_id: str) -> list[CrmRecord]:
        self._call("person.list")
        return [r for r in self.memory.records[CrmObject.PERSON].values() if r.parent_id == company_id]

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        return _url(obj, record_id)

    # --- incremental reads ---
    def changes_since(self, obj: CrmObject, since: datetime, page_token: str | None = None) -> ChangePage:
        """Changed at or after `since`, oldest first, `page_size` to a page; the token is the offset."""
        self._call(f"{obj.value}.changes")
        if page_token is not None and not page_token.isdigit():
            raise InvalidCursor(f"Not a Memory CRM page token: {page_token!r}")
        offset = int(page_token or 0)
        changed = sorted(
            (r for r in self.memory.records[obj].values() if r.updated_at and r.updated_at >= since),
            key=lambda r: (r.updated_at, r.id),
        )
        page = changed[offset : offset + self.page_size]
        more = offset + len(page) < len(changed)
        next_token = str(offset + len(page)) if more else None
        next_token = check_next_token(NAME, f"{obj.value}.changes", page_token, next_token)
        return ChangePage(records=page, next_page_token=next_token)

    def deleted_since(self, obj: CrmObject, since: datetime) -> list[str]:
        return []  # this CRM cannot tell: reconciliation by `all_ids` finds deletions

    def all_ids(self, obj: CrmObject) -> Iterable[str]:
        def after(last: int | None) -> list[int]:
            self._call(f"{obj.value}.ids")
            ids = sorted(int(i) for i in self.memory.records[obj])
            return [i for i in ids if last is None or i > last][: self.page_size]

        return (str(i) for page in keyset_pages(after, lambda i: i, page_size=self.page_size, crm=NAME,
                                                op=f"{obj.value}.ids") for i in page)  # fmt: skip

    # --- webhooks ---
    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        self._call("webhook.create")
        registration = WebhookRegistration(id=f"wh{len(self.memory.webhooks) + 1}", url=url, events=events or ["*"])
        self.memory.webhooks[registration.id] = registration
        return registration

    def list_webhooks(self) -> list[WebhookRegistration]:
        return list(self.memory.webhooks.values())

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration:
        registration = self.memory.webhooks[webhook_id].model_copy(update={"active": True})
        self.memory.webhooks[webhook_id] = registration
        return registration

    def unregister_webhook(self, webhook_id: str) -> None:
        self.memory.webhooks.pop(webhook_id, None)

    # --- helpers ---
    def _call(self, op: str) -> None:
        self.tokens.access_token()  # like a real connector: every request carries a valid token
        self.calls[op] += 1

    def _known(self, obj: CrmObject, fields: Mapping[str, Any]) -> dict[str, Any]:
        self._skipped = [name for name in fields if name not in FIELDS[obj]]
        return {k: v for k, v in fields.items() if k in FIELDS[obj]}


class MemoryOAuth:
    """`OAuthFlow` of the Memory CRM: every code is good, tokens never expire."""

    def authorization_request(self, *, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        state = state or "state"
        return AuthorizationRequest(url=f"https://memcrm.test/authorize?state={state}", state=state, code_verifier="v")

    def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str, nonce: str | None = None) -> Grant:
        return Grant(access_token=f"at-{code}", refresh_token="rt", account_id="mem-1", api_base="https://memcrm.test")

    def refresh(self, grant: Grant) -> Grant:
        return grant.model_copy(update={"access_token": grant.access_token + "+"})

    def revoke(self, grant: Grant) -> None:
        return None


class MemoryWebhooks:
    """`WebhookVerifier`: HMAC-SHA256 of the body in `X-Memcrm-Signature`, events as a JSON list."""

    def verify(self, request: WebhookRequest, secret: str) -> bool:
        expected = hmac.new(secret.encode(), request.raw_body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.header("x-memcrm-signature") or "")

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            items = json.loads(request.raw_body)
        except ValueError as exc:
            raise WebhookRejected("Memory CRM webhook body is not JSON") from exc
        return [
            WebhookEvent(event_id=str(i["id"]), event=str(i["event"]), object=CrmObject(i["object"]),
                         record_id=str(i["record_id"]), account_id="mem-1", action=str(i["action"]))
            for i in items
        ]  # fmt: skip

    def test_response(self, events: list[WebhookEvent]) -> tuple[int, str, str] | None:
        return None


class MemoryCrmProvider:
    """The `CrmProvider` of the Memory CRM."""

    name = NAME
    label = PROFILE.label
    profile = PROFILE
    request_budget = REQUEST_BUDGET
    metadata_cache = MetadataCachePolicy(ttl_seconds=None)  # in memory already: nothing to share

    def __init__(self, crm: MemoryCrm, *, page_size: int = 2) -> None:
        self.memory = crm
        self.page_size = page_size
        self._oauth = MemoryOAuth()
        self._webhooks = MemoryWebhooks()

    def default_settings(self, objects: Mapping[str, str] | None = None) -> SettingsDocument:
        return default_settings()  # one choice of objects

    def oauth(self) -> MemoryOAuth:
        return self._oauth

    def connector(
        self, context: ConnectionContext, tokens: TokenSource, objects: Mapping[str, str] | None = None
    ) -> MemoryConnector:
        return MemoryConnector(self.memory, context, tokens, page_size=self.page_size)

    def webhooks(self) -> MemoryWebhooks:
        return self._webhooks


@contextmanager
def registered(crm: MemoryCrm, *, page_size: int = 2) -> Iterator[MemoryCrmProvider]:
    """The Memory CRM registered with leadbridge's CRM registry for the duration of the block."""
    provider = MemoryCrmProvider(crm, page_size=page_size)
    register(NAME, lambda: provider)
    try:
        yield provider
    finally:
        unregister(NAME)


def _url(obj: CrmObject, record_id: str) -> str:
    return f"https://memcrm.test/{obj.value}/{record_id}"


def _missing(obj: CrmObject, record_id: str) -> CrmRecord:
    raise CrmNotFound(f"Memory CRM has no {obj.value} {record_id}")
