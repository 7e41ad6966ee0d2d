import { test } from "node:test";
import assert from "node:assert/strict";
import {
  INBOUND_OPS, applyProposal, buildPatch, chooseObject, chooseStage, clone, controlForPath, controlPaths, isDirty,
  placeProblems, ruleText, ruleValue, settingsProblems, stageChoice, stepOfPath, withOp, wizardSettings,
  type WizardSettings,
} from "../src/elements/setup/model.js";
import { LeadbridgeClient } from "../src/api.js";
import type { ApiError } from "../src/errors.js";

// A settings document as GET /settings/superoffice answers it (shortened).
const document = {
  crm: "superoffice", version: 3, updated_by: "admin",
  objects: { company: { crm_object: "Contact", direction: "both" }, activity: { crm_object: "Appointment", direction: "off" } },
  field_mappings: {
    company: [{ app_fields: ["company_name"], crm_field: "Name", direction: "both", custom: false }],
    person: [{ app_fields: ["first_name"], crm_field: "Firstname", direction: "both" }],
  },
  status_mapping: { app_stages: ["New", "Won", "Lost"], create_at_stage: "New",
                    stages: [{ app_stage: "Won", crm_stage: null, crm_status: "Sold", inbound: false }] },
  owners: { default_crm_user: null, default_app_user: null, user_map: {}, on_existing: "keep" },
  schedule: { frequency: "manual", start_date: null, start_time: "00:00:00", timezone: "Europe/Copenhagen",
              next_run_at: null },
  initial_import: false,
  matching: { org_nr_field: null },
};

function edited(): [WizardSettings, WizardSettings] {
  const read = wizardSettings(document);
  return [read, clone(read)];
}

test("nothing edited: not dirty, an empty patch, and the document's other sections are not in the state", () => {
  const [read, state] = edited();
  assert.equal(isDirty(read, state), false);
  assert.deepEqual(buildPatch(read, state), {});
  assert.equal("matching" in state, false);
});

test("editing then undoing a change is not dirty", () => {
  const [read, state] = edited();
  state.schedule.frequency = "daily";
  assert.equal(isDirty(read, state), true);
  state.schedule.frequency = "manual";
  assert.equal(isDirty(read, state), false);
});

test("the patch holds only the changed keys of each section, never the server's next_run_at", () => {
  const [read, state] = edited();
  state.objects["activity"]!.direction = "to_crm";
  state.owners.default_crm_user = "101";
  state.schedule = { ...state.schedule, frequency: "daily", start_date: "2026-12-02", start_time: "08:30",
                     next_run_at: "2026-12-02T07:30:00Z" };
  state.initial_import = true;
  assert.deepEqual(buildPatch(read, state), {
    objects: { activity: { crm_object: "Appointment", direction: "to_crm" } },
    owners: { default_crm_user: "101" },
    schedule: { frequency: "daily", start_date: "2026-12-02", start_time: "08:30" },
    initial_import: true,
  });
});

test("a changed mapping list is sent whole for its object only; the stage table is sent whole", () => {
  const [read, state] = edited();
  state.field_mappings["company"]!.push({ app_fields: ["org_number"], crm_field: "OrgNr", direction: "to_crm" });
  chooseStage(state.status_mapping, "New", "stage:1");
  const patch = buildPatch(read, state);
  assert.deepEqual(Object.keys(patch.field_mappings as object), ["company"]);
  assert.equal((patch.field_mappings as Record<string, unknown[]>)["company"]!.length, 2);
  assert.deepEqual(patch.status_mapping, { stages: [
    { app_stage: "Won", crm_stage: null, crm_status: "Sold", inbound: false },
    { app_stage: "New", inbound: false, crm_stage: "1", crm_status: null },
  ] });
  assert.deepEqual(read.status_mapping.stages.length, 1, "the state read stays as read");
});

test("one choice per app stage: a stage or a won/lost status, or not mapped", () => {
  const [, state] = edited();
  assert.equal(stageChoice(state.status_mapping, "Won"), "status:Sold");
  assert.equal(stageChoice(state.status_mapping, "New"), "");
  chooseStage(state.status_mapping, "Won", "stage:5");
  assert.equal(stageChoice(state.status_mapping, "Won"), "stage:5");
  chooseStage(state.status_mapping, "Won", "");
  assert.deepEqual(state.status_mapping.stages, []);
});

test("a 422 path names its step", () => {
  assert.equal(stepOfPath("objects.company.direction"), "objects");
  assert.equal(stepOfPath("field_mappings.company[3].crm_field"), "objects");
  assert.equal(stepOfPath("status_mapping.stages[0].crm_stage"), "status");
  assert.equal(stepOfPath("owners.default_crm_user"), "owners");
  assert.equal(stepOfPath("schedule.timezone"), "schedule");
  assert.equal(stepOfPath("initial_import"), "schedule");
  assert.equal(stepOfPath("matching.org_nr_field"), "done");
});

test("a 422 path names the control that is it or its longest whole-segment prefix", () => {
  const controls = ["schedule.timezone", "schedule.start_time", "field_mappings.company[3]",
                    "field_mappings.company[3].crm_field", "field_mappings.company[1]", "owners.default_crm_user"];
  assert.equal(controlForPath("schedule.timezone", controls), "schedule.timezone");
  assert.equal(controlForPath("field_mappings.company[3].crm_field", controls), "field_mappings.company[3].crm_field");
  assert.equal(controlForPath("field_mappings.company[3].transforms[0]", controls), "field_mappings.company[3]");
  assert.equal(controlForPath("field_mappings.company[31].crm_field", controls), null, "31 is not 3");
  assert.equal(controlForPath("owners", controls), null);
  assert.deepEqual(placeProblems([{ path: "owners.default_crm_user", message: "not a user" },
                                  { path: "matching.domain_field", message: "no field" }], controls), [
    { path: "owners.default_crm_user", message: "not a user", step: "owners", control: "owners.default_crm_user" },
    { path: "matching.domain_field", message: "no field", step: "done", control: null },
  ]);
});

test("the settings 422 is read by its path, or by its loc when a problem has no path", () => {
  assert.deepEqual(settingsProblems({ errors: [
    { loc: ["body", "owners", "default_crm_user"], path: "owners.default_crm_user", type: "unknown_crm_user",
      message: "'4242' is not a user in the CRM" },
    { loc: ["body", "field_mappings", "company", 3, "crm_field"], msg: "Field required" },
    "noise",
  ] }), [
    { path: "owners.default_crm_user", message: "'4242' is not a user in the CRM" },
    { path: "field_mappings.company[3].crm_field", message: "Field required" },
  ]);
  assert.deepEqual(settingsProblems({}), []);
});

test("the client keeps the settings' ETag and sends it back as If-Match on a PATCH; a 412 is stale", async () => {
  const seen: { url: string; init: RequestInit }[] = [];
  const answers = [
    new Response(JSON.stringify(document), { status: 200, headers: { ETag: '"3"' } }),
    new Response(JSON.stringify({ error: { code: "precondition_failed", message: "stale",
                                           details: { current_version: 4, etag: '"4"' } } }), { status: 412 }),
  ];
  const client = new LeadbridgeClient({ apiUrl: "http://api", getToken: () => "t", fetch: (async (input, init) => {
    seen.push({ url: String(input), init: init ?? {} });
    return answers.shift()!;
  }) as typeof fetch });
  const read = await client.settings("superoffice");
  assert.equal(read.etag, '"3"');
  assert.equal(read.body.version, 3);
  await assert.rejects(client.patchSettings("superoffice", { initial_import: true }, read.etag!),
                       (error: ApiError) => error.isStale && error.details["etag"] === '"4"');
  assert.equal(seen[1]!.url, "http://api/settings/superoffice");
  assert.equal(seen[1]!.init.method, "PATCH");
  assert.equal((seen[1]!.init.headers as Record<string, string>)["If-Match"], '"3"');
  assert.equal(seen[1]!.init.body, JSON.stringify({ initial_import: true }));
});

test("every control the wizard shows has a path a 422 can name", () => {
  const paths = controlPaths(wizardSettings(document));
  for (const path of ["objects.company.direction", "field_mappings.company[0].crm_field", "field_mappings.person[0]",
                      "status_mapping.stages[0]", "owners.default_crm_user", "schedule.timezone", "initial_import"]) {
    assert.ok(paths.includes(path), path);
  }
  assert.equal(controlForPath("status_mapping.stages[0].crm_status", paths), "status_mapping.stages[0]");
});

test("selective sync and the inbound filter: their own step, sent whole per changed key, never effective_from", () => {
  const read = wizardSettings({ ...document, selective_sync: { enabled: false, match: "all", conditions: [],
                                                              effective_from: "2026-11-01T00:00:00Z" } });
  const state = clone(read);
  assert.deepEqual(read.inbound_filter, { match: "all", conditions: [] }, "a document without it gets the default");
  state.selective_sync.enabled = true;
  state.selective_sync.conditions.push({ object: "company", field: "score", op: "gte", value: 50 });
  state.selective_sync.effective_from = "2026-12-01T00:00:00Z";
  state.inbound_filter.conditions.push({ object: "company", crm_field: "Industry", op: "eq", value: "Software" });
  assert.deepEqual(buildPatch(read, state), {
    selective_sync: { enabled: true, conditions: [{ object: "company", field: "score", op: "gte", value: 50 }] },
    inbound_filter: { conditions: [{ object: "company", crm_field: "Industry", op: "eq", value: "Software" }] },
  });
  assert.equal(stepOfPath("selective_sync.conditions[0].value"), "rules");
  assert.equal(stepOfPath("inbound_filter.conditions[0].crm_field"), "rules");
  const controls = controlPaths(state);
  assert.equal(controlForPath("selective_sync.conditions[0].value", controls), "selective_sync.conditions[0].value");
  assert.equal(controlForPath("inbound_filter.conditions[0].crm_field", controls),
               "inbound_filter.conditions[0].crm_field");
  assert.equal(controlForPath("selective_sync.conditions[3].field", controls), null, "no fourth condition is shown");
});

test("a condition's value from what the user typed", () => {
  assert.equal(ruleValue("gte", "50", "integer"), 50);
  assert.equal(ruleValue("gte", "50"), 50, "a size comparison of a number");
  assert.equal(ruleValue("eq", "50", "text"), "50", "a text field keeps the text");
  assert.equal(ruleValue("eq", "  Software "), "Software");
  assert.deepEqual(ruleValue("in", "Software, Retail,, ", "text"), ["Software", "Retail"]);
  assert.deepEqual(ruleValue("not_in", "1, 2", "integer"), [1, 2]);
  assert.equal(ruleValue("eq", "   "), undefined, "no value: the server names it");
  assert.equal(ruleValue("is_empty", "x"), undefined);
  assert.equal(ruleText(["a", "b"]), "a, b");
  assert.equal(ruleText(undefined), "");
  assert.deepEqual(withOp({ object: "company", field: "industry", op: "eq", value: "Software" }, "in", "text"),
                   { object: "company", field: "industry", op: "in", value: ["Software"] });
  assert.deepEqual(withOp({ object: "company", field: "industry", op: "eq", value: "x" }, "is_empty"),
                   { object: "company", field: "industry", op: "is_empty" });
  assert.equal(withOp({ object: "company", field: "score", op: "eq", value: "Won" }, "at_or_after_stage").field,
               "stage");
  assert.equal(INBOUND_OPS.includes("at_or_after_stage"), false);
});

test("switching Salesforce's company to Lead takes the person along, and back", () => {
  const objects = { company: { crm_object: "Account", direction: "both" as const },
                    person: { crm_object: "Contact", direction: "both" as const } };
  const choices = { company: ["Account", "Lead"], person: ["Contact", "Lead"] };
  chooseObject(objects, "company", "Lead", choices);
  assert.deepEqual([objects.company.crm_object, objects.person.crm_object], ["Lead", "Lead"]);
  chooseObject(objects, "company", "Account", choices);
  assert.deepEqual([objects.company.crm_object, objects.person.crm_object], ["Account", "Contact"]);
  const single = { company: { crm_object: "contact", direction: "both" as const },
                   person: { crm_object: "person", direction: "both" as const } };
  chooseObject(single, "company", "contact", { company: ["contact"], person: ["person"] });
  assert.equal(single.person.crm_object, "person");
});

test("a refused switch's proposal replaces the mappings and the stage table", () => {
  const [, state] = edited();
  const applied = applyProposal(state, {
    field_mappings: { company: [{ app_fields: ["company_name"], crm_field: "Company", direction: "both" }] },
    status_mapping: { app_stages: ["New"], stages: [{ app_stage: "New", crm_status: "Open", inbound: true }] },
  });
  assert.equal(applied, true);
  assert.equal(state.field_mappings["company"]![0]!.crm_field, "Company");
  assert.equal(state.field_mappings["person"]!.length, 1, "objects the proposal does not name keep theirs");
  assert.deepEqual(state.status_mapping.app_stages, ["New"]);
  assert.equal(applyProposal(state, {}), false);
});
