import { test } from "node:test";
import assert from "node:assert/strict";
import {
  adviceFor, currentRun, displayState, durationParts, failureOf, isActive, nextPollDelay, overallProgress, parseObjects,
  POLL_FIRST_MS, POLL_MAX_MS, progressOf, remainingMs, runChanged, runningRunId, runObjects, type SyncRun,
} from "../src/elements/run/model.js";
import { errorFromResponse } from "../src/errors.js";

// A first run importing companies and persons, as GET /sync-runs/{id} answers it mid-way (shortened).
const running: SyncRun = {
  id: "run-1", crm: "superoffice", kind: "sync", trigger: "manual", state: "running", mode: "first",
  created_at: "2026-12-01T08:00:00Z", started_at: "2026-12-01T08:00:00Z", updated_at: "2026-12-01T08:02:00Z",
  counts: { person: { read: 50, created: 50 }, company: { read: 150, created: 140, updated: 10 } },
  progress: { company: { done: 150, estimated_total: 200, percent: 75 }, person: { done: 50, estimated_total: 200, percent: 25 } },
  errors: [], errors_total: 0, crm_calls: 12, request_budget: 20000,
};

test("a run is followed while queued, running or continued, and not once it ended", () => {
  for (const state of ["queued", "running", "continued"] as const) assert.equal(isActive({ state }), true);
  for (const state of ["succeeded", "failed"] as const) assert.equal(isActive({ state }), false);
});

test("the state a user reads tells a stop at the budget and record errors from a clean success", () => {
  assert.equal(displayState(running), "running");
  assert.equal(displayState({ ...running, state: "succeeded" }), "succeeded");
  assert.equal(displayState({ ...running, state: "succeeded", budget_exhausted: true }), "budget_exhausted");
  assert.equal(displayState({ ...running, state: "succeeded", errors_total: 2 }), "succeeded_with_errors");
  assert.equal(displayState({ ...running, state: "failed", errors_total: 1 }), "failed");
});

test("objects come in the app's order; a queued run shows those it was asked for", () => {
  assert.deepEqual(runObjects(running), ["company", "person"]);
  assert.deepEqual(runObjects({ ...running, counts: {}, progress: {}, objects: ["deal", "company"] }), ["company", "deal"]);
  assert.deepEqual(runObjects({ ...running, counts: {}, progress: {}, objects: null }), []);
});

test("progress is done of the estimate; without an estimate it is unknown, and never past 100%", () => {
  assert.deepEqual(progressOf({ done: 150, estimated_total: 200, percent: 75 }), { done: 150, total: 200, percent: 75 });
  assert.deepEqual(progressOf({ done: 1, estimated_total: 3 }), { done: 1, total: 3, percent: 33 });
  assert.deepEqual(progressOf({ done: 7, estimated_total: null, percent: null }), { done: 7, total: null, percent: null });
  assert.deepEqual(progressOf({ done: 210, estimated_total: 200 }), { done: 210, total: 200, percent: 100 });
  assert.deepEqual(progressOf({ done: 0, estimated_total: 0, percent: null }), { done: 0, total: 0, percent: 100 });
  assert.equal(progressOf(null), null);
});

test("the overall progress adds the objects'; one unknown total makes it unknown; selections alone are no estimate", () => {
  assert.deepEqual(overallProgress(running), { done: 200, total: 400, percent: 50 });
  assert.deepEqual(overallProgress({ ...running, selections: { done: 0, estimated_total: 100 } }),
                   { done: 200, total: 400, percent: 50 });
  assert.deepEqual(overallProgress({ ...running, progress: { ...running.progress, deal: { done: 4 } } }),
                   { done: 204, total: null, percent: null });
  // An incremental SuperOffice run: no object measured, only the selections' persons listed.
  assert.equal(overallProgress({ ...running, progress: {}, selections: { done: 0, estimated_total: 0 } }), null);
});

test("the time left is the pace so far applied to what remains, only while the run goes on", () => {
  const now = new Date("2026-12-01T08:02:00Z"); // 2 minutes for 200 of 400
  assert.equal(remainingMs(running, now), 120_000);
  assert.equal(remainingMs({ ...running, state: "succeeded" }, now), null);
  assert.equal(remainingMs({ ...running, progress: { company: { done: 0, estimated_total: 10 } } }, now), null);
  assert.equal(remainingMs({ ...running, started_at: null }, now), null);
  assert.equal(remainingMs({ ...running, progress: { company: { done: 5, estimated_total: null } } }, now), null);
});

test("a duration reads as under a minute, minutes, or hours", () => {
  assert.deepEqual(durationParts(20_000), { unit: "under_a_minute", n: 0 });
  assert.deepEqual(durationParts(120_000), { unit: "minutes", n: 2 });
  assert.deepEqual(durationParts(89 * 60_000), { unit: "minutes", n: 89 });
  assert.deepEqual(durationParts(3 * 3_600_000), { unit: "hours", n: 3 });
});

test("a failed run's reason is the run-level error it ended with; the advice follows its code", () => {
  const failed: SyncRun = { ...running, state: "failed", errors: [
    { at: "2026-12-01T08:01:00Z", code: "invalid_value", message: "bad phone", object: "person", crm_id: "7" },
    { at: "2026-12-01T08:02:00Z", code: "needs_reauth", message: "The grant was revoked" },
  ] };
  assert.equal(failureOf(failed)?.code, "needs_reauth");
  assert.equal(failureOf(running), null);
  assert.equal(failureOf({ ...failed, errors: [] }), null);
  assert.equal(adviceFor("needs_reauth"), "needs_reauth");
  assert.equal(adviceFor("crm_rejected"), "crm_rejected");
  assert.equal(adviceFor("KeyError"), "other");
  assert.equal(adviceFor(null), "other");
});

test("polling starts at a second, backs off to ten while nothing moves, and is quick again after a change", () => {
  const delays: number[] = [];
  let delay: number | null = null;
  for (let i = 0; i < 8; i++) delays.push(delay = nextPollDelay(delay, false));
  assert.equal(delays[0], POLL_FIRST_MS);
  assert.deepEqual(delays.slice(0, 4), [1000, 1500, 2250, 3375]);
  assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]!));
  assert.equal(delays[delays.length - 1], POLL_MAX_MS);
  assert.equal(nextPollDelay(POLL_MAX_MS, true), POLL_FIRST_MS);
});

test("a run counts as changed when its state, counts, progress or calls moved", () => {
  assert.equal(runChanged(null, running), true);
  assert.equal(runChanged(running, { ...running }), false);
  assert.equal(runChanged(running, { ...running, crm_calls: 13 }), true);
  assert.equal(runChanged(running, { ...running, counts: { company: { read: 151 } } }), true);
  assert.equal(runChanged(running, { ...running, state: "succeeded" }), true);
  assert.equal(runChanged(running, { ...running, id: "run-2" }), true);
});

test("the current run is one still going, else the newest sync run; bulk exports are not sync runs", () => {
  const done = { ...running, id: "old", state: "succeeded" as const };
  const exporting = { ...running, id: "export", kind: "export" as const };
  assert.equal(currentRun({ items: [exporting, done, { ...running, id: "queued", state: "queued" }] })?.id, "queued");
  assert.equal(currentRun({ items: [exporting, done] })?.id, "old");
  assert.equal(currentRun({ items: [] }), null);
});

test("a 409 of POST /sync-runs names the run already going", () => {
  const conflict = errorFromResponse(409, { error: { code: "conflict", message: "already running",
    details: { run_id: "run-1", hint: "Follow it with GET /sync-runs/run-1" } } });
  assert.equal(runningRunId(conflict), "run-1");
  assert.equal(runningRunId(errorFromResponse(403, { error: { code: "forbidden", message: "no" } })), null);
});

test("the objects attribute becomes the API's list; nothing or nonsense means every object", () => {
  assert.deepEqual(parseObjects("company, person company"), ["company", "person"]);
  assert.equal(parseObjects(""), null);
  assert.equal(parseObjects("planet"), null);
  assert.equal(parseObjects(null), null);
});
