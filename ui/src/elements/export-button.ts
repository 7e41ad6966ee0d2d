// <leadbridge-export-button lead-id="...">: seed 002's "Export to SuperOffice" on a lead. The host gives the lead
// document as the `lead` property. A click looks the company up in the CRM (POST /leads/{id}/match), shows the
// candidates with their reasons and confidence, lets the user link one or create a new company, exports
// (POST /leads/{id}/export) and shows the result with the CRM deep link and the lead's sync status.
import type { Candidate, ExportChoice, ExportResult, Lead, MatchResult, SyncStatus } from "../api.js";
import { h, uid, type Child } from "../dom.js";
import { formatTime, type MessageKey } from "../i18n.js";
import { ApiError } from "../errors.js";
import { LeadbridgeElement, define } from "./base.js";

type State =
  | { kind: "idle" }
  | { kind: "matching" }
  | { kind: "choosing"; match: MatchResult; selected: string } // a candidate's crm_id, or CREATE
  | { kind: "exporting"; match: MatchResult; selected: string }
  | { kind: "done"; result: ExportResult };

const CREATE = "__create__";

export class LeadbridgeExportButton extends LeadbridgeElement {
  private leadDocument: Lead | null = null;
  private state: State = { kind: "idle" };
  private crmId: string | null = null;
  private status: SyncStatus | null = null;
  private error: unknown = null;
  private loaded = false;

  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, "lead-id", "crm"];
  }

  /** The lead document as the app has it (docs/openapi.json `Lead`); `lead-id` wins over its `id`. */
  get lead(): Lead | null {
    return this.leadDocument;
  }

  set lead(value: Lead | null) {
    this.leadDocument = value;
    this.state = { kind: "idle" };
    if (this.isConnected) void this.refresh();
  }

  override connectedCallback(): void {
    // A `lead` set on the element before this script defined it is an own property hiding the accessor.
    if (Object.prototype.hasOwnProperty.call(this, "lead")) {
      const early = (this as unknown as { lead: Lead | null }).lead;
      delete (this as unknown as { lead?: unknown }).lead;
      this.leadDocument = early;
    }
    super.connectedCallback();
  }

  private get leadId(): string | null {
    return this.getAttribute("lead-id") || this.leadDocument?.id || null;
  }

  private get leadForApi(): Lead {
    return { ...(this.leadDocument ?? {}), id: this.leadId ?? "" } as Lead;
  }

  private get companyName(): string {
    return String(this.leadDocument?.company_name ?? this.leadId ?? "");
  }

  override async refresh(): Promise<void> {
    if (!this.loaded) this.render(h("p", { class: "muted", role: "status" }, this.t("loading")));
    try {
      const client = this.client();
      this.crmId = this.getAttribute("crm")
        || (await client.connections()).find((c) => c.status === "connected")?.crm || null;
      this.status = this.crmId && this.leadId ? await client.syncStatus(this.leadId, this.crmId) : null;
      this.error = null;
    } catch (error) {
      this.error = error;
    }
    this.loaded = true;
    this.draw();
  }

  private draw(): void {
    const state = this.state;
    const crm = this.crmId ? this.crm(this.crmId) : "";
    if (!this.crmId) {
      this.render(this.error ? this.errorNotice(this.error) : null,
                  h("button", { disabled: true }, this.t("export.button", { crm: "CRM" })),
                  h("p", { class: "muted" }, this.t("export.no_crm")));
      return;
    }
    const exportButton = h("button", {
      "data-focus": "export", disabled: state.kind === "matching" || state.kind === "exporting" || !this.leadId,
      "aria-expanded": state.kind === "choosing" || state.kind === "exporting" ? "true" : "false",
      onclick: () => void this.findMatch(),
    }, this.t("export.button", { crm }));
    this.render(
      h("div", { class: "row" }, exportButton, this.statusLine()),
      h("div", { role: "status", "aria-live": "polite" },
        state.kind === "matching" ? h("p", { class: "muted" }, this.t("export.searching",
                                                                      { company: this.companyName, crm })) : null,
        state.kind === "exporting" ? h("p", { class: "muted" }, this.t("export.exporting")) : null,
        state.kind === "done" ? this.resultView(state.result) : null),
      this.error ? this.errorView(this.error) : null,
      state.kind === "choosing" || state.kind === "exporting" ? this.matchView(state.match, state.selected,
                                                                              state.kind === "exporting") : null,
    );
  }

  private statusLine(): HTMLElement {
    const status = this.status;
    if (!status?.synced) return h("span", { class: "muted" }, this.t("export.not_synced"));
    const when = this.t("export.synced_at", { when: formatTime(this.language, status.synced_at) });
    return h("span", { class: "row" }, h("span", { class: "badge success" }, when),
      status.company?.url ? h("a", { href: status.company.url, target: "_blank", rel: "noopener" },
                              this.t("export.open_in_crm", { crm: this.crm(status.crm) })) : null);
  }

  private errorView(error: unknown): HTMLElement {
    const notice = this.errorNotice(error);
    if (error instanceof ApiError && error.fieldProblems.length) {
      notice.append(h("ul", {}, error.fieldProblems.map((p) => h("li", {}, h("code", {}, p.path), ": ", p.message))));
    }
    return notice;
  }

  private async findMatch(): Promise<void> {
    this.state = { kind: "matching" };
    this.error = null;
    this.draw();
    try {
      const match = await this.client().match(this.leadForApi, this.crmId ?? undefined);
      const best = match.candidates[0];
      const selected = match.verdict !== "none" && best ? best.crm_id : CREATE;
      this.state = { kind: "choosing", match, selected };
    } catch (error) {
      this.state = { kind: "idle" };
      this.error = error;
    }
    this.draw();
  }

  private matchView(match: MatchResult, selected: string, busy: boolean): HTMLElement {
    const crm = this.crm(this.crmId ?? "");
    const titleId = uid("lb-export-title");
    const name = uid("lb-choice");
    const option = (value: string, label: Child[], extra: HTMLElement | null = null): HTMLElement => {
      const id = uid("lb-option");
      return h("li", { class: "card", style: "padding:.6em .8em" },
        h("div", { class: "row", style: "align-items:flex-start;flex-wrap:nowrap" },
          h("input", { type: "radio", name, id, value, checked: selected === value, disabled: busy,
                       "data-focus": `choice-${value}`,
                       onchange: () => { if (this.state.kind === "choosing") this.state.selected = value; this.draw(); } }),
          h("label", { for: id, style: "display:block;color:inherit;font-size:1em" }, label)),
        extra);
    };
    const candidates = match.candidates.map((candidate) => option(candidate.crm_id, this.candidateLabel(candidate),
      candidate.url ? h("a", { href: candidate.url, target: "_blank", rel: "noopener",
                               style: "margin-left:1.8em" }, this.t("export.open_in_crm", { crm })) : null));
    const createsNew = selected === CREATE;
    return h("section", { class: "card", "aria-labelledby": titleId, style: "margin-top:.75em" },
      h("h3", { id: titleId }, this.t("export.title", { company: this.companyName, crm })),
      h("fieldset", { style: "border:0;padding:0;margin:0" },
        h("legend", { style: "margin-bottom:.5em" }, this.t(`export.verdict.${match.verdict}` as MessageKey, { crm })),
        h("ul", { class: "plain", style: "display:grid;gap:.5em" },
          candidates,
          option(CREATE, [h("strong", {}, this.t("export.create_new"))]))),
      h("div", { class: "row", style: "margin-top:.75em" },
        h("button", { "data-focus": "confirm", "data-autofocus": true, disabled: busy,
                      onclick: () => void this.exportWith(createsNew ? { mode: "create" }
                        : { mode: "link", crm_company_id: selected }) },
          this.t(createsNew ? "export.create_and_sync" : "export.link_selected")),
        h("button", { class: "secondary", disabled: busy,
                      onclick: () => { this.state = { kind: "idle" }; this.draw(); } }, this.t("export.cancel"))));
  }

  private candidateLabel(candidate: Candidate): Child[] {
    const percent = Math.round(candidate.confidence * 100);
    return [
      h("strong", {}, candidate.name ?? candidate.crm_id), " ",
      h("span", { class: `badge ${candidate.verdict === "exact" ? "success" : "skipped"}` },
        this.t("export.confidence", { percent })),
      h("ul", { style: "margin:.3em 0;padding-left:1.2em" },
        candidate.reasons.map((reason) => h("li", {}, this.reasonText(reason)))),
      h("span", { class: "muted" }, candidate.explanation),
    ];
  }

  private reasonText(reason: string): string {
    const key = `reason.${reason}` as MessageKey;
    const text = this.t(key);
    return text === key ? reason : text;
  }

  private async exportWith(choice: ExportChoice): Promise<void> {
    if (this.state.kind !== "choosing") return;
    this.state = { kind: "exporting", match: this.state.match, selected: this.state.selected };
    this.error = null;
    this.draw();
    const client = this.client();
    try {
      const result = await client.exportLead(this.leadForApi, choice,
                                             { crm: this.crmId ?? undefined, idempotencyKey: crypto.randomUUID() });
      this.state = { kind: "done", result };
      this.emit("leadbridge-exported", result);
      this.status = await client.syncStatus(result.lead_id, result.crm).catch(() => this.status);
    } catch (error) {
      this.error = error;
      this.state = this.state.kind === "exporting"
        ? { kind: "choosing", match: this.state.match, selected: this.state.selected } : { kind: "idle" };
    }
    this.draw();
  }

  private resultView(result: ExportResult): HTMLElement {
    const crm = this.crm(result.crm);
    const action = result.company.action;
    const done = (["created", "linked", "updated", "unchanged", "converted"].includes(action)
      ? `export.done.${action}` : "export.done.updated") as MessageKey;
    const skipped = result.fields_skipped ?? [];
    return h("div", { class: "notice success" },
      h("strong", {}, this.t(done, { crm })), " ",
      result.company.url ? h("a", { href: result.company.url, target: "_blank", rel: "noopener" },
                             this.t("export.open_in_crm", { crm })) : null,
      h("ul", { style: "margin:.4em 0 0;padding-left:1.2em;color:var(--_lb-color-text)" },
        h("li", {}, this.t("export.persons", { count: result.persons?.length ?? 0 })),
        h("li", {}, this.t("export.fields_written", { count: result.fields_written?.length ?? 0 })),
        skipped.length ? h("li", {}, h("details", {},
          h("summary", {}, this.t("export.fields_skipped", { count: skipped.length })),
          h("ul", {}, skipped.map((s) => h("li", {}, h("code", {}, s.field), `: ${s.detail || s.reason}`))))) : null));
  }
}

define("leadbridge-export-button", LeadbridgeExportButton);
