// <leadbridge-sync-log>: the per-record sync log (GET /sync-log) with filters by outcome, object, lead and time,
// and each record's detail: the fields written and skipped, the error, and what to do about it. Attributes preset
// the filters: lead-id, outcome, object, run-id (one sync run's or bulk export's entries, e.g. from <leadbridge-run>).
import type { CrmObject, Outcome, SyncLogEntry, SyncLogFilter } from "../api.js";
import { h, uid } from "../dom.js";
import { ApiError } from "../errors.js";
import { formatTime, type MessageKey } from "../i18n.js";
import { LeadbridgeElement, define } from "./base.js";

const OUTCOMES: Outcome[] = ["success", "failed", "skipped"];
const OBJECTS: CrmObject[] = ["company", "person", "deal", "activity"];

export class LeadbridgeSyncLog extends LeadbridgeElement {
  private entries: SyncLogEntry[] = [];
  private nextCursor: string | null = null;
  private filter: SyncLogFilter = {};
  private since = ""; // the datetime-local input's value, as the user typed it
  private open = new Set<string>(); // entries whose detail is shown
  private error: unknown = null;
  private loading = false;
  private initialised = false;

  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, "lead-id", "outcome", "object", "run-id"];
  }

  override attributeChangedCallback(name: string, previous: string | null, next: string | null): void {
    if (["lead-id", "outcome", "object", "run-id"].includes(name)) this.initialised = false;
    super.attributeChangedCallback(name, previous, next);
  }

  override async refresh(): Promise<void> {
    if (!this.initialised) {
      this.filter = { lead_id: this.getAttribute("lead-id") ?? "",
                      status: (this.getAttribute("outcome") ?? "") as Outcome | "",
                      object: (this.getAttribute("object") ?? "") as CrmObject | "",
                      run_id: this.getAttribute("run-id") ?? "" };
      this.initialised = true;
    }
    await this.load(false);
  }

  private async load(more: boolean): Promise<void> {
    this.loading = true;
    this.draw();
    try {
      const since = this.since ? new Date(this.since) : null;
      const page = await this.client().syncLog({
        ...this.filter,
        since: since && !Number.isNaN(since.getTime()) ? since.toISOString() : this.since,
        cursor: more ? this.nextCursor : null,
      });
      this.entries = more ? [...this.entries, ...page.items] : page.items;
      this.nextCursor = page.next_cursor ?? null;
      this.error = null;
    } catch (error) {
      this.error = error;
      if (!more) this.entries = [];
    }
    this.loading = false;
    this.draw();
  }

  private fieldProblem(name: string): string | null {
    if (!(this.error instanceof ApiError)) return null;
    return this.error.fieldProblems.find((p) => p.path === name)?.message ?? null;
  }

  private draw(): void {
    this.render(
      h("h2", {}, this.t("log.title")),
      this.filters(),
      h("div", { role: "status", "aria-live": "polite" },
        this.loading ? h("p", { class: "muted" }, this.t("loading")) : null,
        !this.loading && !this.error && this.entries.length === 0 ? h("p", { class: "muted" }, this.t("log.empty"))
          : null),
      this.error ? this.errorNotice(this.error) : null,
      this.entries.length ? this.table() : null,
      this.nextCursor ? h("button", { class: "secondary", "data-focus": "more", disabled: this.loading,
                                      style: "margin-top:.75em", onclick: () => void this.load(true) },
                          this.t("log.more")) : null,
    );
  }

  private filters(): HTMLElement {
    const select = (label: MessageKey, key: "status" | "object", values: string[], prefix: string) => {
      const id = uid("lb-filter");
      return h("label", { for: id }, this.t(label),
        h("select", { id, "data-focus": `filter-${key}`,
                      onchange: (e: Event) => { this.filter[key] = (e.target as HTMLSelectElement).value as never; } },
          h("option", { value: "", selected: !this.filter[key] }, this.t("log.filter.any")),
          values.map((v) => h("option", { value: v, selected: this.filter[key] === v },
                              this.t(`${prefix}.${v}` as MessageKey)))));
    };
    const text = (label: MessageKey, name: string, type: string, value: string, set: (v: string) => void) => {
      const id = uid("lb-filter");
      const problem = this.fieldProblem(name);
      const problemId = `${id}-problem`;
      return h("label", { for: id }, this.t(label),
        h("input", { id, type, value, "data-focus": `filter-${name}`, "aria-invalid": problem ? "true" : null,
                     "aria-describedby": problem ? problemId : null,
                     oninput: (e: Event) => set((e.target as HTMLInputElement).value) }),
        problem ? h("span", { id: problemId, class: "field-error" }, problem) : null);
    };
    return h("form", { class: "row", style: "align-items:flex-end;margin-bottom:.75em", "aria-label": this.t("log.title"),
                       onsubmit: (e: Event) => { e.preventDefault(); this.open.clear(); void this.load(false); } },
      select("log.filter.outcome", "status", OUTCOMES, "log.outcome"),
      select("log.filter.object", "object", OBJECTS, "log.object"),
      text("log.filter.lead", "lead_id", "search", this.filter.lead_id ?? "", (v) => { this.filter.lead_id = v; }),
      text("log.filter.since", "since", "datetime-local", this.since, (v) => { this.since = v; }),
      h("button", { type: "submit", "data-focus": "apply" }, this.t("log.filter.apply")),
      this.filter.run_id
        ? h("p", { class: "run-filter", style: "margin:0;flex-basis:100%", "data-run": this.filter.run_id },
            this.t("log.filter.run", { id: this.filter.run_id }), " ",
            h("button", { type: "button", class: "secondary", "data-focus": "clear-run",
                          onclick: () => { this.filter.run_id = ""; this.open.clear(); void this.load(false); } },
              this.t("log.filter.all_runs")))
        : null);
  }

  private table(): HTMLElement {
    const head = ["log.col.time", "log.col.action", "log.col.object", "log.col.record", "log.col.outcome", null];
    return h("table", {},
      h("thead", {}, h("tr", {}, head.map((key) => h("th", { scope: "col" },
        key ? this.t(key as MessageKey) : h("span", { class: "visually-hidden" }, this.t("log.details")))))),
      this.entries.map((entry, index) => this.rows(entry, entry.id ?? `row-${index}`)));
  }

  private rows(entry: SyncLogEntry, key: string): HTMLElement {
    const shown = this.open.has(key);
    const detailId = `lb-log-detail-${key}`;
    const record = [entry.app_id, entry.crm_id ? `${this.crm(entry.crm)} #${entry.crm_id}` : null]
      .filter(Boolean).join(" → ");
    const body = h("tbody", { "data-entry": key },
      h("tr", {},
        h("td", {}, formatTime(this.language, entry.time)),
        h("td", {}, `${entry.action}`, h("div", { class: "muted" }, `${entry.trigger} · ${entry.direction}`)),
        h("td", {}, entry.object ? this.t(`log.object.${entry.object}` as MessageKey) : ""),
        h("td", {}, record),
        h("td", {}, h("span", { class: `badge ${entry.outcome}` }, this.t(`log.outcome.${entry.outcome}` as MessageKey)),
          entry.error ? h("div", { class: "muted" }, entry.error.message) : null),
        h("td", {}, h("button", { class: "secondary", "aria-expanded": shown ? "true" : "false",
                                  "aria-controls": detailId, "data-focus": `toggle-${key}`,
                                  onclick: () => { if (shown) this.open.delete(key); else this.open.add(key); this.draw(); } },
          this.t(shown ? "log.hide_details" : "log.details")))));
    if (shown) body.append(h("tr", { id: detailId }, h("td", { colspan: "6" }, this.detail(entry))));
    return body;
  }

  private detail(entry: SyncLogEntry): HTMLElement {
    const none = h("span", { class: "muted" }, this.t("log.none"));
    const written = entry.fields_written ?? [];
    const skipped = entry.fields_skipped ?? [];
    return h("div", { class: "card", style: "display:grid;gap:.5em" },
      h("div", {}, h("h3", {}, this.t("log.written")),
        written.length ? h("ul", {}, written.map((f) => h("li", {}, h("code", {}, f)))) : none),
      h("div", {}, h("h3", {}, this.t("log.skipped")),
        skipped.length ? h("ul", {}, skipped.map((s) => h("li", {}, h("code", {}, s.field), `: ${s.detail || s.reason}`)))
          : none.cloneNode(true)),
      entry.error ? h("div", {}, h("h3", {}, this.t("log.error")),
        h("p", { style: "margin:0" }, h("code", {}, entry.error.code), `: ${entry.error.message}`,
          entry.error.cause ? h("span", { class: "muted" }, ` (${entry.error.cause})`) : null)) : null,
      entry.error?.hint ? h("div", {}, h("h3", {}, this.t("log.what_to_do")), h("p", { style: "margin:0" }, entry.error.hint))
        : null,
      entry.correlation_id ? h("div", { class: "muted" }, this.t("log.reference", { id: entry.correlation_id })) : null);
  }
}

define("leadbridge-sync-log", LeadbridgeSyncLog);
