// <leadbridge-integrations>: every CRM leadbridge supports, with its status and account; admins connect (in the
// popup of docs/connections.md), reconnect and disconnect; members see the same list read-only.
import type { ConnectionView } from "../api.js";
import { config } from "../config.js";
import { connectInPopup, returnUrlFor, type ConnectOutcome } from "../connect.js";
import { h } from "../dom.js";
import { connectErrorText, formatTime } from "../i18n.js";
import { LeadbridgeElement, define } from "./base.js";

type Notice = { kind: "info" | "success" | "error"; text: string } | { kind: "api-error"; error: unknown };

export class LeadbridgeIntegrations extends LeadbridgeElement {
  private connections: ConnectionView[] | null = null;
  private admin = false;
  private notice: Notice | null = null;
  private busy: string | null = null; // the CRM an action is running for
  private confirming: string | null = null; // the CRM whose disconnect waits for confirmation
  private loadError: unknown = null;

  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, "return-url", "require-same-email"];
  }

  override async refresh(): Promise<void> {
    if (this.connections === null) this.render(h("p", { class: "muted", role: "status" }, this.t("loading")));
    try {
      const client = this.client();
      const [connections, admin] = await Promise.all([client.connections(), this.isAdmin()]);
      this.connections = connections;
      this.admin = admin;
      this.loadError = null;
    } catch (error) {
      this.loadError = error;
    }
    this.draw();
  }

  private draw(): void {
    const title = h("h2", {}, this.t("integrations.title"));
    if (this.loadError !== null && this.connections === null) {
      this.render(title, this.errorNotice(this.loadError),
                  h("button", { class: "secondary", onclick: () => void this.refresh() }, this.t("retry")));
      return;
    }
    const connections = this.connections ?? [];
    this.render(
      title,
      this.admin ? null : h("p", { class: "muted" }, this.t("readonly.admin_only")),
      h("div", { role: "status", "aria-live": "polite" }, this.noticeElement()),
      connections.length === 0 ? h("p", { class: "muted" }, this.t("integrations.empty")) : null,
      h("ul", { class: "plain", style: "display:grid;gap:.75em" }, connections.map((c) => this.card(c))),
    );
  }

  private noticeElement(): HTMLElement | null {
    const notice = this.notice;
    if (notice === null) return null;
    if (notice.kind === "api-error") return this.errorNotice(notice.error);
    return h("div", { class: `notice ${notice.kind}` }, notice.text);
  }

  private card(connection: ConnectionView): HTMLElement {
    const name = this.crm(connection.crm);
    const headingId = `lb-crm-${connection.crm}`;
    const busy = this.busy !== null;
    const facts: (HTMLElement | null)[] = [
      connection.account_name ? h("div", {}, this.t("status.account", { name: connection.account_name })) : null,
      connection.status !== "disconnected" && connection.connected_by
        ? h("div", { class: "muted" }, this.t("status.connected_by", {
            who: connection.connected_by, when: formatTime(this.language, connection.connected_at) }))
        : null,
    ];
    const actions: HTMLElement[] = [];
    if (this.admin && this.confirming === connection.crm) {
      actions.push(
        h("p", { id: `${headingId}-confirm` }, this.t("disconnect.confirm", { crm: name })),
        h("button", { class: "danger", "data-autofocus": true, "data-focus": `confirm-${connection.crm}`,
                      "aria-describedby": `${headingId}-confirm`, disabled: busy,
                      onclick: () => void this.disconnect(connection.crm) },
          this.t("action.disconnect")),
        h("button", { class: "secondary", onclick: () => { this.confirming = null; this.draw(); } },
          this.t("export.cancel")),
      );
    } else if (this.admin) {
      if (connection.status !== "connected") {
        const label = connection.status === "needs_reauth" ? this.t("action.reconnect") : this.t("action.connect");
        actions.push(h("button", { "data-focus": `connect-${connection.crm}`, "aria-describedby": headingId,
                                   disabled: busy, onclick: () => void this.connect(connection.crm) }, label));
      }
      if (connection.status !== "disconnected") {
        actions.push(h("button", { class: "danger", "data-focus": `disconnect-${connection.crm}`,
                                   "aria-describedby": headingId, disabled: busy,
                                   onclick: () => { this.confirming = connection.crm; this.draw(); } },
          this.t("action.disconnect")));
      }
    }
    return h("li", { class: "card", "data-crm": connection.crm, "aria-labelledby": headingId },
      h("div", { class: "row", style: "justify-content:space-between" },
        h("h3", { id: headingId }, name),
        h("span", { class: `badge ${connection.status}` }, this.t(`status.${connection.status}`))),
      facts,
      actions.length ? h("div", { class: "row", style: "margin-top:.6em" }, actions) : null);
  }

  private async connect(crm: string): Promise<void> {
    const name = this.crm(crm);
    const connectedBefore = this.hasConnected(crm);
    this.busy = crm;
    this.notice = { kind: "info", text: this.t("connect.waiting", { crm: name }) };
    this.draw();
    let outcome: ConnectOutcome;
    try {
      const client = this.client();
      // Marked, so the return page (this one, or the host's own) knows it is the popup's and reports and closes.
      const returnUrl = returnUrlFor(this.getAttribute("return-url") || config().returnUrl || window.location.href);
      outcome = await connectInPopup({
        crm, returnUrl, connectPageUrl: client.connectPageUrl(crm, returnUrl),
        getToken: () => client.token(), requireSameEmail: this.hasAttribute("require-same-email"), host: window,
      });
    } catch (error) {
      this.busy = null;
      this.notice = { kind: "api-error", error };
      this.draw();
      return;
    }
    this.busy = null;
    this.notice = this.outcomeNotice(outcome, name);
    await this.refresh();
    if (outcome.status === "cancelled" && !connectedBefore && this.hasConnected(crm)) {
      // The popup closed before it could tell us (a slow message): the connection itself says how it ended.
      outcome = { status: "connected", crm };
      this.notice = this.outcomeNotice(outcome, name);
      this.draw();
    }
    this.emit("leadbridge-connect", outcome);
  }

  private outcomeNotice(outcome: ConnectOutcome, name: string): Notice {
    return outcome.status === "connected" ? { kind: "success", text: this.t("connect.success", { crm: name }) }
      : outcome.status === "blocked" ? { kind: "error", text: this.t("connect.blocked") }
      : outcome.status === "cancelled" ? { kind: "info", text: this.t("connect.cancelled", { crm: name }) }
      : { kind: "error", text: this.t("connect.failed", { crm: name,
                                                         reason: connectErrorText(this.language, outcome.error) }) };
  }

  private hasConnected(crm: string): boolean {
    return this.connections?.some((c) => c.crm === crm && c.status === "connected") ?? false;
  }

  private async disconnect(crm: string): Promise<void> {
    this.busy = crm;
    this.draw();
    try {
      const result = await this.client().disconnect(crm);
      this.notice = { kind: "success", text: this.t("disconnect.done", { crm: this.crm(crm) }) };
      this.emit("leadbridge-disconnect", result);
    } catch (error) {
      this.notice = { kind: "api-error", error };
    }
    this.busy = null;
    this.confirming = null;
    await this.refresh();
  }
}

define("leadbridge-integrations", LeadbridgeIntegrations);
