// The setup wizard's state, without the DOM (unit-tested with node --test): the sections of the settings document
// (docs/settings.md) the six steps edit, the JSON merge patch a save sends, whether anything is unsaved, and which
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

/** A selective-sync rule (on an app field) or an inbound-filter condition (on a CRM field). */
export interface RuleCondition {
  object: string;
  field?: string;
  crm_field?: string;
  op: RuleOp;
  value?: unknown;
}

export interface SelectiveSync {
  enabled: boolean;
  match: "all" | "any";
  conditions: RuleCondition[];
  effective_from?: string | null;
}

export interface InboundFilter {
  match: "all" | "any";
  conditions: RuleCondition[];
}

/** The part of the settings document the wizard edits; the rest of the document is never sent back. */
export interface WizardSettings {
  objects: Record<string, ObjectSetting>;
  field_mappings: Record<string, FieldMapping[]>;
  status_mapping: StatusMapping;
  selective_sync: SelectiveSync;
  inbound_filter: InboundFilter;
  owners: Owners;
  schedule: Schedule;
  initial_import: boolean;
}

export const SECTIONS = ["objects", "field_mappings", "status_mapping", "selective_sync", "inbound_filter", "owners",
                         "schedule", "initial_import"] as const;
/** Computed by the server on save; never sent. */
const SERVER_ONLY: Record<string, string[]> = { schedule: ["next_run_at"], selective_sync: ["effective_from"] };

/** The wizard's sections of a settings document, deep-copied so editing them leaves the document as read. */
export function wizardSettings(document: Record<string, unknown>): WizardSettings {
  const picked: Record<string, unknown> = {};
  for (const section of SECTIONS) picked[section] = document[section];
  // The API always answers both (with their defaults); a document from an older leadbridge may lack them.
  picked["selective_sync"] ??= { enabled: false, match: "all", conditions: [] };
  picked["inbound_filter"] ??= { match: "all", conditions: [] };
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

export const STEPS = ["objects", "status", "rules", "owners", "schedule", "done"] as const;
export type Step = (typeof STEPS)[number];

const STEP_OF_SECTION: Record<string, Step> = {
  objects: "objects", field_mappings: "objects", status_mapping: "status", lead_conversion: "status",
  selective_sync: "rules", inbound_filter: "rules", owners: "owners", schedule: "schedule", initial_import: "schedule",
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
  paths.push("selective_sync.enabled", "selective_sync.match", "inbound_filter.match");
  for (const [section, field] of [["selective_sync", "field"], ["inbound_filter", "crm_field"]] as const) {
    settings[section].conditions.forEach((_, i) => {
      const row = `${section}.conditions[${i}]`;
      paths.push(row, `${row}.object`, `${row}.${field}`, `${row}.op`, `${row}.value`);
    });
  }
  paths.push("owners.default_crm_user", "owners.default_app_user", "schedule.frequency", "schedule.start_date",
             "schedule.start_time", "schedule.timezone", "initial_import");
  return paths;
}

// ---- selective sync and the inbound filter: conditions and their values

export const RULE_OPS = ["eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with", "gt", "gte", "lt",
                         "lte", "is_empty", "is_not_empty", "at_or_after_stage"] as const;
export type RuleOp = (typeof RULE_OPS)[number];
/** The inbound filter compares CRM values: the app's pipeline position means nothing there. */
export const INBOUND_OPS: RuleOp[] = RULE_OPS.filter((op) => op !== "at_or_after_stage");
const LIST_OPS: RuleOp[] = ["in", "not_in"];
const NUMBER_KINDS = ["integer", "decimal"];

/** Whether the op compares with a value (is_empty and is_not_empty do not). */
export function takesValue(op: RuleOp): boolean {
  return op !== "is_empty" && op !== "is_not_empty";
}

/**
 * A condition's value from what the user typed: none for is_empty/is_not_empty; a list for in/not_in (comma-separated);
 * a number where the field holds numbers (`kind` integer/decimal) or the op compares sizes and the text is a number;
 * else the text. An empty text is no value (the server then names the condition: "op 'eq' needs a value").
 */
export function ruleValue(op: RuleOp, text: string, kind?: string): unknown {
  if (!takesValue(op)) return undefined;
  const asValue = (part: string): unknown => {
    const trimmed = part.trim();
    const numeric = trimmed !== "" && !Number.isNaN(Number(trimmed));
    const numberField = kind !== undefined && NUMBER_KINDS.includes(kind);
    return numeric && (numberField || (kind === undefined && ["gt", "gte", "lt", "lte"].includes(op)))
      ? Number(trimmed) : trimmed;
  };
  if (LIST_OPS.includes(op)) return text.split(",").map((p) => p.trim()).filter(Boolean).map(asValue);
  return text.trim() === "" ? undefined : asValue(text);
}

/** The text an input shows for a stored value. */
export function ruleText(value: unknown): string {
  if (value === undefined || value === null) return "";
  return Array.isArray(value) ? value.map(String).join(", ") : String(value);
}

/** A condition with a new op: the value kept when it still fits, reshaped between a list and one value. */
export function withOp(condition: RuleCondition, op: RuleOp, kind?: string): RuleCondition {
  const next: RuleCondition = { ...condition, op };
  if (!takesValue(op)) delete next.value;
  else if (op === "at_or_after_stage") next.field = "stage";
  if (takesValue(op)) {
    const value = ruleValue(op, ruleText(condition.value), kind);
    if (value === undefined) delete next.value;
    else next.value = value;
  }
  return next;
}

// ---- switching a CRM's object (Salesforce Account <-> Lead)

/**
 * Sets an app object's CRM object. The person follows the company where the CRM pairs them (Salesforce Lead mode:
 * company and person are both the Lead): a person on the company's old object moves off it, and one whose choices
 * include the company's new object moves onto it. `choices`: the CRM objects offered per app object.
 */
export function chooseObject(objects: Record<string, ObjectSetting>, object: string, crmObject: string,
                             choices: Record<string, string[]>): void {
  const setting = objects[object];
  if (!setting) return;
  const previous = setting.crm_object;
  setting.crm_object = crmObject;
  const person = objects["person"];
  if (object !== "company" || !person) return;
  const offered = choices["person"] ?? [];
  if (offered.includes(crmObject)) person.crm_object = crmObject;
  else if (person.crm_object === previous) person.crm_object = offered.find((c) => c !== previous) ?? person.crm_object;
}

/** A 422's `details.proposal` (the new objects' default mappings, after a switch), applied to the wizard's state. */
export function applyProposal(settings: WizardSettings, proposal: Record<string, unknown>): boolean {
  const mappings = proposal["field_mappings"];
  const status = proposal["status_mapping"];
  let applied = false;
  if (isRecord(mappings)) {
    for (const [object, list] of Object.entries(mappings)) {
      if (Array.isArray(list)) {
        settings.field_mappings[object] = clone(list) as FieldMapping[];
        applied = true;
      }
    }
  }
  if (isRecord(status) && Array.isArray(status["app_stages"])) {
    settings.status_mapping = clone(status) as unknown as StatusMapping;
    applied = true;
  }
  return applied;
}
