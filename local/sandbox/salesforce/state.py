"""`SalesforceState`: what the Salesforce sandbox knows (connected apps, orgs, users, metadata, records, sessions,
Outbound Messages) and the Python admin API over it.

State lives in memory, per org, behind one lock. The HTTP apps of the login and instance hosts read and change it;
`SalesforceSandbox` (sandbox.py) serves them. The same admin operations are served as JSON under `/__admin/` on the
login host (see README.md).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from local.sandbox.common import Fault
from local.sandbox.common.shell import SandboxShell
from local.sandbox.salesforce import soql
from local.sandbox.salesforce.convert import LeadConvert, LeadConvertResult, convert_lead
from local.sandbox.salesforce.model import (
    ApiError,
    OAuthApp,
    Org,
    OutboundMessage,
    RecordErrors,
    RefreshGrant,
    Session,
    Transaction,
    id18,
    render_value,
)
from local.sandbox.salesforce.outbound import Attempt, Notification, OutboundDispatcher
from local.sandbox.salesforce.schema import (
    CUSTOM_FIELD_TYPES,
    LEAD_STATUSES,
    OPPORTUNITY_STAGES,
    TEXT_TYPES,
    FieldDef,
    standard_objects,
)

API_VERSION = "v62.0"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                 "SystemModstamp")


class SalesforceState(SandboxShell):
    """The sandbox's state and admin API; `SalesforceSandbox` adds the hosts that serve it. Call counts are per org by
    operation (`call_counts(org_id)` → `{"POST /sobjects/Account": 1, "GET /query": 2}`), or under "login".

    Options:
    - `session_ttl` (s, default 7200): access tokens then answer 401 INVALID_SESSION_ID (no `expires_in` is sent).
    - `code_ttl` (s, default 600).
    - `query_batch_size` (default 2000): rows per query page; `Sforce-Query-Options: batchSize=N` lowers it.
    - `outbound_delay_factor`: multiplies Outbound Message retry intervals (15 s doubling up to 2 h).
    - `outbound_background`: deliver Outbound Messages from a background thread (else only on `tick_outbound()`).
    - `login_port`, `instance_port`: fixed ports for `make run`; 0 = ephemeral.
    """

    def __init__(
        self,
        *,
        session_ttl: int = 7200,
        code_ttl: int = 600,
        query_batch_size: int = 2000,
        outbound_delay_factor: float = 1.0,
        outbound_background: bool = True,
        login_port: int = 0,
        instance_port: int = 0,
    ) -> None:
        super().__init__()
        self.session_ttl = session_ttl
        self.code_ttl = code_ttl
        self.query_batch_size = query_batch_size
        self.outbound_background = outbound_background
        self.outbound = OutboundDispatcher(
            lock=self.lock, current_values=self._notification_values, endpoint=self._outbound_endpoint,
            base_url=lambda: self.instance_url, api_version=API_VERSION.lstrip("v"),
            delay_factor=outbound_delay_factor,
        )
        self._clear_state()
        self.login_port = login_port
        self.instance_port = instance_port
        self.serve_hosts()

    # --- hosts and workers --------------------------------------------------------------------------------------

    def serve_hosts(self) -> None:
        """Register the "login" and "instance" hosts: `SalesforceSandbox` does."""

    def start_workers(self) -> None:
        if self.outbound_background:
            self.outbound.start()

    def stop_workers(self) -> None:
        self.outbound.stop()

    @property
    def login_base(self) -> str:
        return self.host_url("login")

    @property
    def instance_url(self) -> str:
        return self.host_url("instance")

    def _clear_state(self) -> None:
        self.apps: dict[str, OAuthApp] = {}
        self.orgs: dict[str, Org] = {}
        self.codes: dict[str, Any] = {}
        self.sessions: dict[str, Session] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}
        self.query_locators: dict[str, tuple[str, list[dict[str, Any]], int]] = {}
        self._org_numbers = iter(range(1, 10**6))
        self._transactions: list[Transaction] = []  # open ones, innermost last (behind the lock)

    def reset(self) -> None:
        """Forget everything: apps, orgs, tokens, faults, call counts, queued Outbound Messages."""
        with self.lock:
            self._clear_state()
        super().reset()
        self.outbound.clear()

    # --- apps, orgs, users --------------------------------------------------------------------------------------

    def register_app(self, redirect_uris: list[str], *, client_id: str | None = None,
                     client_secret: str | None = None, name: str = "Connected app") -> OAuthApp:
        app = OAuthApp(client_id or "3MVG9" + secrets.token_urlsafe(60)[:80], client_secret or secrets.token_hex(32),
                       list(redirect_uris), name)
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def add_org(self, name: str = "Sandbox Org", *, org_id: str | None = None, api_limit: int = 100_000,
                country: str | None = None, locale: str = "en_US", time_zone: str = "Europe/London",
                organization_type: str = "Enterprise Edition") -> Org:
        """An org (its `Organization` record has `name` and the other arguments); standard stages and statuses."""
        with self.lock:
            number = next(self._org_numbers)
            org = Org(org_id=org_id or _org_id(number), name=name, instance=f"{number % 36:01X}g",
                      objects=standard_objects(), api_limit=api_limit)
            if org.org_id in self.orgs:
                raise ValueError(f"org {org.org_id} exists")
            org.records = {n: {} for n in org.objects}
            org.deleted = {n: [] for n in org.objects}
            self.orgs[org.org_id] = org
            self._insert_raw(org, "Organization", {
                "Name": name, "Country": country, "DefaultLocaleSidKey": locale, "LanguageLocaleKey": locale,
                "TimeZoneSidKey": time_zone, "IsSandbox": False, "OrganizationType": organization_type,
            }, record_id=org.org_id)
            for sort, (label, prob, closed, won, forecast) in enumerate(OPPORTUNITY_STAGES, start=1):
                self._insert_raw(org, "OpportunityStage", {
                    "MasterLabel": label, "ApiName": label, "IsActive": True, "IsClosed": closed, "IsWon": won,
                    "DefaultProbability": prob, "ForecastCategoryName": forecast, "SortOrder": sort})
            for sort, (label, converted, default) in enumerate(LEAD_STATUSES, start=1):
                self._insert_raw(org, "LeadStatus", {"MasterLabel": label, "ApiName": label,
                                                     "IsConverted": converted, "IsDefault": default,
                                                     "SortOrder": sort})
        return org

    def org(self, org_id: str) -> Org:
        with self.lock:
            found = self.orgs.get(org_id)
        if found is None:
            raise KeyError(f"no org {org_id}")
        return found

    def add_user(self, org_id: str, email: str, *, name: str | None = None, is_admin: bool = False,
                 active: bool = True) -> str:
        """A user who can sign in (by e-mail or username); returns the user id (005...)."""
        org = self.org(org_id)
        full = name or email.split("@")[0].replace(".", " ").title()
        first, _, last = full.rpartition(" ")
        with self.lock:
            user_id = self._insert_raw(org, "User", {
                "Username": email, "Email": email, "FirstName": first or None, "LastName": last or full,
                "Name": full, "IsActive": active})
            if is_admin:
                org.admins.add(user_id)
        return user_id

    def find_user(self, login: str, org_id: str | None = None) -> tuple[Org, str] | None:
        with self.lock:
            for org in self.orgs.values():
                if org_id and org.org_id != org_id:
                    continue
                for user_id, user in org.records["User"].items():
                    if login.lower() in (str(user["Username"]).lower(), str(user["Email"]).lower()):
                        return org, user_id
        return None

    def users(self) -> list[tuple[Org, dict[str, Any]]]:
        with self.lock:
            return [(o, u) for o in self.orgs.values() for u in o.records["User"].values()]

    # --- metadata -------------------------------------------------------------------------------------------------

    def add_custom_field(self, org_id: str, sobject: str, name: str, field_type: str, *, label: str | None = None,
                         length: int | None = None, required: bool = False, picklist: list[str] | None = None,
                         restricted: bool = False, external_id: bool = False, unique: bool = False) -> FieldDef:
        """A custom field `Name__c` on an object (as Setup → Object Manager creates it)."""
        if not name.endswith("__c"):
            raise ValueError("custom field API names end in __c")
        if field_type not in CUSTOM_FIELD_TYPES:
            raise ValueError(f"field_type must be one of {sorted(CUSTOM_FIELD_TYPES)}")
        org = self.org(org_id)
        with self.lock:
            obj = org.objects.get(sobject)
            if obj is None or not obj.createable:
                raise ValueError(f"{sobject} does not take custom fields here")
            if obj.field(name) is not None:
                raise ValueError(f"{sobject}.{name} exists")
            default_length = {"string": 255, "textarea": 131072, "email": 80, "phone": 40, "url": 255,
                              "picklist": 255, "multipicklist": 4099}.get(field_type, 0)
            fdef = FieldDef(name, field_type, label or name[:-3].replace("_", " "), length or default_length,
                            nillable=not required, picklist=list(picklist or []), restricted=restricted,
                            custom=True, external_id=external_id, unique=unique,
                            precision=18 if field_type in ("double", "currency", "percent") else 0)
            obj.fields[name] = fdef
        return fdef

    def remove_custom_field(self, org_id: str, sobject: str, name: str) -> None:
        """Delete a custom field (Setup → Object Manager → Delete): gone from describe and from every record; a
        write naming it is then refused with INVALID_FIELD "No such column"."""
        org = self.org(org_id)
        with self.lock:
            obj = org.objects.get(sobject)
            fdef = obj.field(name) if obj is not None else None
            if obj is None or fdef is None or not fdef.custom:
                raise KeyError(f"no custom field {sobject}.{name}")
            del obj.fields[fdef.name]
            for record in org.records.get(sobject, {}).values():
                record.pop(fdef.name, None)

    def set_picklist(self, org_id: str, sobject: str, field_name: str, values: list[str], *,
                     restricted: bool | None = None) -> None:
        org = self.org(org_id)
        with self.lock:
            fdef = org.objects[sobject].field(field_name)
            if fdef is None:
                raise KeyError(f"no field {sobject}.{field_name}")
            fdef.picklist = list(values)
            if restricted is not None:
                fdef.restricted = restricted

    # --- records (shared by REST and admin) ---------------------------------------------------------------------

    def _insert_raw(self, org: Org, sobject: str, values: dict[str, Any], actor: str | None = None, *,
                    record_id: str | None = None) -> str:
        """Store without validation (system data: users, stages, statuses). Caller holds the lock."""
        obj = org.objects[sobject]
        record_id = record_id or org.next_id(obj.key_prefix)
        now = org.stamp()
        record: dict[str, Any] = {f: None for f in obj.fields}
        record.update(values)
        record.update({"Id": record_id, "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                       "SystemModstamp": now, "CreatedById": actor or record_id,
                       "LastModifiedById": actor or record_id})
        org.records[sobject][record_id] = record
        return record_id

    def sobject(self, org: Org, name: str) -> Any:
        obj = org.objects.get(name) or next((o for n, o in org.objects.items() if n.lower() == name.lower()), None)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def create(self, org_id: str, sobject: str, values: dict[str, Any], *, actor: str | None = None) -> str:
        """Validate and insert like `POST /sobjects/{sobject}`; returns the new id. Raises `ApiError`."""
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            if not obj.createable:
                raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert")
            actor = actor or self._default_actor(org)
            clean = self._validate(org, obj, values, creating=True)
            for fdef in obj.fields.values():
                if fdef.name not in clean and fdef.default_value is not None:
                    clean[fdef.name] = fdef.default_value
            if "OwnerId" in obj.fields and not clean.get("OwnerId"):
                clean["OwnerId"] = actor
            record_id = self._insert_raw(org, obj.name, clean, actor)
            self._derive(org, obj.name, org.records[obj.name][record_id])
            self._fire(org, obj.name, record_id)
            return record_id

    def update(self, org_id: str, sobject: str, record_id: str, values: dict[str, Any], *,
               actor: str | None = None) -> None:
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            record = self._live(org, obj.name, record_id)
            if not obj.updateable:
                raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update")
            check_updatable(obj.name, record)
            clean = self._validate(org, obj, values, creating=False)
            self.system_update(org, obj.name, record, clean, actor=actor)

    def system_update(self, org: Org, sobject: str, record: dict[str, Any], values: dict[str, Any], *,
                      actor: str | None = None) -> None:
        """Write already-checked values (or read-only ones Salesforce itself sets, as lead conversion does) like an
        update: modstamp, LastModifiedById, derived fields, Outbound Messages. Caller holds the lock."""
        record.update(values)
        now = org.stamp()
        record.update({"LastModifiedDate": now, "SystemModstamp": now,
                       "LastModifiedById": actor or self._default_actor(org)})
        self._derive(org, sobject, record)
        self._fire(org, sobject, record["Id"])

    def delete(self, org_id: str, sobject: str, record_id: str) -> None:
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            record = self._live(org, obj.name, record_id)
            if not obj.deletable:
                raise ApiError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support delete")
            del org.records[obj.name][record["Id"]]
            org.deleted[obj.name].append((record["Id"], org.stamp()))

    @contextmanager
    def transaction(self, org: Org) -> Iterator[Transaction]:
        """All or none: the org's records and replication logs as they were are put back when the block raises or
        calls `rollback()`; Outbound Messages of its writes are queued only on commit. Ids drawn stay drawn and the
        modstamp clock does not go back, as in Salesforce. Holds the lock throughout (nested blocks are fine).

        A snapshot of every record (shallow: stored values are immutable) — simple, and cheap at sandbox sizes."""
        with self.lock:
            records = {name: {rid: dict(rec) for rid, rec in rows.items()} for name, rows in org.records.items()}
            deleted = {name: list(rows) for name, rows in org.deleted.items()}
            tx = Transaction(org.org_id)
            self._transactions.append(tx)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                self._transactions.pop()
                if tx.rolled_back:
                    org.records, org.deleted = records, deleted
                elif self._transactions:
                    self._transactions[-1].notifications += tx.notifications
                else:
                    for note in tx.notifications:
                        self.outbound.enqueue(note)

    def convert_lead(self, org_id: str, lead_id: str, converted_status: str, *, actor: str | None = None,
                     **options: Any) -> LeadConvertResult:
        """Convert a Lead as SOAP `convertLead()` does (options: account_id, contact_id, do_not_create_opportunity,
        opportunity_name, owner_id, overwrite_lead_source). A failure comes back in the result, not raised."""
        org = self.org(org_id)
        request = LeadConvert(lead_id=lead_id, converted_status=converted_status, **options)
        return convert_lead(self, org, request, actor or self._default_actor(org))

    def get(self, org_id: str, sobject: str, record_id: str) -> dict[str, Any]:
        """The stored values (Python types), e.g. for test assertions."""
        org = self.org(org_id)
        with self.lock:
            return dict(self._live(org, self.sobject(org, sobject).name, record_id))

    def all_records(self, org_id: str, sobject: str) -> list[dict[str, Any]]:
        org = self.org(org_id)
        with self.lock:
            return [dict(r) for r in org.records[self.sobject(org, sobject).name].values()]

    def find_record(self, org: Org, record_id: str) -> tuple[str, dict[str, Any]] | None:
        for name, records in org.records.items():
            for rid, rec in records.items():
                if rid[:15] == record_id[:15]:
                    return name, rec
        return None

    def _live(self, org: Org, sobject: str, record_id: str) -> dict[str, Any]:
        if not re.fullmatch(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", record_id or ""):
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                             f"{record_id}")
        records = org.records[sobject]
        found = next((r for rid, r in records.items() if rid[:15] == record_id[:15]), None)
        if found is None:
            if any(rid[:15] == record_id[:15] for rid, _ in org.deleted[sobject]):
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return found

    def _default_actor(self, org: Org) -> str:
        return next(iter(org.admins), next(iter(org.records["User"]), "005000000000000AAA"))

    def _validate(self, org: Org, obj: Any, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Per-field checks in the order Salesforce reports them; all problems of the record in one answer."""
        errors: list[ApiError] = []
        clean: dict[str, Any] = {}
        invalid: set[str] = set()
        for key, raw in values.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            if not (fdef.createable if creating else fdef.updateable):
                what = "create" if creating else "update"
                raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                               f"Unable to {what} fields: {fdef.name}. Please check the security settings of this "
                               "field and verify that it is read/write for your profile or permission set.",
                               [fdef.name])
            invalid.add(fdef.name)  # until it passes every check below
            value = _coerce(fdef, raw)
            if isinstance(value, str) and value == "":
                value = None
            if value is not None and fdef.type in TEXT_TYPES and fdef.length and len(str(value)) > fdef.length:
                errors.append(ApiError(400, "STRING_TOO_LONG",
                                       f"{fdef.label}: data value too large: {str(value)[:40]} "
                                       f"(max length={fdef.length})", [fdef.name]))
                continue
            if value is not None and fdef.type == "picklist" and fdef.restricted and value not in fdef.picklist:
                errors.append(ApiError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                       f"{fdef.label}: bad value for restricted picklist field: {value}",
                                       [fdef.name]))
                continue
            if value is not None and fdef.type == "email" and not _EMAIL.match(str(value)):
                errors.append(ApiError(400, "INVALID_EMAIL_ADDRESS", f"{fdef.label}: invalid email address: {value}",
                                       [fdef.name]))
                continue
            if value is not None and fdef.type == "reference":
                target = self.find_record(org, str(value))
                if target is None or (fdef.reference_to and target[0] not in fdef.reference_to):
                    errors.append(ApiError(400, "FIELD_INTEGRITY_EXCEPTION" if target else "MALFORMED_ID",
                                           f"{fdef.label}: id value of incorrect type: {value}", [fdef.name]))
                    continue
                value = target[1]["Id"]
            clean[fdef.name] = value
            invalid.discard(fdef.name)
        required = [f.name for f in obj.fields.values() if f.name not in invalid and (
            (f.required_on_create and clean.get(f.name) is None) if creating else
            (not f.nillable and f.name in clean and clean[f.name] is None))]
        if required:
            errors.insert(0, ApiError(400, "REQUIRED_FIELD_MISSING",
                                      f"Required fields are missing: [{', '.join(required)}]", required))
        if errors:
            raise RecordErrors(errors)
        return clean

    def _derive(self, org: Org, sobject: str, record: dict[str, Any]) -> None:
        """Fields Salesforce computes: names, IsClosed/IsWon from the stage, Task.IsClosed and AccountId."""
        if sobject in ("Contact", "Lead", "User"):
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        if sobject == "Lead" and record.get("IsConverted") is None:
            record["IsConverted"] = False
        if sobject == "Opportunity":
            stage = next((s for s in org.records["OpportunityStage"].values()
                          if s["ApiName"] == record.get("StageName")), None)
            if stage is not None:
                record["IsClosed"], record["IsWon"] = stage["IsClosed"], stage["IsWon"]
                record["ForecastCategoryName"] = stage["ForecastCategoryName"]
                if record.get("Probability") is None:
                    record["Probability"] = stage["DefaultProbability"]
        if sobject == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"
            account = None
            what = self.find_record(org, record["WhatId"]) if record.get("WhatId") else None
            if what and what[0] == "Account":
                account = what[1]["Id"]
            elif what and what[0] == "Opportunity":
                account = what[1].get("AccountId")
            who = self.find_record(org, record["WhoId"]) if record.get("WhoId") else None
            if account is None and who and who[0] == "Contact":
                account = who[1].get("AccountId")
            record["AccountId"] = account

    # --- queries --------------------------------------------------------------------------------------------------

    def query(self, org_id: str, text: str, *, include_deleted: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """Run SOQL; returns (object name, matching records as stored). Raises `soql.SoqlError`."""
        org = self.org(org_id)
        parsed = soql.parse(text)
        with self.lock:
            obj = soql.find_object(org.objects, parsed.sobject)
            soql.check_fields(parsed, obj)
            soql.resolve_semijoins(parsed, obj, org.objects, org.records)  # each sub-select runs once, here
            # deleted rows are kept only as ids here: queryAll adds nothing beyond live rows
            rows = soql.select_rows(parsed, obj, org.records[obj.name].values())
            if parsed.count_only:
                return obj.name, [{"__count__": len(rows)}]
            names = [obj.field(f).name for f in parsed.fields]  # type: ignore[union-attr]
            # "__id" only feeds `attributes.url`; render() drops it.
            return obj.name, [{"__id": r["Id"], **{n: r.get(n) for n in names}} for r in rows]

    def deleted_between(self, org_id: str, sobject: str, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            return [(rid, when) for rid, when in org.deleted[obj.name] if start <= when <= end]

    def updated_between(self, org_id: str, sobject: str, start: datetime, end: datetime) -> list[str]:
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            return [rid for rid, r in org.records[obj.name].items() if start <= r["SystemModstamp"] <= end]

    # --- Outbound Messages --------------------------------------------------------------------------------------

    def add_outbound_message(self, org_id: str, sobject: str, endpoint_url: str,
                             fields: Iterable[str] | None = None, *, name: str = "leadbridge") -> OutboundMessage:
        """An Outbound Message action on `sobject` whose rule fires on create and every edit."""
        org = self.org(org_id)
        with self.lock:
            obj = self.sobject(org, sobject)
            chosen = list(fields) if fields is not None else ["Id", *[
                f for f in obj.fields if f not in SYSTEM_FIELDS and obj.fields[f].type not in ("textarea",)]]
            if "Id" not in chosen:
                chosen.insert(0, "Id")
            message = OutboundMessage(org.next_id("04k"), obj.name, endpoint_url, chosen, name)
            org.outbound[message.id] = message
        return message

    def remove_outbound_message(self, org_id: str, action_id: str) -> None:
        org = self.org(org_id)
        with self.lock:
            org.outbound.pop(action_id, None)

    def _fire(self, org: Org, sobject: str, record_id: str) -> None:
        for message in org.outbound.values():
            if message.active and message.sobject == sobject:
                note = Notification(org.next_id("04l"), message.id, org.org_id, sobject, record_id, time.time())
                note.snapshot = self._values_for(org, message, record_id) or {}
                if self._transactions:  # sent once the transaction commits
                    self._transactions[-1].notifications.append(note)
                else:
                    self.outbound.enqueue(note)

    def _values_for(self, org: Org, message: OutboundMessage, record_id: str) -> dict[str, Any] | None:
        record = org.records[message.sobject].get(record_id)
        if record is None:
            return None
        return {f: record.get(f) for f in message.fields}

    def _notification_values(self, note: Notification) -> dict[str, Any] | None:
        org = self.orgs.get(note.org_id)
        message = org.outbound.get(note.action_id) if org else None
        return self._values_for(org, message, note.record_id) if org and message else None

    def _outbound_endpoint(self, action_id: str) -> str | None:
        for org in self.orgs.values():
            if action_id in org.outbound:
                return org.outbound[action_id].endpoint_url
        return None

    def tick_outbound(self, *, force: bool = False) -> list[Attempt]:
        """Deliver due Outbound Messages now (`force`: ignore retry intervals)."""
        return self.outbound.tick(force=force)

    @property
    def outbound_attempts(self) -> list[Attempt]:
        with self.lock:
            return list(self.outbound.attempts)

    def wait_for_outbound(self, predicate: Callable[[list[Attempt]], bool], timeout: float = 10.0) -> list[Attempt]:
        deadline = time.monotonic() + timeout
        while True:
            attempts = self.outbound_attempts
            if predicate(attempts) or time.monotonic() > deadline:
                return attempts
            time.sleep(0.02)

    # --- tokens, faults, counts -----------------------------------------------------------------------------------

    def new_session(self, org_id: str, user_id: str, client_id: str, refresh_token: str | None) -> Session:
        token = f"{org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        session = Session(token, client_id, org_id, user_id, time.time() + self.session_ttl, refresh_token)
        self.sessions[token] = session
        return session

    def session_for(self, token: str) -> Session | None:
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.revoked or time.time() >= session.expires_at:
                return None
            return session

    def expire_sessions(self, org_id: str | None = None) -> int:
        """End every access token's session (of one org, or all): the API answers 401 INVALID_SESSION_ID."""
        with self.lock:
            hit = [s for s in self.sessions.values() if org_id is None or s.org_id == org_id]
            for session in hit:
                session.expires_at = time.time() - 1
        return len(hit)

    def revoke_refresh_tokens(self, org_id: str, client_id: str | None = None) -> int:
        """The user or admin revokes the app's access: refresh → invalid_grant, access tokens → 401."""
        with self.lock:
            count = 0
            for grant in self.refresh_grants.values():
                if grant.org_id == org_id and (client_id is None or grant.client_id == client_id):
                    grant.revoked = True
                    count += 1
            for session in self.sessions.values():
                if session.org_id == org_id and (client_id is None or session.client_id == client_id):
                    session.revoked = True
        return count

    def set_api_usage(self, org_id: str, used: int, limit: int | None = None) -> None:
        org = self.org(org_id)
        with self.lock:
            org.api_usage = used
            if limit is not None:
                org.api_limit = limit

    def inject_fault(self, kind: str | int, *, count: int | None = 1, path_prefix: str | None = None,
                     method: str | None = None, org_id: str | None = None, seconds: float = 0.0,
                     retry_after: int | None = None, message: str | None = None) -> Fault:
        """Make matching requests fail: a status ("503", "500", "429", "403" = REQUEST_LIMIT_EXCEEDED, "401" =
        INVALID_SESSION_ID), "latency" or "timeout" (hang `seconds`). `path_prefix` matches the path without the
        version (`/sobjects/Account`, `/query`) or the full path (`/services/oauth2/token`)."""
        return self.faults.add(kind, count=count, path_prefix=path_prefix, method=method, scope=org_id,
                               seconds=seconds, retry_after=retry_after, message=message)

    def render(self, org: Org, sobject: str, values: dict[str, Any], version: str = API_VERSION) -> dict[str, Any]:
        record_id = values.get("__id") or values.get("Id")
        attributes: dict[str, Any] = {"type": sobject}
        if record_id:
            attributes["url"] = f"/services/data/{version}/sobjects/{sobject}/{record_id}"
        return {"attributes": attributes, **{k: render_value(v) for k, v in values.items() if k != "__id"}}


def check_updatable(sobject: str, record: dict[str, Any]) -> None:
    """A converted Lead is read-only (it still reads and queries)."""
    if sobject == "Lead" and record.get("IsConverted"):
        raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])


def _org_id(number: int) -> str:
    return id18(f"00D{number:012d}"[:15])


def _coerce(fdef: FieldDef, raw: Any) -> Any:
    """JSON value → stored value, failing the way the REST API's JSON parser does."""
    if raw is None:
        return None

    def bad() -> ApiError:
        return ApiError(400, "JSON_PARSER_ERROR",
                        f"Cannot deserialize instance of {fdef.type} from {type(raw).__name__} value {raw!r} or "
                        "request may be missing a required field", [fdef.name])

    if fdef.type in ("int",):
        if isinstance(raw, bool):
            raise bad()
        if isinstance(raw, (int, float)) and float(raw).is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        raise bad()
    if fdef.type in ("double", "currency", "percent"):
        if isinstance(raw, bool):
            raise bad()
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise bad() from None
    if fdef.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise bad()
    if fdef.type == "date":
        try:
            return date.fromisoformat(str(raw)[:10])
        except ValueError:
            raise bad() from None
    if fdef.type == "datetime":
        try:
            return soql.parse_datetime(str(raw))
        except ValueError:
            raise bad() from None
    if isinstance(raw, (dict, list)):
        raise bad()
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return uuid.uuid4().hex
