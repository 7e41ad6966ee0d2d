// <leadbridge-run>: the tenant's current or last sync run (GET /sync-runs), followed while it goes on
// (GET /sync-runs/{id}, polled 1 s backing off to 10 s): its state, per-object counts and progress against the
// estimate the run gives (initial import, full run), the time left at its pace, and for a failure the reason and
// what to do. Admins start a run with "Sync now" (POST /sync-runs with the `objects` attribute's objects, or all);
// a run already going (409) is shown instead of a second one. Members see it read-only. docs/sync.md.
import type { CrmObject } from "../api.js";
import { h, uid } from "../dom.js";
import { ApiError } from "../errors.js";
import { formatTime, languageOf, type MessageKey } from "../i18n.js";
import { LeadbridgeElement, define } from "./base.js";
import {
  COUNT_COLUMNS, adviceFor, currentRun, displayState, durationParts, failureOf, isActive, nextPollDelay,
  overallProgress, parseObjects, progressOf, remainingMs, runChanged, runningRunId, runObjects,
  type Progress, type StartRunRequest, type SyncRun,
} from "./run/model.js";

const styles = `
progress { width: 100%; height: .8em; accent-color: var(--_lb-color-primary); }
.run-status { font-weight: 600; margin: .5em 0; }
.run-status[data-state="queued"], .run-status[data-state="running"], .run-status[data-state="continued"] {
  color: var(--_lb-color-primary); }
.run-status[data-state="budget_exhausted"], .run-status[data-state="succeeded_with_errors"] { color: var(--_lb-color-warning); }
.run-status[data-state="succeeded"] { color: var(--_lb-color-success); }
.run-status[data-state="failed"] { color: var(--_lb-color-danger); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.run-facts { display: grid; grid-template-columns: max-content 1fr; gap: .2em .75em; margin: .5em 0; }
dl.run-facts dt { color: var(--_lb-color-muted); }
dl.run-facts dd { margin: 0; }
`;

type Notice = "started" | "already_running" | null;

export class LeadbridgeRun extends LeadbridgeElement {
  /** The objects a started run syncs (else the `objects` attribute's, else every object). */
  objects: CrmObject[] | null = null;
  private run: SyncRun | null = null;
  private crmId: string | null = null; // the `crm` attribute, else the CRM the tenant connected; null: none connected
  private admin = false;
  private loaded = false;
  private loadError: unknown = null;
  private actionError: unknown = null;
  private pollError: unknown = null;
  private notice: Notice = null;
  private starting = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private delay: number | null = null;
  private generation = 0; // a refresh or a new run makes answers of an older poll loop stale
  private live: HTMLElement | null = null; // the aria-live status line, kept across redraws so updates are announced
  private header: HTMLElement | null = null;
  private body: HTMLElement | null = null;

  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, "crm", "objects", "full"];
  }

  disconnectedCallback(): void {
    this.stopPolling();
  }

  /** The run shown (null: none yet). */
  get currentRun(): SyncRun | null {
    return this.run;
  }

  override async refresh(): Promise<void> {
    this.stopPolling();
    const generation = this.generation;
    if (!this.loaded) this.draw();
    try {
      const client = this.client();
      let crm = this.getAttribute("crm");
      if (!crm) {
        const connections = await client.connections();
        crm = connections.find((c) => c.status !== "disconnected")?.crm ?? null;
      }
      const [page, admin] = await Promise.all([
        crm ? client.syncRuns({ crm, limit: 10 }) : Promise.resolve({ items: [] }), this.isAdmin()]);
      if (generation !== this.generation) return;
      this.crmId = crm;
      this.admin = admin;
      this.run = currentRun(page);
      this.loadError = null;
    } catch (error) {
      if (generation !== this.generation) return;
      this.loadError = error;
    }
    this.loaded = true;
    this.draw();
    this.followIfActive();
  }

  /** Start a run now (admins; the API refuses members). */
  async start(): Promise<void> {
    if (this.starting) return;
    this.stopPolling();
    this.starting = true;
    this.notice = null;
    this.actionError = null;
    this.draw();
    const request: StartRunRequest = {};
    if (this.crmId) request.crm = this.crmId;
    const objects = this.objects ?? parseObjects(this.getAttribute("objects"));
    if (objects) request.objects = objects;
    if (this.hasAttribute("full")) request.full = true;
    try {
      const client = this.client();
      try {
        this.run = await client.startSyncRun(request);
        this.notice = "started";
        this.emit("leadbridge-run-started", { run: this.run });
      } catch (error) {
        const running = error instanceof ApiError ? runningRunId(error) : null;
        if (!running) throw error;
        this.run = await client.syncRun(running); // one is going already: show it instead of a second run
        this.notice = "already_running";
      }
    } catch (error) {
      this.actionError = error;
    }
    this.starting = false;
    this.draw();
    this.followIfActive();
  }

  // ---- polling

  private followIfActive(): void {
    if (this.run && isActive(this.run) && this.isConnected) this.schedule(true);
  }

  private stopPolling(): void {
    this.generation += 1;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.delay = null;
  }

  private schedule(changed: boolean): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.delay = nextPollDelay(this.delay, changed);
    const generation = this.generation;
    this.timer = setTimeout(() => void this.poll(generation), this.delay);
  }

  private async poll(generation: number): Promise<void> {
    this.timer = null;
    const before = this.run;
    if (!before || generation !== this.generation || !this.isConnected) return;
    let changed = false;
    try {
      const after = await this.client().syncRun(before.id);
      if (generation !== this.generation) return;
      changed = runChanged(before, after);
      this.run = after;
      this.pollError = null;
    } catch (error) {
      if (generation !== this.generation) return;
      this.pollError = error;
      // Gone, or no longer allowed: asking again will not help. Anything else (network, 5xx, 429) is retried.
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) {
        this.draw();
        return;
      }
    }
    this.draw();
    if (isActive(this.run ?? before)) {
      this.schedule(changed);
    } else if (changed) {
      this.notice = null; // "started" / "already running" no longer apply
      this.draw();
      this.emit("leadbridge-run-finished", { run: this.run });
    }
  }

  // ---- rendering

  private number(value: number): string {
    return new Intl.NumberFormat(languageOf(this.language) === "da" ? "da-DK" : "en-GB").format(value);
  }

  private crmLabel(): string | null {
    const crm = this.crmId || this.run?.crm;
    return crm ? this.crm(crm) : null;
  }

  /** The status line, announced politely when it changes (progress in steps of 10%, so it does not chatter). */
  private statusText(): string {
    if (!this.loaded) return this.t("loading");
    if (this.starting) return this.t("run.starting");
    const run = this.run;
    if (!run) return this.loadError ? "" : this.t(this.crmId ? "run.none" : "run.no_crm");
    const state = this.t(`run.state.${displayState(run)}` as MessageKey);
    const overall = overallProgress(run);
    if (isActive(run) && overall?.percent != null) {
      return this.t("run.live", { state, percent: Math.floor(overall.percent / 10) * 10 });
    }
    return state;
  }

  private draw(): void {
    if (!this.live || !this.header || !this.body || this.live.getRootNode() !== this.root) {
      this.live = h("p", { class: "run-status", role: "status", "aria-live": "polite" });
      this.header = h("div", {});
      this.body = h("div", {});
      this.render(h("style", {}, styles), this.header, this.live, this.body);
    }
    const focused = (this.root.activeElement as HTMLElement | null)?.dataset?.["focus"];
    const text = this.statusText();
    if (this.live.textContent !== text) this.live.textContent = text;
    this.live.dataset["state"] = this.run ? displayState(this.run) : "";
    this.header.replaceChildren(...this.headerParts());
    this.body.replaceChildren(...this.bodyParts());
    if (focused) this.root.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  }

  private headerParts(): HTMLElement[] {
    const crm = this.crmLabel();
    const parts: (HTMLElement | null)[] = [h("h2", {}, crm ? this.t("run.title", { crm }) : this.t("run.title_any"))];
    if (!this.loaded) return parts.filter(isElement);
    const active = this.run !== null && isActive(this.run);
    if (this.admin && this.crmId) {
      const hintId = uid("lb-run-hint");
      parts.push(h("div", { class: "row" },
        h("button", { type: "button", "data-focus": "start", disabled: this.starting || active,
                      "aria-describedby": active ? hintId : null, onclick: () => void this.start() },
          this.t(this.starting ? "run.starting" : "run.start")),
        active ? h("span", { id: hintId, class: "muted" }, this.t("run.in_progress_hint")) : null));
    } else if (!this.admin && !this.loadError) {
      parts.push(h("p", { class: "muted" }, this.t("run.readonly")));
    }
    if (this.notice) parts.push(h("div", { class: "notice" }, this.t(`run.${this.notice}`)));
    for (const error of [this.loadError, this.actionError, this.pollError]) {
      if (error !== null) parts.push(this.errorNotice(error));
    }
    if (this.loadError !== null && this.run === null) {
      parts.push(h("button", { type: "button", class: "secondary", "data-focus": "retry",
                               onclick: () => void this.refresh() }, this.t("retry")));
    }
    return parts.filter(isElement);
  }

  private bodyParts(): HTMLElement[] {
    const run = this.run;
    if (!run) return [];
    const overall = overallProgress(run);
    const left = remainingMs(run, new Date());
    const crm = this.crm(run.crm);
    const facts: [MessageKey, string][] = [
      ["run.fact.what", [run.mode ? this.t(`run.mode.${run.mode}` as MessageKey) : null,
                         this.t(`run.trigger.${run.trigger === "schedule" ? "schedule" : "manual"}`)]
        .filter(Boolean).join(" · ")],
      ["run.fact.queued", formatTime(this.language, run.created_at)],
    ];
    if (run.started_at) facts.push(["run.fact.started", formatTime(this.language, run.started_at)]);
    if (run.finished_at) facts.push(["run.fact.finished", formatTime(this.language, run.finished_at)]);
    facts.push(["run.fact.estimate", overall ? this.progressText(overall)
      : this.t(run.mode === "incremental" ? "run.estimate_unknown_changes" : "run.estimate_unknown")]);
    if (left !== null) {
      const { unit, n } = durationParts(left);
      facts.push(["run.fact.time_left", this.t(`run.eta.${unit}` as MessageKey, { n })]);
    }
    facts.push(["run.fact.calls", run.request_budget
      ? this.t("run.calls_of", { calls: this.number(run.crm_calls ?? 0), budget: this.number(run.request_budget) })
      : this.number(run.crm_calls ?? 0)]);
    return [h("section", { class: "card", "aria-label": this.t("run.details"), "data-run": run.id, "data-state": run.state },
      overall?.percent != null ? h("progress", { max: "100", value: String(overall.percent),
                                                 "aria-label": this.t("run.overall") }) : null,
      this.stateDetail(run),
      h("dl", { class: "run-facts" }, facts.map(([key, value]) => [h("dt", {}, this.t(key)), h("dd", {}, value)])),
      this.table(run),
      this.failure(run, crm),
      this.errorList(run),
      h("div", { class: "row", style: "margin-top:.75em" },
        h("button", { type: "button", class: "secondary", "data-focus": "log",
                      onclick: () => this.emit("leadbridge-show-sync-log", {
                        run_id: run.id, crm: run.crm, since: run.created_at, until: run.finished_at ?? null }) },
          this.t("run.show_log")),
        h("span", { class: "muted" }, this.t("run.reference", { id: run.id }))))];
  }

  private progressText(progress: Progress): string {
    if (progress.total === null) return this.t("run.done_unknown", { done: this.number(progress.done) });
    return this.t("run.of_total", { done: this.number(progress.done), total: this.number(progress.total),
                                    percent: progress.percent ?? 0 });
  }

  private stateDetail(run: SyncRun): HTMLElement | null {
    const state = displayState(run);
    if (state === "queued") return h("p", { class: "muted" }, this.t("run.detail.queued"));
    if (state === "continued") return h("p", { class: "muted" }, this.t("run.detail.continued"));
    if (state === "budget_exhausted") return h("p", {}, this.t("run.detail.budget_exhausted"));
    if (state === "succeeded_with_errors") {
      return h("p", {}, this.t("run.detail.succeeded_with_errors", { count: run.errors_total ?? 0 }));
    }
    return null;
  }

  private table(run: SyncRun): HTMLElement | null {
    const objects = runObjects(run);
    if (objects.length === 0 && !run.selections) return null;
    const cell = (progress: Progress | null, label: string) => progress === null
      ? h("td", {}, h("span", { class: "muted" }, this.t("run.no_estimate")))
      : h("td", {}, progress.percent !== null
          ? h("progress", { max: "100", value: String(progress.percent), "aria-label": label }) : null,
        h("div", { class: "muted" }, this.progressText(progress)));
    return h("table", { style: "margin-top:.5em" },
      h("caption", { class: "visually-hidden" }, this.t("run.per_object")),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, this.t("run.col.object")),
        h("th", { scope: "col" }, this.t("run.col.progress")),
        COUNT_COLUMNS.map((column) => h("th", { scope: "col", class: "num" }, this.t(`run.col.${column}` as MessageKey))))),
      h("tbody", {},
        objects.map((obj) => {
          const name = this.t(`log.object.${obj}` as MessageKey);
          const counts = run.counts?.[obj] ?? {};
          return h("tr", { "data-object": obj },
            h("th", { scope: "row" }, name),
            cell(progressOf(run.progress?.[obj]), this.t("run.progress_of", { object: name })),
            COUNT_COLUMNS.map((column) => h("td", { class: "num", "data-count": column },
                                            this.number(counts[column] ?? 0))));
        }),
        run.selections ? h("tr", { "data-object": "selections" },
          h("th", { scope: "row" }, this.t("run.selections")),
          cell(progressOf(run.selections), this.t("run.progress_of", { object: this.t("run.selections") })),
          h("td", { colspan: String(COUNT_COLUMNS.length), class: "muted" }, this.t("run.selections_counted")))
          : null));
  }

  private failure(run: SyncRun, crm: string): HTMLElement | null {
    if (run.state !== "failed") return null;
    const error = failureOf(run);
    const advice = adviceFor(error?.code);
    return h("div", { class: "notice error" },
      h("h3", {}, this.t("run.failure")),
      h("p", { style: "margin:0 0 .5em" }, error ? `${error.message} (${error.code})` : this.t("run.failure_unknown")),
      h("h3", {}, this.t("run.what_to_do")),
      h("p", { style: "margin:0" }, this.t(`run.advice.${advice}` as MessageKey, { crm, id: run.id })));
  }

  private errorList(run: SyncRun): HTMLElement | null {
    const errors = (run.errors ?? []).filter((e) => e.crm_id || e.object);
    if (errors.length === 0) return null;
    return h("details", { style: "margin-top:.5em" },
      h("summary", { "data-focus": "errors" }, this.t("run.errors", { count: run.errors_total ?? errors.length })),
      h("ul", {}, errors.slice(0, 20).map((e) => h("li", {},
        e.object ? `${this.t(`log.object.${e.object}` as MessageKey)}${e.crm_id ? ` #${e.crm_id}` : ""}: ` : "",
        h("code", {}, e.code), ` ${e.message}`))));
  }
}

function isElement(part: HTMLElement | null): part is HTMLElement {
  return part !== null;
}

define("leadbridge-run", LeadbridgeRun);
