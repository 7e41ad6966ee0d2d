"""`SuperOfficeState`: what the SuperOffice sandbox knows (apps, customers, users, tokens, records, custom fields,
selections, webhooks) and the Python admin API over it.

State lives in memory, per customer, behind one lock. The HTTP apps of the login and API hosts read and change it;
`SuperOfficeSandbox` (sandbox.py) serves them. The same admin operations are served as JSON under `/__admin/` on the
login host (see README.md).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from local.sandbox.common import Fault, SigningKey
from local.sandbox.common.shell import SandboxShell
from local.sandbox.superoffice import entities, udef
from local.sandbox.superoffice.entities import KINDS, Renderer
from local.sandbox.superoffice.model import (
    AccessToken,
    ApiError,
    AuthCode,
    Customer,
    OAuthApp,
    RefreshToken,
    Selection,
    UdefField,
    User,
    utcnow,
)
from local.sandbox.superoffice.speccheck import SpecChecker, load_spec
from local.sandbox.superoffice.webhooks import Delivery, WebhookDispatcher

TENANT_STATES = {
    "Unknown": 0, "Provisioning": 1, "Running": 2, "Deleted": 3, "Suspended": 4, "OnlineMaintenance": 5,
    "OfflineMaintenance": 6, "ProvisioningFailed": 8, "Deleting": 10, "DeleteFailed": 11, "MigrationPending": 12,
}
USABLE_STATES = ("Running", "OnlineMaintenance")


class SuperOfficeState(SandboxShell):
    """The sandbox's state and admin API; `SuperOfficeSandbox` adds the hosts that serve it. Call counts are per
    customer by operation (`call_counts("Cust12345")` → `{"GET /api/v1/Contact/{id}": 3}`); login-host requests are
    under `call_counts("login")`.

    Options:
    - `api_host_count`: number of numbered API hosts (>= 2).
    - `login_port`, `api_ports`: fixed ports for `make run`; 0 / None = ephemeral.
    - `spec_check`: validate every REST request and JSON response against the official spec; findings land in
      `spec_violations`.
    - `access_token_ttl` (s, default 3600), `id_token_ttl` (s, default 300), `code_ttl` (s, default 600).
    - `webhook_delay_factor`: multiplies the 1 s / 4 s retry delays (tests use ~0.01).
    - `overlong_text`: "truncate" (default) or "reject" (400) for text longer than the field's length. The real
      API's behaviour is not documented; clients should truncate to `FieldLength` / `TextLength` themselves.
    - `odata_max_top`: cap for `$top` (default 1000, the documented best-practice page size).
    - `archive_raw_values`: `$mode=Full` cells carry a typed `RawValue` beside the encoded `DisplayValue` (ref §7
      shows both; SOD `encoded-values.md` says clients without SuperOffice's proxies see only `DisplayValue`).
      False leaves `RawValue` out (null), so clients must decode `DisplayValue`.
    - `webhooks_enabled`: False makes the Webhook API answer 403, as for an app without webhook access.
    - `allow_http_webhooks`: accept http:// target URLs on 127.0.0.1/localhost (the real API demands HTTPS).
    """

    def __init__(
        self,
        *,
        api_host_count: int = 2,
        login_port: int = 0,
        api_ports: Iterable[int] | None = None,
        spec_check: bool = True,
        access_token_ttl: int = 3600,
        id_token_ttl: int = 300,
        code_ttl: int = 600,
        webhook_delay_factor: float = 1.0,
        overlong_text: str = "truncate",
        odata_max_top: int = 1000,
        archive_raw_values: bool = True,
        webhooks_enabled: bool = True,
        allow_http_webhooks: bool = True,
    ) -> None:
        super().__init__()
        if api_host_count < 2:
            raise ValueError("api_host_count must be >= 2 (customers move between hosts)")
        if overlong_text not in ("truncate", "reject"):
            raise ValueError("overlong_text must be 'truncate' or 'reject'")
        self.spec = load_spec()
        self.checker = SpecChecker(self.spec)
        self.renderer = Renderer(self.spec)
        self.spec_check = spec_check
        self.access_token_ttl = access_token_ttl
        self.id_token_ttl = id_token_ttl
        self.code_ttl = code_ttl
        self.overlong_text = overlong_text
        self.odata_max_top = odata_max_top
        self.archive_raw_values = archive_raw_values
        self.webhooks_enabled = webhooks_enabled
        self.allow_http_webhooks = allow_http_webhooks
        self.signing_key = SigningKey("superoffice-sandbox")
        self._violations: list[str] = []
        self.webhooks = WebhookDispatcher(self.lock, self._webhook_lookup, delay_factor=webhook_delay_factor)
        self._clear_state()
        ports = list(api_ports) if api_ports is not None else [0] * api_host_count
        if len(ports) != api_host_count:
            raise ValueError("api_ports must name one port per API host")
        self.login_port = login_port
        self.api_ports = ports
        self.serve_hosts()

    # --- hosts and workers --------------------------------------------------------------------------------------

    def serve_hosts(self) -> None:
        """Register the login host ("login") and the API hosts ("api0", "api1", ...): `SuperOfficeSandbox` does."""

    def stop_workers(self) -> None:
        self.webhooks.stop()

    @property
    def login_base(self) -> str:
        return self.host_url("login")

    @property
    def api_hosts(self) -> list[str]:
        return [self.host_url(f"api{index}") for index in range(len(self.api_ports))]

    @property
    def issuer(self) -> str:
        return self.login_base

    def api_base(self, ctx: str) -> str:
        """`{api_host}/{ctx}` for the customer's current host."""
        return f"{self.api_hosts[self.customer(ctx).api_host]}/{ctx}"

    def webapi_url(self, ctx: str) -> str:
        return f"{self.api_base(ctx)}/api/"

    # --- spec violations ----------------------------------------------------------------------------------------

    @property
    def spec_violations(self) -> list[str]:
        with self.lock:
            return list(self._violations)

    def record_violations(self, items: list[str]) -> None:
        if items:
            with self.lock:
                self._violations.extend(items)

    def clear_spec_violations(self) -> None:
        with self.lock:
            self._violations.clear()

    # --- reset --------------------------------------------------------------------------------------------------

    def _clear_state(self) -> None:
        self.apps: dict[str, OAuthApp] = {}
        self.customers: dict[str, Customer] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self._person_ids = iter(range(900_001, 10**9))

    def reset(self) -> None:
        """Forget everything: apps, customers, tokens, faults, call counts, deliveries, spec violations."""
        with self.lock:
            self._clear_state()
            self._violations.clear()
        super().reset()
        self.webhooks.clear_deliveries()

    # --- apps, customers, users ---------------------------------------------------------------------------------

    def register_app(
        self,
        redirect_uris: list[str],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        name: str = "Sandbox app",
    ) -> OAuthApp:
        app = OAuthApp(
            client_id=client_id or uuid.uuid4().hex,
            client_secret=client_secret or secrets.token_hex(16),
            redirect_uris=list(redirect_uris),
            name=name,
        )
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def add_customer(
        self, ctx: str, company_name: str = "", *, api_host: int = 0, serial: str | None = None
    ) -> Customer:
        if not ctx.startswith("Cust") or not ctx[4:].isdigit():
            raise ValueError("customer ids look like Cust12345")
        self._check_api_host(api_host)
        customer = Customer(
            ctx=ctx, company_name=company_name or f"{ctx} AS", api_host=api_host,
            serial=serial or str(1_800_000_000 + int(ctx[4:])),
        )
        with self.lock:
            if ctx in self.customers:
                raise ValueError(f"customer {ctx} exists")
            self.customers[ctx] = customer
        return customer

    def customer(self, ctx: str) -> Customer:
        with self.lock:
            found = self.customers.get(ctx)
        if found is None:
            raise KeyError(f"no customer {ctx}")
        return found

    def add_user(
        self,
        ctx: str,
        email: str,
        *,
        associate_id: int | None = None,
        full_name: str | None = None,
        initials: str | None = None,
        is_admin: bool = False,
    ) -> User:
        customer = self.customer(ctx)
        with self.lock:
            ident = associate_id or max([*customer.users, 100]) + 1
            if ident in customer.users:
                raise ValueError(f"associate {ident} exists in {ctx}")
            name = full_name or email.split("@")[0].replace(".", " ").title()
            user = User(
                ctx=ctx, email=email, associate_id=ident, person_id=next(self._person_ids), full_name=name,
                initials=initials or "".join(p[0] for p in name.split()[:2]).upper(), is_admin=is_admin,
            )
            customer.users[ident] = user
        return user

    def find_user(self, email: str, ctx: str | None = None) -> User | None:
        with self.lock:
            for customer in self.customers.values():
                if ctx and customer.ctx != ctx:
                    continue
                for user in customer.users.values():
                    if user.email.lower() == email.lower():
                        return user
        return None

    def move_customer(self, ctx: str, api_host: int) -> None:
        """Move a customer to another numbered host: its old host now answers 421 and clients must re-resolve via
        the Tenant Status API."""
        self._check_api_host(api_host)
        with self.lock:
            self.customer(ctx).api_host = api_host

    def _check_api_host(self, api_host: int) -> None:
        if not 0 <= api_host < len(self.api_ports):
            raise ValueError(f"api_host must be 0..{len(self.api_ports) - 1}")

    def set_customer_state(self, ctx: str, state: str) -> None:
        if state not in TENANT_STATES:
            raise ValueError(f"state must be one of {sorted(TENANT_STATES)}")
        with self.lock:
            self.customer(ctx).state = state

    # --- custom fields, selections, favourites ------------------------------------------------------------------

    def define_udef(
        self,
        ctx: str,
        entity: str,
        prog_id: str | None,
        label: str,
        field_type: str,
        *,
        text_length: int | None = None,
        list_items: dict[int, str] | None = None,
        mandatory: bool = False,
        read_only: bool = False,
    ) -> UdefField:
        """Publish a user-defined field. `prog_id=None` gives the default `SuperOffice:{UdefIdentity}`."""
        if entity not in KINDS:
            raise ValueError(f"entity must be one of {sorted(KINDS)}")
        if field_type not in udef.FIELD_TYPES:
            raise ValueError(f"field_type must be one of {udef.FIELD_TYPES}")
        customer = self.customer(ctx)
        with self.lock:
            identity = customer.next_id("udef", 1)
            fields = customer.udefs[entity]
            f = UdefField(
                entity=entity, prog_id=prog_id or f"SuperOffice:{identity}", label=label, field_type=field_type,
                text_length=text_length or udef.DEFAULT_TEXT_LENGTH.get(field_type, 0), udef_identity=identity,
                column_id=len(fields) + 1, list_table_id=(identity + 100) if field_type == "List" else 0,
                list_items=dict(list_items or {}), is_mandatory=mandatory, is_read_only=read_only,
            )
            if customer.udef(entity, f.prog_id) is not None:
                raise ValueError(f"{entity} udef {f.prog_id} exists")
            fields.append(f)
        return f

    def remove_udef(self, ctx: str, entity: str, prog_id: str) -> None:
        """Delete a user-defined field (Settings and maintenance → Fields → delete): gone from the layouts, the
        entities' CustomFields and their answers; a write naming it is ignored, as the real API ignores unknown
        ProgIds."""
        customer = self.customer(ctx)
        with self.lock:
            found = customer.udef(entity, prog_id)
            if found is None:
                raise KeyError(f"no {entity} udef {prog_id}")
            customer.udefs[entity].remove(found)

    def add_selection(
        self, ctx: str, name: str, *, target: str = "contact", member_ids: Iterable[int] = ()
    ) -> Selection:
        if target not in ("contact", "person"):
            raise ValueError("target must be 'contact' or 'person'")
        customer = self.customer(ctx)
        with self.lock:
            sel = Selection(customer.next_id("selection"), name, target, list(member_ids))
            customer.selections[sel.selection_id] = sel
        return sel

    def add_favourites(
        self, ctx: str, associate_id: int, *, contact_ids: Iterable[int] = (), person_ids: Iterable[int] = (),
        sale_ids: Iterable[int] = (),
    ) -> None:
        customer = self.customer(ctx)
        with self.lock:
            favs = customer.favourites.setdefault(associate_id, {"contact": [], "person": [], "sale": []})
            favs["contact"].extend(contact_ids)
            favs["person"].extend(person_ids)
            favs["sale"].extend(sale_ids)

    # --- records (shared by REST and admin) ---------------------------------------------------------------------

    def create(self, ctx: str, kind: str, body: dict[str, Any], *, as_associate: int | None = None) -> dict[str, Any]:
        """Create a record from API-shaped JSON (e.g. `{"Name": "Acme", "OrgNr": "12345678"}`); fires
        `<kind>.created`. Returns the rendered entity."""
        customer = self.customer(ctx)
        k = KINDS[kind]
        with self.lock:
            rec = entities.apply_input(customer, k, entities.new_record(k), body, overlong=self.overlong_text)
            entities.validate_record(customer, k, rec)
            rec[k.id_field] = customer.next_id(kind)
            now = utcnow()
            rec["CreatedDate"] = rec["UpdatedDate"] = now
            actor = as_associate or 0
            rec["CreatedBy"] = rec["UpdatedBy"] = actor
            if not rec["Associate"] and kind != "appointment" and actor in customer.users:
                rec["Associate"] = actor
            if kind == "appointment" and not rec["Associate"] and actor in customer.users:
                rec["Associate"] = actor
            customer.records[kind][rec[k.id_field]] = rec
            if kind == "person":
                customer.persons_by_contact.setdefault(rec["Contact"], set()).add(rec[k.id_field])
            self._fire(customer, k, "created", None, rec, actor)
            return self.render(customer, kind, rec)

    def update(
        self, ctx: str, kind: str, ident: int, body: dict[str, Any], *, as_associate: int | None = None,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Update from API-shaped JSON; `replace=True` is PUT (properties not given fall back to empty values,
        except custom fields, which keep values not mentioned)."""
        customer = self.customer(ctx)
        k = KINDS[kind]
        with self.lock:
            old = self.get_record(customer, kind, ident)
            base = old
            if replace:
                base = entities.new_record(k)
                for keep in (k.id_field, "CreatedDate", "CreatedBy", "CustomFields", "DeletedDate"):
                    base[keep] = old[keep]
            rec = entities.apply_input(customer, k, base, body, overlong=self.overlong_text)
            entities.validate_record(customer, k, rec)
            actor = as_associate or 0
            rec["UpdatedDate"] = max(utcnow(), old["UpdatedDate"])
            rec["UpdatedBy"] = actor
            customer.records[kind][ident] = rec
            if kind == "person" and old["Contact"] != rec["Contact"]:
                customer.persons_by_contact.get(old["Contact"], set()).discard(ident)
                customer.persons_by_contact.setdefault(rec["Contact"], set()).add(ident)
            self._fire(customer, k, "changed", old, rec, actor)
            return self.render(customer, kind, rec)

    def delete(self, ctx: str, kind: str, ident: int, *, as_associate: int | None = None) -> None:
        customer = self.customer(ctx)
        k = KINDS[kind]
        with self.lock:
            old = self.get_record(customer, kind, ident)
            del customer.records[kind][ident]
            if kind == "person":
                customer.persons_by_contact.get(old["Contact"], set()).discard(ident)
            if kind == "contact":  # persons go with their company
                for pid in sorted(customer.persons_by_contact.pop(ident, set())):
                    person = customer.records["person"].pop(pid)
                    self._fire(customer, KINDS["person"], "deleted", person, None, as_associate or 0)
            self._fire(customer, k, "deleted", old, None, as_associate or 0)

    def soft_delete(self, ctx: str, kind: str, ident: int, *, as_associate: int | None = None) -> None:
        """Move a record to the recycle bin: GET answers 404, archives show it only when `$filter` asks for
        `deletedDate`; fires `<kind>.softdeleted` (contact/person)."""
        customer = self.customer(ctx)
        k = KINDS[kind]
        with self.lock:
            rec = self.get_record(customer, kind, ident)
            old = dict(rec)
            rec["DeletedDate"] = utcnow()
            rec["UpdatedDate"] = rec["DeletedDate"]
            self._fire(customer, k, "softdeleted", old, rec, as_associate or 0)

    def get(self, ctx: str, kind: str, ident: int) -> dict[str, Any]:
        customer = self.customer(ctx)
        with self.lock:
            return self.render(customer, kind, self.get_record(customer, kind, ident))

    def get_record(self, customer: Customer, kind: str, ident: int) -> dict[str, Any]:
        rec = customer.records[kind].get(ident)
        if rec is None or rec["DeletedDate"] is not None:
            raise ApiError(404, "SoNotFoundException", f"{KINDS[kind].name} id {ident} not found")
        return rec

    def render(self, customer: Customer, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
        return self.renderer.entity(customer, KINDS[kind], rec, self.api_base(customer.ctx))

    # --- webhook events -----------------------------------------------------------------------------------------

    def _webhook_lookup(self, ctx: str, webhook_id: int) -> dict[str, Any] | None:
        customer = self.customers.get(ctx)
        return customer.webhooks.get(webhook_id) if customer else None

    def _fire(
        self, customer: Customer, k: entities.Kind, action: str, old: dict[str, Any] | None,
        new: dict[str, Any] | None, actor: int,
    ) -> None:
        events = [f"{k.key}.{action}"]
        if k.key == "sale" and new is not None and (old is None or old["Status"] != new["Status"]):
            if new["Status"] == "Sold":
                events.append("sale.sold")
            elif new["Status"] == "Lost":
                events.append("sale.lost")
        if action == "softdeleted" and k.key not in ("contact", "person"):
            events = []
        current = new or old
        assert current is not None
        primary_key = current[k.id_field]
        payload_base: dict[str, Any] = {
            "Changes": [],
            "PrimaryKey": primary_key,
            "Entity": k.key,
            "ContextIdentifier": customer.ctx,
            "ChangedByAssociateId": actor,
        }
        if action == "deleted":
            values = entities.db_values(customer, k, current)
            payload_base["Values"] = {
                "associate_id": values.get("associate_id", 0),
                f"{k.key}_id": primary_key,
                **({"contact_id": values["contact_id"]} if "contact_id" in values else {}),
            }
        else:
            after = entities.db_values(customer, k, current)
            before = entities.db_values(customer, k, old) if old is not None else {}
            id_column = f"{k.key}_id"
            changed = [c for c, v in after.items() if before.get(c) != v and v not in ("", 0, None, False)]
            if old is not None:
                changed = [c for c, v in after.items() if before.get(c) != v]
            changes = [id_column, *[c for c in changed if c != id_column]]
            for col in ("updated_associate_id", "updated"):
                if col not in changes:
                    changes.append(col)
            payload_base["Changes"] = changes
            payload_base["FieldValues"] = after
        for webhook_id, webhook in customer.webhooks.items():
            if webhook["State"] != "Active":
                continue
            for event in events:
                if event in webhook["Events"] or "*" in webhook["Events"]:
                    self.webhooks.enqueue(customer.ctx, webhook_id, dict(payload_base, Event=event))

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt so far (incl. registration test POSTs), oldest first."""
        return self.webhooks.deliveries

    def wait_for_deliveries(
        self, predicate: Callable[[list[Delivery]], bool] | int, timeout: float = 10.0
    ) -> list[Delivery]:
        """Block until `predicate(deliveries)` holds (or `len(deliveries) >= n` for an int); returns the list."""
        if isinstance(predicate, int):
            n = predicate
            return self.webhooks.wait_for(lambda d: len(d) >= n, timeout)
        return self.webhooks.wait_for(predicate, timeout)

    # --- faults, tokens, counts ---------------------------------------------------------------------------------

    def inject_fault(
        self,
        kind: str | int,
        *,
        count: int | None = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        ctx: str | None = None,
        retry_after: int | None = None,
        seconds: float = 0.0,
    ) -> Fault:
        """Make matching requests fail: kind "429" (with `retry_after`), "500", "503", "421", "latency"
        (`seconds` added), "timeout" (hang `seconds`, then drop the connection). `path_prefix` matches the full
        path (`/Cust12345/api/v1/Contact`, `/login/common/oauth/tokens`) or the tenant-relative one
        (`/api/v1/Contact`); `count=None` = until `clear_faults()`."""
        return self.faults.add(
            kind, count=count, path_prefix=path_prefix, method=method, scope=ctx, retry_after=retry_after,
            seconds=seconds,
        )

    def expire_access_tokens(self, ctx: str | None = None) -> int:
        """Make every access token (of one customer, or all) expired now; refresh tokens keep working."""
        with self.lock:
            hit = [t for t in self.access_tokens.values() if ctx is None or t.ctx == ctx]
            for token in hit:
                token.expires_at = time.time() - 1
        return len(hit)

    def revoke_consent(self, ctx: str, client_id: str | None = None) -> int:
        """The tenant withdraws the app's consent: its refresh and access tokens stop working (refresh →
        `invalid_grant`, API → 401)."""
        with self.lock:
            count = 0
            for token in self.refresh_tokens.values():
                if token.ctx == ctx and (client_id is None or token.client_id == client_id):
                    token.revoked = True
                    count += 1
            for access in self.access_tokens.values():
                if access.ctx == ctx and (client_id is None or access.client_id == client_id):
                    access.revoked = True
        return count
