// The setup wizard's state, without the DOM (unit-tested with node --test): the sections of the settings document
// (docs/settings.md) the five steps edit, the JSON merge patch a save sends, whether anything is unsaved, and which
// step and control a 422's `path` names.

export type Direction = "off" | "to_crm" | "from_crm" | "both";
export type MappingDirection = "to_crm" | "from_crm" | "both";
export const APP_OBJECTS = ["company", "person", "deal", "activity"] as const;
export type AppObject = (typeof APP_OBJECTS)[number];
export const DIRECTIONS: Direction[] = ["off", "to_crm", "from_crm", "both"];
export const MAPPING_DIRECTIONS: MappingDirection[] = ["to_crm", "from_crm", "both"];
/** `manual` is "no schedule"; the other four are the frequencies seed 000's scheduler offers. */
export const FREQUENCIES = ["every_15_minutes", "hourly", "daily", "weekly", "manual"] as const;

export interface ObjectSetting {
  crm_object: string;
  direction: Direction;
}

export interface FieldMapping {
  app_fields: string[];
  crm_field: string;
  direction: MappingDirection;
  [key: string]: unknown; // transforms, conflict_policy, on_existing, precedence, custom: kept as read
}

export interface StageMapping {
  app_stage: string;
  crm_stage?: string | null;
  crm_status?: string | null;
  inbound?: boolean;
}

export interface StatusMapping {
  app_stages: string[];
  stages: StageMapping[];
  [key: string]: unknown;
}

export interface Owners {
  default_crm_user: string | null;
  default_app_user: string | null;
  [key: string]: unknown;
}

export interface Schedule {
  frequency: (typeof FREQUENCIES)[number];
  start_date: string | null;
  start_time: string;
  timezone: string;
  next_run_at?: string | null;
}

/** The part of the settings document the wizard edits; the rest of the document is never sent back. */
export interface WizardSettings {
  objects: Record<string, ObjectSetting>;
  field_mappings: Record<string, FieldMapping[]>;
  status_mapping: StatusMapping;
  owners: Owners;
  schedule: Schedule;
  initial_import: boolean;
}

export const SECTIONS = ["objects", "field_mappings", "status_mapping", "owners", "schedule", "initial_import"] as const;
/** Computed by the server on save; never sent. */
const SERVER_ONLY: Record<string, string[]> = { schedule: ["next_run_at"] };

/** The wizard's sections of a settings document, deep-copied so editing them leaves the document as read. */
export function wizardSettings(document: Record<string, unknown>): WizardSettings {
  const picked: Record<string, unknown> = {};
  for (const section of SECTIONS) picked[section] = document[section];
  return clone(picked) as unknown as WizardSettings;
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The JSON merge patch (RFC 7396) from what was read to what the wizard holds: per section only the keys that
 * changed, each with its whole new value (a mapping list or the stage table is replaced as a whole, never merged by
 * index); `field_mappings` per object. Empty when nothing changed.
 */
export function buildPatch(read: WizardSettings, edited: WizardSettings): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const section of SECTIONS) {
    const before = read[section] as unknown;
    const after = edited[section] as unknown;
    if (same(before, after)) continue;
    if (!isRecord(before) || !isRecord(after)) {
      patch[section] = clone(after);
      continue;
    }
    const changed: Record<string, unknown> = {};
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if ((SERVER_ONLY[section] ?? []).includes(key)) continue;
      if (!same(before[key], after[key])) changed[key] = key in after ? clone(after[key]) : null;
    }
    if (Object.keys(changed).length) patch[section] = changed;
  }
  return patch;
}

export function isDirty(read: WizardSettings, edited: WizardSettings): boolean {
  return Object.keys(buildPatch(read, edited)).length > 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// ---- steps and the controls a 422 names

export const STEPS = ["objects", "status", "owners", "schedule", "done"] as const;
export type Step = (typeof STEPS)[number];

const STEP_OF_SECTION: Record<string, Step> = {
  objects: "objects", field_mappings: "objects", status_mapping: "status", lead_conversion: "status",
  owners: "owners", schedule: "schedule", initial_import: "schedule",
};

/** The step whose controls edit this path (`field_mappings.company[3].crm_field` -> objects); else the last step. */
export function stepOfPath(path: string): Step {
  const section = path.split(/[.[]/, 1)[0] ?? "";
  return STEP_OF_SECTION[section] ?? "done";
}

/** Path segments: `a.b[3].c` -> ["a", "b", "3", "c"]. */
function segments(path: string): string[] {
  return path.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
}

/**
 * The control a 422 path belongs to: the known control path that is the path itself or its longest prefix by whole
 * segments (`schedule.timezone` -> `schedule.timezone`; `field_mappings.company[3].transforms[0]` ->
 * `field_mappings.company[3]` when only that row is a control); null when none is.
 */
export function controlForPath(path: string, controls: Iterable<string>): string | null {
  const wanted = segments(path);
  let best: string | null = null;
  let bestLength = -1;
  for (const control of controls) {
    const parts = segments(control);
    if (parts.length > wanted.length || parts.length <= bestLength) continue;
    if (parts.every((part, i) => part === wanted[i])) {
      best = control;
      bestLength = parts.length;
    }
  }
  return best;
}

export interface PlacedProblem {
  path: string;
  message: string;
  step: Step;
  control: string | null;
}

/** Every problem of a 422 with its step and control (null: shown at the top of its step). */
export function placeProblems(problems: { path: string; message: string }[], controls: Iterable<string>):
    PlacedProblem[] {
  const known = [...controls];
  return problems.map((p) => ({ ...p, step: stepOfPath(p.path), control: controlForPath(p.path, known) }));
}

/** The settings 422's `details.errors[]`: each names its `path` (docs/settings.md), else built from `loc`. */
export function settingsProblems(details: Record<string, unknown>): { path: string; message: string }[] {
  const raw = details["errors"];
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((item) => {
    if (!isRecord(item)) return [];
    let path = typeof item["path"] === "string" ? item["path"] : "";
    if (!path && Array.isArray(item["loc"])) {
      const loc = (item["loc"] as unknown[]).map(String);
      if (loc[0] === "body") loc.shift();
      path = loc.reduce((joined, part) => (/^\d+$/.test(part) ? `${joined}[${part}]` : joined ? `${joined}.${part}` : part), "");
    }
    return [{ path, message: String(item["message"] ?? item["msg"] ?? "") }];
  });
}

// ---- status mapping: one choice per app stage

/** The select's value for an app stage: "stage:<id>", "status:<id>" or "" (not mapped). */
export function stageChoice(mapping: StatusMapping, appStage: string): string {
  const entry = mapping.stages.find((s) => s.app_stage === appStage);
  if (!entry) return "";
  if (entry.crm_status) return `status:${entry.crm_status}`;
  if (entry.crm_stage) return `stage:${entry.crm_stage}`;
  return "";
}

/** Sets an app stage's CRM stage or status (or removes its entry for ""), keeping the table's order. */
export function chooseStage(mapping: StatusMapping, appStage: string, choice: string): void {
  const index = mapping.stages.findIndex((s) => s.app_stage === appStage);
  if (!choice) {
    if (index >= 0) mapping.stages.splice(index, 1);
    return;
  }
  const [kind, ...rest] = choice.split(":");
  const id = rest.join(":");
  const entry: StageMapping = index >= 0 ? mapping.stages[index]! : { app_stage: appStage, inbound: false };
  entry.crm_stage = kind === "stage" ? id : null;
  entry.crm_status = kind === "status" ? id : null;
  if (index < 0) mapping.stages.push(entry);
}

/** The path of every control the wizard shows for these settings (a 422 is placed against them). */
export function controlPaths(settings: WizardSettings): string[] {
  const paths: string[] = [];
  for (const object of Object.keys(settings.objects)) {
    paths.push(`objects.${object}.crm_object`, `objects.${object}.direction`);
  }
  for (const [object, mappings] of Object.entries(settings.field_mappings)) {
    mappings.forEach((_, i) => {
      const row = `field_mappings.${object}[${i}]`;
      paths.push(row, `${row}.app_fields`, `${row}.crm_field`, `${row}.direction`);
    });
  }
  settings.status_mapping.stages.forEach((_, i) => paths.push(`status_mapping.stages[${i}]`));
  paths.push("owners.default_crm_user", "owners.default_app_user", "schedule.frequency", "schedule.start_date",
             "schedule.start_time", "schedule.timezone", "initial_import");
  return paths;
}
