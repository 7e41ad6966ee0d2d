// The pure parts of <leadbridge-run>: a sync run as `GET /sync-runs/{id}` answers it (docs/sync.md), what state a user
// reads from it, its progress and estimate, what to do when it failed, and how often to ask again. No DOM here, so
// the unit tests run under node.
import type { CrmObject, ImportProgress, RunError, RunState, SyncRun, SyncRunPage } from "../../api.js";
import type { ApiError } from "../../errors.js";

export type { ImportProgress, ObjectCounts, RunError, RunState, StartRunRequest, SyncRun, SyncRunPage } from "../../api.js";

export const RUN_OBJECTS: CrmObject[] = ["company", "person", "deal", "activity"];
export const COUNT_COLUMNS = ["read", "created", "updated", "unchanged", "deleted", "skipped", "failed"] as const;

const ACTIVE: ReadonlySet<string> = new Set(["queued", "running", "continued"]);

/** Whether the run may still change (so it is polled, and no other run can start). */
export function isActive(run: Pick<SyncRun, "state">): boolean {
  return ACTIVE.has(run.state);
}

/** What the user reads as the run's state: the API's state, with a finished run's nuance (budget, record errors). */
export type DisplayState = RunState | "budget_exhausted" | "succeeded_with_errors";

export function displayState(run: SyncRun): DisplayState {
  if (run.state === "succeeded" && run.budget_exhausted) return "budget_exhausted";
  if (run.state === "succeeded" && (run.errors_total ?? 0) > 0) return "succeeded_with_errors";
  return run.state;
}

/** The objects a run is about, in the app's order: those it counted or measured, else those asked for. */
export function runObjects(run: SyncRun): CrmObject[] {
  const seen = new Set<string>([...Object.keys(run.counts ?? {}), ...Object.keys(run.progress ?? {})]);
  if (seen.size === 0) for (const obj of run.objects ?? []) seen.add(obj);
  return RUN_OBJECTS.filter((obj) => seen.has(obj));
}

export interface Progress {
  done: number;
  /** null: the API gave no estimate (an incremental run reads what changed; nobody knows how much beforehand). */
  total: number | null;
  /** 0-100, whole; null without a total. */
  percent: number | null;
}

export function progressOf(progress: ImportProgress | null | undefined): Progress | null {
  if (!progress) return null;
  const done = progress.done ?? 0;
  const total = progress.estimated_total ?? null;
  let percent: number | null = null;
  if (typeof progress.percent === "number") percent = progress.percent;
  else if (total !== null) percent = total > 0 ? (done * 100) / total : 100;
  // The estimate is the CRM's size when the run started: records created meanwhile can take `done` past it.
  return { done, total, percent: percent === null ? null : Math.min(100, Math.floor(percent)) };
}

/** All objects' progress together; null when the run reports none (an incremental run reads what changed). The
 *  selections' persons are left out: they are listed on every SuperOffice run, so they would make any run look
 *  measured; they have a row of their own. */
export function overallProgress(run: SyncRun): Progress | null {
  const parts = RUN_OBJECTS.map((obj) => progressOf(run.progress?.[obj])).filter((p): p is Progress => p !== null);
  if (parts.length === 0) return null;
  const done = parts.reduce((sum, p) => sum + p.done, 0);
  if (parts.some((p) => p.total === null)) return { done, total: null, percent: null };
  const total = parts.reduce((sum, p) => sum + (p.total ?? 0), 0);
  return progressOf({ done, estimated_total: total });
}

/** The time a running run still needs at the pace so far, in ms; null when there is nothing to go on. */
export function remainingMs(run: SyncRun, now: Date): number | null {
  const overall = overallProgress(run);
  const started = run.started_at ? Date.parse(run.started_at) : Number.NaN;
  if (!isActive(run) || !overall || overall.total === null || overall.done <= 0 || Number.isNaN(started)) return null;
  const elapsed = now.getTime() - started;
  if (elapsed <= 0) return null;
  return Math.max(0, (elapsed * (overall.total - overall.done)) / overall.done);
}

/** A duration as a user reads an estimate: the message key's last part and its number. */
export function durationParts(ms: number): { unit: "under_a_minute" | "minutes" | "hours"; n: number } {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return { unit: "under_a_minute", n: 0 };
  if (minutes < 90) return { unit: "minutes", n: minutes };
  return { unit: "hours", n: Math.round(minutes / 60) };
}

const KNOWN_FAILURES = new Set(["needs_reauth", "not_connected", "crm_unavailable", "store_unavailable",
  "crm_rejected", "superseded"]);

/** Why a failed run failed: the run-level error it ended with (the last one not about a record). */
export function failureOf(run: SyncRun): RunError | null {
  if (run.state !== "failed") return null;
  const errors = run.errors ?? [];
  return [...errors].reverse().find((e) => !e.crm_id) ?? errors[errors.length - 1] ?? null;
}

/** The advice's message key suffix for a failure's code (`run.advice.<suffix>`); docs/sync.md's hints per code. */
export function adviceFor(code: string | null | undefined): string {
  return code && KNOWN_FAILURES.has(code) ? code : "other";
}

export const POLL_FIRST_MS = 1_000;
export const POLL_MAX_MS = 10_000;
const POLL_FACTOR = 1.5;

/** How long to wait before asking for the run again: soon after a change, then backing off to every 10 s while
 *  nothing moves (a run waiting out a CRM's rate limit may sit still for minutes). */
export function nextPollDelay(previousMs: number | null, changed: boolean): number {
  if (previousMs === null || changed) return POLL_FIRST_MS;
  return Math.min(POLL_MAX_MS, Math.round(previousMs * POLL_FACTOR));
}

/** Whether two answers for the same run differ in anything the element shows. */
export function runChanged(before: SyncRun | null, after: SyncRun): boolean {
  if (!before || before.id !== after.id) return true;
  return before.state !== after.state || before.updated_at !== after.updated_at
    || JSON.stringify([before.counts, before.progress, before.selections, before.crm_calls])
      !== JSON.stringify([after.counts, after.progress, after.selections, after.crm_calls]);
}

/** The run a tenant's list shows as current: a sync run still going, else the newest sync run (null: none yet). */
export function currentRun(page: SyncRunPage): SyncRun | null {
  const syncs = page.items.filter((run) => (run.kind ?? "sync") === "sync");
  return syncs.find(isActive) ?? syncs[0] ?? null;
}

/** The run a 409 of `POST /sync-runs` names (the one already queued or running). */
export function runningRunId(error: ApiError): string | null {
  if (error.status !== 409) return null;
  const id = error.details["run_id"];
  return typeof id === "string" && id ? id : null;
}

/** The `objects` attribute ("company, person") as the API takes it; unknown names dropped, null: every object. */
export function parseObjects(value: string | null | undefined): CrmObject[] | null {
  const chosen = (value ?? "").split(/[\s,]+/).filter((name): name is CrmObject => RUN_OBJECTS.includes(name as CrmObject));
  return chosen.length ? [...new Set(chosen)] : null;
}
