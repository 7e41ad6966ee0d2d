// <leadbridge-setup crm="superoffice">: seed 000's setup as one wizard over GET/PATCH /settings/{crm}
// (docs/settings.md): 1 objects and directions (with each object's field mapping), 2 status mapping, 3 selective
// sync (seed 004: which app leads are created in the CRM; which CRM records come in), 4 default owners, 5 scheduler
// and initial import, 6 summary, preview of a sample lead (with the unsaved edits) and Save. Save sends only what changed
// as a JSON merge patch with If-Match; a 412 offers a reload, a 422 is shown next to the control its path names.
// Members see every step read-only. The state logic is in setup/model.ts.
import type { AppField, CrmField, CrmObjectInfo, CrmStage, CrmUser, Lead, SettingsPreview, PreviewRecord } from "../api.js";
import { h, type Child } from "../dom.js";
import { ApiError } from "../errors.js";
import { formatTime, type MessageKey } from "../i18n.js";
import { LeadbridgeElement, define } from "./base.js";
import {
  APP_OBJECTS, DIRECTIONS, FREQUENCIES, INBOUND_OPS, MAPPING_DIRECTIONS, RULE_OPS, STEPS, applyProposal, buildPatch,
  chooseObject, chooseStage, clone, controlPaths, isDirty, placeProblems, ruleText, ruleValue, settingsProblems,
  stageChoice, takesValue, withOp, wizardSettings, type Direction, type FieldMapping, type MappingDirection,
  type PlacedProblem, type RuleCondition, type RuleOp, type Step, type WizardSettings,
} from "./setup/model.js";

/** The lead previewed when the host gives none (`element.sampleLead = lead`). */
export const SAMPLE_LEAD: Lead = {
  id: "sample-lead", company_name: "Nordlys Eksempel ApS", org_number: "12345678", website: "https://nordlys.example",
  email: "kontakt@nordlys.example", phone: "+45 33 12 34 56", street: "Havnegade 1", postal_code: "1058",
  city: "København K", country: "DK", industry: "Software", score: 75, stage: "Qualified",
  contacts: [{ id: "sample-contact", first_name: "Ida", last_name: "Sørensen", title: "CEO",
               email: "ida@nordlys.example", phone: "+45 20 30 40 50" }],
};

type Notice = { kind: "success" | "info" | "error"; text: string } | { kind: "api-error"; error: unknown } | { kind: "stale" }
  | { kind: "proposal"; text: string; proposal: Record<string, unknown> };
/** The app objects a selective-sync rule or an inbound-filter condition can be about. */
const RULE_OBJECTS = ["company", "person", "deal"] as const;

export class LeadbridgeSetup extends LeadbridgeElement {
  /** The lead the preview uses (the host's, e.g. the lead open in the app); else a built-in sample. */
  sampleLead: Lead | null = null;
  private loadedFor: string | null = null;
  private read: WizardSettings | null = null;
  private state: WizardSettings | null = null;
  private etag: string | null = null;
  private version = 0;
  private nextRunAt: string | null = null;
  private objects: CrmObjectInfo[] = [];
  private stages: CrmStage[] = [];
  private users: CrmUser[] = [];
  private appFields: AppField[] = [];
  private fields = new Map<string, CrmField[] | "loading" | { error: unknown }>();
  private openMappings = new Set<string>();
  private step: Step = "objects";
  private admin = false;
  private loadError: unknown = null;
  private notice: Notice | null = null;
  private problems: PlacedProblem[] = [];
  private saving = false;
  private preview: SettingsPreview | { error: unknown } | "loading" | null = null;
  private readonly beforeUnload = (event: BeforeUnloadEvent): void => {
    if (!this.hasUnsavedChanges) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers show their own "leave site?" prompt only with this set
  };

  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, "crm"];
  }

  /** The `crm` attribute; without one, the CRM the tenant has connected (found when the wizard loads). */
  get crmId(): string {
    return this.getAttribute("crm") || this.connectedCrm || "superoffice";
  }

  private connectedCrm: string | null = null;

  /** Whether the wizard holds changes not saved yet (the host may ask before it navigates away). */
  get hasUnsavedChanges(): boolean {
    return this.read !== null && this.state !== null && isDirty(this.read, this.state);
  }

  /** For the host before it removes the element or navigates: true when there is nothing to lose or the user
   * confirms leaving. */
  confirmLeave(): boolean {
    return !this.hasUnsavedChanges || window.confirm(this.t("setup.leave_confirm", { crm: this.crm(this.crmId) }));
  }

  override connectedCallback(): void {
    window.addEventListener("beforeunload", this.beforeUnload);
    super.connectedCallback();
  }

  disconnectedCallback(): void {
    window.removeEventListener("beforeunload", this.beforeUnload);
    // Removed with unsaved edits: tell the host (the element keeps them if it is put back).
    if (this.hasUnsavedChanges && this.read && this.state) {
      document.dispatchEvent(new CustomEvent("leadbridge-unsaved-changes", {
        detail: { crm: this.crmId, element: this, patch: buildPatch(this.read, this.state) } }));
    }
  }

  override async refresh(): Promise<void> {
    // A language or role change redraws; only another CRM (or the first time) reads the settings.
    if (this.loadedFor !== this.crmId) {
      await this.load();
      return;
    }
    try {
      this.admin = await this.isAdmin();
    } catch (error) {
      this.loadError = error;
    }
    this.draw();
  }

  /** (Re)read the settings and the CRM's metadata, dropping unsaved edits. */
  async load(): Promise<void> {
    this.render(h("p", { class: "muted", role: "status" }, this.t("loading")));
    try {
      const client = this.client();
      if (!this.getAttribute("crm")) {
        this.connectedCrm = (await client.connections()).find((c) => c.status === "connected")?.crm ?? null;
      }
      const crm = this.crmId;
      const [settings, objects, stages, users, admin, appFields] = await Promise.all([
        client.settings(crm), client.crmObjects(crm), client.crmStages(crm), client.crmUsers(crm), this.isAdmin(),
        client.appFields().catch(() => [] as AppField[])]); // only suggestions: the wizard works without them
      this.accept(settings.body, settings.etag);
      this.appFields = appFields;
      this.objects = objects;
      this.stages = stages;
      this.users = users;
      this.admin = admin;
      this.fields.clear();
      this.problems = [];
      this.preview = null;
      this.loadedFor = crm;
      this.loadError = null;
      this.dispatchEvent(new CustomEvent("leadbridge-setup-crm", { detail: { crm }, bubbles: true }));
    } catch (error) {
      this.loadError = error;
    }
    this.draw();
  }

  private accept(document: Record<string, unknown>, etag: string | null): void {
    this.version = Number(document["version"] ?? 0);
    this.etag = etag ?? `"${this.version}"`;
    this.nextRunAt = ((document["schedule"] as Record<string, unknown> | undefined)?.["next_run_at"] as string) ?? null;
    this.read = wizardSettings(document);
    this.state = clone(this.read);
  }

  // ---- drawing

  private draw(): void {
    const crm = this.crm(this.crmId);
    const title = h("h2", {}, this.t("setup.title", { crm }));
    if (this.state === null) {
      this.render(title, this.loadError ? this.errorNotice(this.loadError) : null,
                  h("button", { class: "secondary", onclick: () => void this.load() }, this.t("retry")));
      return;
    }
    const index = STEPS.indexOf(this.step);
    this.render(
      h("style", {}, SETUP_STYLES),
      title,
      this.admin ? null : h("p", { class: "notice" }, this.t("setup.readonly")),
      this.stepNav(),
      h("div", { role: "status", "aria-live": "polite" }, this.noticeElement()),
      h("section", { class: "card step", "aria-labelledby": "lb-step-title" },
        h("p", { class: "muted", style: "margin:0" }, this.t("setup.step_of", { n: index + 1, total: STEPS.length })),
        h("h3", { id: "lb-step-title", tabindex: "-1" }, this.t(`setup.step.${this.step}`)),
        this.stepProblems(),
        this.stepBody()),
      h("div", { class: "row actions" },
        index > 0 ? h("button", { class: "secondary", "data-focus": "back", onclick: () => this.goTo(STEPS[index - 1]!) },
                      this.t("setup.back")) : null,
        index < STEPS.length - 1 ? h("button", { "data-focus": "next", onclick: () => this.goTo(STEPS[index + 1]!) },
                                     this.t("setup.next")) : null,
        this.admin && this.step === "done"
          ? h("button", { "data-focus": "save", disabled: this.saving, onclick: () => void this.save() },
              this.saving ? this.t("setup.saving") : this.t("setup.save")) : null,
        this.admin ? h("span", { class: "muted" },
                       this.hasUnsavedChanges ? this.t("setup.unsaved") : this.t("setup.no_changes")) : null),
    );
  }

  private goTo(step: Step): void {
    this.step = step;
    this.draw();
    this.root.getElementById("lb-step-title")?.focus();
  }

  private stepNav(): HTMLElement {
    const withErrors = new Set(this.problems.map((p) => p.step));
    return h("nav", { "aria-label": this.t("setup.steps") },
      h("ol", { class: "steps" }, STEPS.map((step, i) =>
        h("li", {},
          h("button", { class: `step-link${withErrors.has(step) ? " has-errors" : ""}`, "data-step": step,
                        "aria-current": step === this.step ? "step" : null, "data-focus": `step-${step}`,
                        onclick: () => this.goTo(step) },
            `${i + 1}. ${this.t(`setup.step.${step}`)}`,
            withErrors.has(step) ? h("span", { class: "error-mark" }, ` ⚠ ${this.t("setup.step_has_errors")}`) : null)))));
  }

  private noticeElement(): HTMLElement | null {
    const notice = this.notice;
    if (notice === null) return null;
    if (notice.kind === "api-error") return this.errorNotice(notice.error);
    if (notice.kind === "stale") {
      return h("div", { class: "notice error", role: "alert" },
        h("div", {}, this.t("setup.stale")),
        h("button", { class: "secondary", "data-focus": "reload", style: "margin-top:.5em",
                      onclick: () => { this.notice = null; void this.load(); } }, this.t("setup.reload")));
    }
    if (notice.kind === "proposal") {
      return h("div", { class: "notice error", role: "alert" },
        h("div", {}, notice.text),
        h("button", { class: "secondary", "data-focus": "use-proposal", style: "margin-top:.5em",
                      onclick: () => this.useProposal(notice.proposal) }, this.t("setup.proposal.use")));
    }
    return h("div", { class: `notice ${notice.kind}` }, notice.text);
  }

  /** The new objects' default mappings (a refused switch's `details.proposal`) replace the wizard's; not saved yet. */
  private useProposal(proposal: Record<string, unknown>): void {
    if (!this.state || !applyProposal(this.state, proposal)) return;
    this.problems = [];
    this.notice = { kind: "info", text: this.t("setup.proposal.applied") };
    this.step = "objects";
    for (const object of Object.keys((proposal["field_mappings"] as Record<string, unknown>) ?? {})) {
      if (this.openMappings.has(object)) void this.loadFields(object);
    }
    this.draw();
    this.root.querySelector<HTMLElement>("[role='status'] .notice")?.focus();
  }

  /** This step's problems no control shows (and on the last step, every problem without a step of its own). */
  private stepProblems(): HTMLElement | null {
    const loose = this.problems.filter((p) => p.step === this.step && p.control === null);
    if (!loose.length) return null;
    return h("div", { class: "notice error" },
      h("strong", {}, this.t("setup.other_problems")),
      h("ul", {}, loose.map((p) => h("li", {}, `${p.path}: ${p.message}`))));
  }

  private stepBody(): Child {
    switch (this.step) {
      case "objects": return this.objectsStep();
      case "status": return this.statusStep();
      case "rules": return this.rulesStep();
      case "owners": return this.ownersStep();
      case "schedule": return this.scheduleStep();
      case "done": return this.doneStep();
    }
  }

  /** A control's problem: the text next to it, and the attributes that tie it to the control. */
  private problemAt(path: string): { attrs: Record<string, unknown>; note: HTMLElement | null } {
    const found = this.problems.filter((p) => p.control === path);
    if (!found.length) return { attrs: {}, note: null };
    const id = `lb-err-${path.replace(/[^a-zA-Z0-9]/g, "-")}`;
    return { attrs: { "aria-invalid": "true", "aria-describedby": id },
             note: h("span", { class: "field-error", id, "data-error-for": path },
                     found.map((p) => p.message).join(" ")) };
  }

  private changed(): void {
    this.draw();
  }

  private objectName(object: string): string {
    return this.t(`log.object.${object}` as MessageKey);
  }

  // ---- step 1: objects, directions, field mappings

  private objectsStep(): Child {
    const state = this.state!;
    const crm = this.crm(this.crmId);
    const objects = APP_OBJECTS.filter((o) => state.objects[o]);
    return [
      h("p", { class: "muted" }, this.t("setup.objects.intro", { crm })),
      h("ul", { class: "plain objects" }, objects.map((object) => {
        const setting = state.objects[object]!;
        const choices = this.objects.filter((c) => c.object === object);
        const objectPath = `objects.${object}.crm_object`;
        const directionPath = `objects.${object}.direction`;
        const objectProblem = this.problemAt(objectPath);
        const directionProblem = this.problemAt(directionPath);
        const open = this.openMappings.has(object);
        const mappings = state.field_mappings[object] ?? [];
        const mappingErrors = this.problems.some((p) => p.path.startsWith(`field_mappings.${object}[`));
        const crmObjectLabel = this.t("setup.objects.crm_object", { object: this.objectName(object), crm });
        return h("li", { class: "object-row", "data-object": object },
          h("h4", {}, this.objectName(object)),
          h("label", {},
            crmObjectLabel,
            choices.length > 1
              ? h("select", { "data-path": objectPath, "data-focus": objectPath, disabled: !this.admin,
                              ...objectProblem.attrs,
                              onchange: (e: Event) => this.switchObject(object, (e.target as HTMLSelectElement).value) },
                  choices.map((c) => h("option", { value: c.crm_name, selected: c.crm_name === setting.crm_object },
                                       c.label)))
              : h("input", { value: choices[0]?.label ?? setting.crm_object, readonly: true,
                             "data-path": objectPath, ...objectProblem.attrs })),
          objectProblem.note,
          this.read && this.read.objects[object] && this.read.objects[object]!.crm_object !== setting.crm_object
            ? h("p", { class: "muted switched", "data-switched": object },
                this.t("setup.objects.switched", { crm, from: this.read.objects[object]!.crm_object,
                                                   to: setting.crm_object })) : null,
          h("fieldset", { class: "directions", "data-path": directionPath, ...directionProblem.attrs },
            h("legend", {}, this.t("setup.objects.direction", { object: this.objectName(object) })),
            DIRECTIONS.map((direction) => h("label", { class: "choice" },
              h("input", { type: "radio", name: `direction-${object}`, value: direction,
                           checked: setting.direction === direction, disabled: !this.admin,
                           "data-focus": `${directionPath}-${direction}`,
                           onchange: () => { setting.direction = direction as Direction; this.changed(); } }),
              this.t(`setup.direction.${direction}` as MessageKey, { crm })))),
          directionProblem.note,
          h("button", { class: `secondary${mappingErrors ? " has-errors" : ""}`, "aria-expanded": String(open),
                        "aria-controls": `lb-mapping-${object}`, "data-focus": `toggle-${object}`,
                        onclick: () => this.toggleMapping(object) },
            open ? this.t("setup.hide_mapping") : this.t("setup.view_mapping"),
            h("span", { class: "muted" }, ` (${this.t("setup.mapping.count", { count: mappings.length })})`)),
          open ? this.mappingTable(object, mappings) : null);
      })),
    ];
  }

  /** A new CRM object for an app object (Salesforce Account or Lead): the person follows where the CRM pairs them,
   * and open mappings list the new object's fields. */
  private switchObject(object: string, crmObject: string): void {
    const choices: Record<string, string[]> = {};
    for (const c of this.objects) (choices[c.object] ??= []).push(c.crm_name);
    chooseObject(this.state!.objects, object, crmObject, choices);
    for (const open of this.openMappings) void this.loadFields(open);
    this.changed();
  }

  private toggleMapping(object: string): void {
    if (this.openMappings.has(object)) {
      this.openMappings.delete(object);
    } else {
      this.openMappings.add(object);
      void this.loadFields(object);
    }
    this.draw();
  }

  /** The fields of the CRM object `object` is set to now (saved or not), read once per object and choice. */
  private async loadFields(object: string): Promise<void> {
    const key = this.fieldsKey(object);
    if (this.fields.has(key)) return;
    this.fields.set(key, "loading");
    const chosen = this.state?.objects[object]?.crm_object;
    const saved = this.read?.objects[object]?.crm_object;
    try {
      this.fields.set(key, await this.client().crmFields(this.crmId, object, chosen !== saved ? chosen : null));
    } catch (error) {
      this.fields.set(key, { error });
    }
    this.draw();
  }

  private fieldsKey(object: string): string {
    return `${object}:${this.state?.objects[object]?.crm_object ?? ""}`;
  }

  private knownFields(object: string): CrmField[] {
    const fields = this.fields.get(this.fieldsKey(object));
    return Array.isArray(fields) ? fields : [];
  }

  /** A datalist of the app fields of `object` (suggestions for a text input), once per drawing. */
  private appFieldList(object: string): HTMLElement {
    return h("datalist", { id: `lb-app-fields-${object}` },
      this.appFields.filter((f) => f.object === object).map((f) => h("option", { value: f.name })));
  }

  private mappingTable(object: string, mappings: FieldMapping[]): HTMLElement {
    const crm = this.crm(this.crmId);
    const fields = this.fields.get(this.fieldsKey(object));
    const known = Array.isArray(fields) ? fields : [];
    const titleId = `lb-mapping-title-${object}`;
    return h("div", { id: `lb-mapping-${object}`, class: "mapping", role: "group", "aria-labelledby": titleId },
      h("h5", { id: titleId }, this.t("setup.mapping.title", { object: this.objectName(object) }),
        h("span", { class: "muted" }, ` (${this.state!.objects[object]?.crm_object ?? ""})`)),
      this.appFieldList(object),
      fields === "loading" ? h("p", { class: "muted", role: "status" }, this.t("loading")) : null,
      fields && !Array.isArray(fields) && fields !== "loading" ? this.errorNotice(fields.error) : null,
      h("table", {},
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, this.t("setup.mapping.app_fields")),
          h("th", { scope: "col" }, this.t("setup.mapping.crm_field", { crm })),
          h("th", { scope: "col" }, this.t("setup.mapping.direction")),
          this.admin ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, this.t("setup.mapping.remove", { n: "" })))
            : null)),
        h("tbody", {}, mappings.map((mapping, i) => this.mappingRow(object, mappings, mapping, i, known)))),
      this.admin ? h("button", { class: "secondary", "data-focus": `add-${object}`, style: "margin-top:.5em",
                                 onclick: () => {
                                   mappings.push({ app_fields: [""], crm_field: "", direction: "to_crm" });
                                   this.state!.field_mappings[object] = mappings;
                                   this.changed();
                                   this.root.querySelector<HTMLElement>(
                                     `[data-path="field_mappings.${object}[${mappings.length - 1}].app_fields"]`)?.focus();
                                 } }, this.t("setup.mapping.add")) : null);
  }

  private mappingRow(object: string, mappings: FieldMapping[], mapping: FieldMapping, i: number, known: CrmField[]):
      HTMLElement {
    const crm = this.crm(this.crmId);
    const row = `field_mappings.${object}[${i}]`;
    const n = i + 1;
    const rowProblem = this.problemAt(row);
    const app = this.problemAt(`${row}.app_fields`);
    const field = this.problemAt(`${row}.crm_field`);
    const direction = this.problemAt(`${row}.direction`);
    const options = known.map((f) => ({ value: f.name, text: `${f.label} (${f.name})${f.custom ? ` · ${this.t("setup.mapping.custom")}` : ""}` }));
    if (mapping.crm_field && !known.some((f) => f.name === mapping.crm_field)) {
      options.unshift({ value: mapping.crm_field,
                        text: [mapping.crm_field, mapping["custom"] ? this.t("setup.mapping.custom") : null,
                               known.length ? this.t("setup.mapping.not_in_crm", { crm }) : null]
                          .filter(Boolean).join(" · ") });
    }
    return h("tr", { "data-path": row, ...rowProblem.attrs },
      h("td", {},
        h("input", { value: mapping.app_fields.join(", "), disabled: !this.admin, "data-path": `${row}.app_fields`,
                     "data-focus": `${row}.app_fields`, "aria-label": this.t("setup.mapping.row_app_fields", { n }),
                     list: `lb-app-fields-${object}`, autocomplete: "off",
                     ...app.attrs,
                     oninput: (e: Event) => {
                       mapping.app_fields = (e.target as HTMLInputElement).value.split(",").map((s) => s.trim())
                         .filter(Boolean);
                     },
                     onchange: () => this.changed() }),
        app.note, rowProblem.note),
      h("td", {},
        h("select", { disabled: !this.admin, "data-path": `${row}.crm_field`, "data-focus": `${row}.crm_field`,
                      "aria-label": this.t("setup.mapping.row_crm_field", { crm, n }), ...field.attrs,
                      onchange: (e: Event) => { mapping.crm_field = (e.target as HTMLSelectElement).value;
                                                this.changed(); } },
          mapping.crm_field ? null : h("option", { value: "", selected: true }, this.t("setup.mapping.choose_field")),
          options.map((o) => h("option", { value: o.value, selected: o.value === mapping.crm_field }, o.text))),
        field.note),
      h("td", {},
        h("select", { disabled: !this.admin, "data-path": `${row}.direction`, "data-focus": `${row}.direction`,
                      "aria-label": this.t("setup.mapping.row_direction", { n }), ...direction.attrs,
                      onchange: (e: Event) => {
                        mapping.direction = (e.target as HTMLSelectElement).value as MappingDirection;
                        this.changed();
                      } },
          MAPPING_DIRECTIONS.map((d) => h("option", { value: d, selected: d === mapping.direction },
                                          this.t(`setup.direction.${d}` as MessageKey, { crm })))),
        direction.note),
      this.admin ? h("td", {},
        h("button", { class: "danger", "aria-label": this.t("setup.mapping.remove", { n }), "data-focus": `remove-${row}`,
                      onclick: () => { mappings.splice(i, 1); this.changed(); } }, "✕")) : null);
  }

  // ---- step 2: status mapping

  private statusStep(): Child {
    const mapping = this.state!.status_mapping;
    const crm = this.crm(this.crmId);
    const stages = this.stages.filter((s) => s.group !== "status");
    const statuses = this.stages.filter((s) => s.group === "status");
    const optionText = (s: CrmStage) => s.kind === "won" || s.kind === "lost"
      ? `${s.name} (${this.t(`setup.status.${s.kind}` as MessageKey)})` : s.name;
    return [
      h("p", { class: "muted" }, this.t("setup.status.intro", { crm })),
      h("table", { class: "status-table" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, this.t("setup.status.app_stage")),
          h("th", { scope: "col" }, this.t("setup.status.crm_stage", { crm })))),
        h("tbody", {}, mapping.app_stages.map((stage) => {
          const index = mapping.stages.findIndex((s) => s.app_stage === stage);
          const path = index >= 0 ? `status_mapping.stages[${index}]` : `status_mapping.app_stage.${stage}`;
          const problem = this.problemAt(path);
          const choice = stageChoice(mapping, stage);
          return h("tr", { "data-stage": stage },
            h("th", { scope: "row" }, stage),
            h("td", {},
              h("select", { disabled: !this.admin, "data-path": path, "data-focus": `stage-${stage}`,
                            "aria-label": this.t("setup.status.for_stage", { crm, stage }), ...problem.attrs,
                            onchange: (e: Event) => {
                              chooseStage(mapping, stage, (e.target as HTMLSelectElement).value);
                              this.changed();
                            } },
                h("option", { value: "", selected: choice === "" }, this.t("setup.status.not_mapped")),
                stages.length ? h("optgroup", { label: this.t("setup.status.stages") },
                  stages.map((s) => h("option", { value: `stage:${s.id}`, selected: choice === `stage:${s.id}` },
                                      optionText(s)))) : null,
                statuses.length ? h("optgroup", { label: this.t("setup.status.statuses") },
                  statuses.map((s) => h("option", { value: `status:${s.id}`, selected: choice === `status:${s.id}` },
                                        optionText(s)))) : null),
              problem.note));
        }))),
    ];
  }

  // ---- step 3: selective sync (seed 004) and the inbound filter

  private rulesStep(): Child {
    const state = this.state!;
    const crm = this.crm(this.crmId);
    const selective = state.selective_sync;
    const inbound = state.inbound_filter;
    const enabled = this.problemAt("selective_sync.enabled");
    for (const c of inbound.conditions) void this.loadFields(c.object);
    return [
      h("section", { class: "rules", "aria-labelledby": "lb-rules-out", "data-rules": "selective_sync" },
        h("h4", { id: "lb-rules-out" }, this.t("setup.rules.out_title", { crm })),
        h("p", { class: "muted" }, this.t("setup.rules.out_intro", { crm })),
        h("label", { class: "choice" },
          h("input", { type: "checkbox", checked: selective.enabled, disabled: !this.admin,
                       "data-path": "selective_sync.enabled", "data-focus": "selective_sync.enabled", ...enabled.attrs,
                       onchange: (e: Event) => { selective.enabled = (e.target as HTMLInputElement).checked;
                                                 this.changed(); } }),
          this.t("setup.rules.enabled", { crm })),
        enabled.note,
        selective.enabled ? this.conditionList("selective_sync", selective, RULE_OPS) : null,
        selective.effective_from
          ? h("p", { class: "muted" }, this.t("setup.rules.effective_from",
                                              { when: formatTime(this.language, selective.effective_from) })) : null),
      h("section", { class: "rules", "aria-labelledby": "lb-rules-in", "data-rules": "inbound_filter" },
        h("h4", { id: "lb-rules-in" }, this.t("setup.rules.in_title", { crm })),
        h("p", { class: "muted" }, this.t("setup.rules.in_intro", { crm })),
        this.conditionList("inbound_filter", inbound, INBOUND_OPS)),
    ];
  }

  private conditionList(section: "selective_sync" | "inbound_filter",
                        rules: { match: "all" | "any"; conditions: RuleCondition[] }, ops: readonly RuleOp[]):
      HTMLElement {
    const inbound = section === "inbound_filter";
    const match = this.problemAt(`${section}.match`);
    const objects = RULE_OBJECTS.filter((o) => this.state!.objects[o]);
    return h("div", { class: "conditions" },
      rules.conditions.length > 1 || inbound
        ? h("label", {}, this.t("setup.rules.match"),
            h("select", { disabled: !this.admin, "data-path": `${section}.match`, "data-focus": `${section}.match`,
                          ...match.attrs,
                          onchange: (e: Event) => {
                            rules.match = (e.target as HTMLSelectElement).value as "all" | "any";
                            this.changed();
                          } },
              (["all", "any"] as const).map((m) => h("option", { value: m, selected: rules.match === m },
                                                     this.t(`setup.rules.match_${m}` as MessageKey)))))
        : null,
      match.note,
      rules.conditions.length === 0
        ? h("p", { class: "muted" }, this.t(inbound ? "setup.rules.in_none" : "setup.rules.out_none",
                                            { crm: this.crm(this.crmId) })) : null,
      rules.conditions.length ? h("table", {},
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, this.t("setup.rules.object")),
          h("th", { scope: "col" }, inbound ? this.t("setup.mapping.crm_field", { crm: this.crm(this.crmId) })
                                            : this.t("setup.rules.app_field")),
          h("th", { scope: "col" }, this.t("setup.rules.op")),
          h("th", { scope: "col" }, this.t("setup.rules.value")),
          this.admin ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, this.t("setup.rules.remove", { n: "" })))
            : null)),
        h("tbody", {}, rules.conditions.map((c, i) => this.conditionRow(section, rules.conditions, c, i, ops, objects))))
        : null,
      this.admin ? h("button", { class: "secondary", "data-focus": `add-${section}`,
                                 onclick: () => {
                                   rules.conditions.push(inbound ? { object: "company", crm_field: "", op: "eq" }
                                                                 : { object: "company", field: "", op: "eq" });
                                   this.changed();
                                   this.root.querySelector<HTMLElement>(
                                     `[data-path="${section}.conditions[${rules.conditions.length - 1}].${inbound ? "crm_field" : "field"}"]`)
                                     ?.focus();
                                 } }, this.t("setup.rules.add")) : null);
  }

  private conditionRow(section: "selective_sync" | "inbound_filter", conditions: RuleCondition[], c: RuleCondition,
                       i: number, ops: readonly RuleOp[], objects: readonly string[]): HTMLElement {
    const inbound = section === "inbound_filter";
    const row = `${section}.conditions[${i}]`;
    const n = i + 1;
    const fieldKey = inbound ? "crm_field" : "field";
    const rowProblem = this.problemAt(row);
    const objectProblem = this.problemAt(`${row}.object`);
    const fieldProblem = this.problemAt(`${row}.${fieldKey}`);
    const opProblem = this.problemAt(`${row}.op`);
    const valueProblem = this.problemAt(`${row}.value`);
    const kind = inbound ? undefined : this.appFields.find((f) => f.object === c.object && f.name === c.field)?.kind;
    const name = inbound ? (c.crm_field ?? "") : (c.field ?? "");
    let fieldControl: HTMLElement;
    if (inbound) {
      const known = this.knownFields(c.object);
      const options = known.map((f) => ({ value: f.name, text: `${f.label} (${f.name})` }));
      if (name && !known.some((f) => f.name === name)) options.unshift({ value: name, text: name });
      fieldControl = h("select", { disabled: !this.admin, "data-path": `${row}.crm_field`, "data-focus": `${row}.crm_field`,
                                   "aria-label": this.t("setup.rules.row_field", { n }), ...fieldProblem.attrs,
                                   onchange: (e: Event) => { c.crm_field = (e.target as HTMLSelectElement).value;
                                                             this.changed(); } },
        name ? null : h("option", { value: "", selected: true }, this.t("setup.mapping.choose_field")),
        options.map((o) => h("option", { value: o.value, selected: o.value === name }, o.text)));
    } else {
      const known = this.appFields.filter((f) => f.object === c.object);
      fieldControl = h("select", { disabled: !this.admin || c.op === "at_or_after_stage", "data-path": `${row}.field`,
                                   "data-focus": `${row}.field`, "aria-label": this.t("setup.rules.row_field", { n }),
                                   ...fieldProblem.attrs,
                                   onchange: (e: Event) => { c.field = (e.target as HTMLSelectElement).value;
                                                             this.changed(); } },
        name ? null : h("option", { value: "", selected: true }, this.t("setup.mapping.choose_field")),
        name && !known.some((f) => f.name === name) ? h("option", { value: name, selected: true }, name) : null,
        known.map((f) => h("option", { value: f.name, selected: f.name === name }, f.name)));
    }
    const stages = this.state!.status_mapping.app_stages;
    const valueControl = !takesValue(c.op) ? h("span", { class: "muted" }, "–")
      : c.op === "at_or_after_stage"
        ? h("select", { disabled: !this.admin, "data-path": `${row}.value`, "data-focus": `${row}.value`,
                        "aria-label": this.t("setup.rules.row_value", { n }), ...valueProblem.attrs,
                        onchange: (e: Event) => { c.value = (e.target as HTMLSelectElement).value; this.changed(); } },
            c.value ? null : h("option", { value: "", selected: true }, this.t("setup.rules.choose_stage")),
            stages.map((stage) => h("option", { value: stage, selected: stage === c.value }, stage)))
        : h("input", { value: ruleText(c.value), disabled: !this.admin, "data-path": `${row}.value`,
                       "data-focus": `${row}.value`, "aria-label": this.t("setup.rules.row_value", { n }),
                       placeholder: c.op === "in" || c.op === "not_in" ? this.t("setup.rules.list_hint") : "",
                       ...valueProblem.attrs,
                       oninput: (e: Event) => {
                         const value = ruleValue(c.op, (e.target as HTMLInputElement).value, kind);
                         if (value === undefined) delete c.value; else c.value = value;
                       },
                       onchange: () => this.changed() });
    return h("tr", { "data-path": row, ...rowProblem.attrs },
      h("td", {},
        h("select", { disabled: !this.admin, "data-path": `${row}.object`, "data-focus": `${row}.object`,
                      "aria-label": this.t("setup.rules.row_object", { n }), ...objectProblem.attrs,
                      onchange: (e: Event) => {
                        c.object = (e.target as HTMLSelectElement).value;
                        if (inbound) void this.loadFields(c.object);
                        this.changed();
                      } },
          objects.map((o) => h("option", { value: o, selected: o === c.object }, this.objectName(o)))),
        objectProblem.note, rowProblem.note),
      h("td", {}, fieldControl, fieldProblem.note),
      h("td", {},
        h("select", { disabled: !this.admin, "data-path": `${row}.op`, "data-focus": `${row}.op`,
                      "aria-label": this.t("setup.rules.row_op", { n }), ...opProblem.attrs,
                      onchange: (e: Event) => {
                        conditions[i] = withOp(c, (e.target as HTMLSelectElement).value as RuleOp, kind);
                        this.changed();
                      } },
          ops.map((op) => h("option", { value: op, selected: op === c.op }, this.t(`setup.rules.op.${op}` as MessageKey)))),
        opProblem.note),
      h("td", {}, valueControl, valueProblem.note),
      this.admin ? h("td", {},
        h("button", { class: "danger", "aria-label": this.t("setup.rules.remove", { n }), "data-focus": `remove-${row}`,
                      onclick: () => { conditions.splice(i, 1); this.changed(); } }, "✕")) : null);
  }

  // ---- step 4: owners

  private ownersStep(): Child {
    const owners = this.state!.owners;
    const crm = this.crm(this.crmId);
    const toCrm = this.problemAt("owners.default_crm_user");
    const fromCrm = this.problemAt("owners.default_app_user");
    const users = [...this.users];
    if (owners.default_crm_user && !users.some((u) => u.id === owners.default_crm_user)) {
      users.unshift({ id: owners.default_crm_user, name: owners.default_crm_user });
    }
    return [
      h("p", { class: "muted" }, this.t("setup.owners.intro")),
      h("div", { class: "stack" },
        h("label", {}, this.t("setup.owners.to_crm", { crm }),
          h("select", { disabled: !this.admin, "data-path": "owners.default_crm_user",
                        "data-focus": "owners.default_crm_user", ...toCrm.attrs,
                        onchange: (e: Event) => {
                          owners.default_crm_user = (e.target as HTMLSelectElement).value || null;
                          this.changed();
                        } },
            h("option", { value: "", selected: !owners.default_crm_user }, this.t("setup.owners.none")),
            users.map((u) => h("option", { value: u.id, selected: u.id === owners.default_crm_user },
                               u.email ? `${u.name} (${u.email})` : u.name)))),
        toCrm.note,
        h("label", {}, this.t("setup.owners.from_crm", { crm }),
          h("input", { value: owners.default_app_user ?? "", disabled: !this.admin,
                       "data-path": "owners.default_app_user", "data-focus": "owners.default_app_user",
                       ...fromCrm.attrs,
                       oninput: (e: Event) => { owners.default_app_user = (e.target as HTMLInputElement).value || null; },
                       onchange: () => this.changed() })),
        fromCrm.note),
    ];
  }

  // ---- step 5: scheduler and initial import

  private scheduleStep(): Child {
    const schedule = this.state!.schedule;
    const crm = this.crm(this.crmId);
    const control = (label: string, element: HTMLElement, note: HTMLElement | null) =>
      [h("label", {}, label, element), note];
    const frequency = this.problemAt("schedule.frequency");
    const date = this.problemAt("schedule.start_date");
    const time = this.problemAt("schedule.start_time");
    const zone = this.problemAt("schedule.timezone");
    const initial = this.problemAt("initial_import");
    const text = (key: "start_date" | "start_time" | "timezone", type: string, attrs: Record<string, unknown>) =>
      h("input", { type, value: (key === "start_time" ? schedule.start_time.slice(0, 5) : schedule[key]) ?? "",
                   disabled: !this.admin, "data-path": `schedule.${key}`, "data-focus": `schedule.${key}`, ...attrs,
                   oninput: (e: Event) => {
                     const value = (e.target as HTMLInputElement).value;
                     if (key === "start_date") schedule.start_date = value || null;
                     else if (key === "start_time") schedule.start_time = value ? value : "00:00";
                     else schedule.timezone = value;
                   },
                   onchange: () => this.changed() });
    return [
      h("p", { class: "muted" }, this.t("setup.schedule.intro", { crm })),
      h("div", { class: "stack" },
        control(this.t("setup.schedule.frequency"),
          h("select", { disabled: !this.admin, "data-path": "schedule.frequency", "data-focus": "schedule.frequency",
                        ...frequency.attrs,
                        onchange: (e: Event) => {
                          schedule.frequency = (e.target as HTMLSelectElement).value as WizardSettings["schedule"]["frequency"];
                          this.changed();
                        } },
            FREQUENCIES.map((f) => h("option", { value: f, selected: f === schedule.frequency },
                                     this.t(`setup.schedule.${f}` as MessageKey)))), frequency.note),
        h("div", { class: "row" },
          control(this.t("setup.schedule.start_date"), text("start_date", "date", date.attrs),
                  date.note),
          control(this.t("setup.schedule.start_time"), text("start_time", "time", time.attrs),
                  time.note),
          control(this.t("setup.schedule.timezone"),
                  text("timezone", "text", { ...zone.attrs, list: "lb-timezones", autocomplete: "off" }), zone.note),
          // The browser's IANA zones as suggestions; the server checks the name on save.
          h("datalist", { id: "lb-timezones" },
            timeZones().map((zone) => h("option", { value: zone })))),
        this.nextRunAt ? h("p", { class: "muted" },
                           this.t("setup.schedule.next_run", { when: formatTime(this.language, this.nextRunAt) })) : null,
        h("label", { class: "choice" },
          h("input", { type: "checkbox", checked: this.state!.initial_import, disabled: !this.admin,
                       "data-path": "initial_import", "data-focus": "initial_import", ...initial.attrs,
                       onchange: (e: Event) => { this.state!.initial_import = (e.target as HTMLInputElement).checked;
                                                 this.changed(); } }),
          this.t("setup.initial_import", { crm })),
        initial.note),
    ];
  }

  // ---- step 6: summary, preview, save

  private doneStep(): Child {
    const state = this.state!;
    const crm = this.crm(this.crmId);
    const owner = this.users.find((u) => u.id === state.owners.default_crm_user)?.name
      ?? state.owners.default_crm_user ?? this.t("setup.owners.none");
    const mapped = state.status_mapping.app_stages.filter((s) => stageChoice(state.status_mapping, s) !== "").length;
    const preview = this.preview;
    return [
      h("h4", {}, this.t("setup.summary")),
      h("ul", { class: "summary" },
        APP_OBJECTS.filter((o) => state.objects[o]).map((o) => h("li", {},
          `${this.objectName(o)} → ${state.objects[o]!.crm_object}: `,
          h("strong", {}, this.t(`setup.direction.${state.objects[o]!.direction}` as MessageKey, { crm })))),
        h("li", {}, this.t("setup.summary.stages", { count: mapped, total: state.status_mapping.app_stages.length })),
        h("li", {}, state.selective_sync.enabled
          ? this.t("setup.summary.rules_on", { crm, count: state.selective_sync.conditions.length })
          : this.t("setup.summary.rules_off", { crm })),
        state.inbound_filter.conditions.length
          ? h("li", {}, this.t("setup.summary.filter", { crm, count: state.inbound_filter.conditions.length })) : null,
        h("li", {}, this.t("setup.summary.owner", { crm, name: owner })),
        h("li", {}, this.t("setup.summary.schedule",
                           { frequency: this.t(`setup.schedule.${state.schedule.frequency}` as MessageKey) })),
        h("li", {}, state.initial_import ? this.t("setup.summary.import_on", { crm })
                                         : this.t("setup.summary.import_off", { crm }))),
      h("div", { class: "row" },
        h("button", { class: "secondary", "data-focus": "preview", disabled: preview === "loading",
                      onclick: () => void this.runPreview() }, this.t("setup.preview"))),
      preview && preview !== "loading" && "plan" in preview && preview.unsaved_changes
        ? h("p", { class: "muted", "data-preview-unsaved": "" }, this.t("setup.preview.unsaved")) : null,
      preview === "loading" ? h("p", { class: "muted", role: "status" }, this.t("loading")) : null,
      preview && preview !== "loading" && "error" in preview ? this.errorNotice(preview.error) : null,
      preview && preview !== "loading" && "plan" in preview ? this.previewElement(preview) : null,
    ];
  }

  private async runPreview(): Promise<void> {
    this.preview = "loading";
    this.draw();
    try {
      // A lead without a stage is previewed at the stage that creates CRM records, so the fields show.
      const lead = this.sampleLead ?? SAMPLE_LEAD;
      const createAt = this.state?.status_mapping["create_at_stage"];
      // The wizard's unsaved edits go along: the preview shows what saving them would make an export write.
      const unsaved = this.read && this.state ? buildPatch(this.read, this.state) : null;
      this.preview = await this.client().previewSettings(
        this.crmId, lead["stage"] || typeof createAt !== "string" ? lead : { ...lead, stage: createAt }, unsaved);
    } catch (error) {
      if (this.showRefusal(error, "setup.preview.refused")) {
        this.preview = null;
        return;
      }
      this.preview = { error };
    }
    this.draw();
  }

  private previewElement(preview: SettingsPreview): HTMLElement {
    const crm = this.crm(this.crmId);
    const lead = this.sampleLead ?? SAMPLE_LEAD;
    const plan = preview.plan;
    const records: PreviewRecord[] = [plan.company, ...(plan.persons ?? []), plan.deal]
      .filter((r): r is PreviewRecord => !!r);
    const warnings = preview.warnings ?? [];
    return h("section", { class: "preview", "aria-labelledby": "lb-preview-title" },
      h("h4", { id: "lb-preview-title" }, this.t("setup.preview.title", { company: String(lead.company_name ?? lead.id), crm })),
      plan.send ? null : h("div", { class: "notice" }, this.t("setup.preview.not_sent"),
        h("ul", {}, (plan.not_sent ?? []).map((s) => h("li", {}, s.detail)))),
      records.map((record) => h("table", { class: "preview-record", "data-object": record.object },
        h("caption", {}, this.t("setup.preview.record",
                                { object: this.objectName(record.object), crm_object: record.crm_object })),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, this.t("setup.preview.field", { crm })),
          h("th", { scope: "col" }, this.t("setup.preview.value")))),
        h("tbody", {}, Object.entries(record.fields ?? {}).map(([name, value]) => h("tr", {},
          h("th", { scope: "row" }, name),
          h("td", {}, typeof value === "object" ? JSON.stringify(value) : String(value))))),
        record.skipped?.length ? h("tfoot", {}, h("tr", {}, h("td", { colspan: "2", class: "muted" },
          this.t("setup.preview.skipped", { count: record.skipped.length })))) : null)),
      warnings.length ? [h("h5", {}, this.t("setup.preview.warnings")),
                         h("ul", {}, warnings.map((w) => h("li", {}, w)))] : null);
  }

  /** A 422 naming settings paths (a save's, or a preview's of unsaved edits): each problem next to its control, the
   * first step with one opened; after a switch of objects, the new objects' default mappings offered. False for
   * any other error. */
  private showRefusal(error: unknown, message: "setup.refused" | "setup.preview.refused"): boolean {
    if (!(error instanceof ApiError) || error.status !== 422 || !settingsProblems(error.details).length || !this.state) {
      return false;
    }
    this.problems = placeProblems(settingsProblems(error.details), controlPaths(this.state));
    const text = this.t(message, { crm: this.crm(this.crmId), count: this.problems.length });
    const proposal = error.details["proposal"];
    this.notice = proposal && typeof proposal === "object"
      ? { kind: "proposal", text: `${text} ${this.t("setup.proposal.offer", { crm: this.crm(this.crmId) })}`,
          proposal: proposal as Record<string, unknown> }
      : { kind: "error", text };
    for (const p of this.problems) {
      const object = /^field_mappings\.(\w+)\[/.exec(p.path)?.[1];
      if (object) {
        this.openMappings.add(object);
        void this.loadFields(object);
      }
    }
    this.goTo(this.problems[0]!.step);
    this.root.querySelector<HTMLElement>("[aria-invalid='true']")?.focus();
    return true;
  }

  private async save(): Promise<void> {
    if (!this.read || !this.state || !this.etag) return;
    const patch = buildPatch(this.read, this.state);
    this.saving = true;
    this.notice = null;
    this.draw();
    try {
      const saved = await this.client().patchSettings(this.crmId, patch, this.etag);
      this.accept(saved.body.settings, saved.etag);
      this.problems = [];
      this.preview = null;
      this.notice = { kind: "success", text: this.t("setup.saved", { version: this.version }) };
      this.emit("leadbridge-settings-saved", { crm: this.crmId, settings: saved.body.settings });
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        this.notice = { kind: "stale" };
      } else if (this.showRefusal(error, "setup.refused")) {
        this.saving = false;
        return;
      } else {
        this.notice = { kind: "api-error", error };
      }
    }
    this.saving = false;
    this.draw();
    this.root.querySelector<HTMLElement>("[role='status'] .notice, [role='alert'] button")?.focus();
  }
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  return intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
}

const SETUP_STYLES = `
ol.steps { list-style: none; display: flex; flex-wrap: wrap; gap: .4em; padding: 0; margin: 0 0 1em; }
.step-link { background: var(--_lb-color-surface); color: var(--_lb-color-primary); }
.step-link[aria-current="step"] { background: var(--_lb-color-primary); color: var(--_lb-color-on-primary); }
.step-link.has-errors, button.has-errors { border-color: var(--_lb-color-danger); }
.step-link .error-mark { font-weight: 600; }
.step-link:not([aria-current="step"]) .error-mark { color: var(--_lb-color-danger); }
.step { display: grid; gap: .6em; }
.step h3:focus { outline: none; }
ul.objects { display: grid; gap: 1em; }
.object-row { border-bottom: 1px solid var(--_lb-color-border); padding-bottom: 1em; display: grid; gap: .5em;
  justify-items: start; }
.object-row h4 { margin: 0; }
fieldset.directions { border: 1px solid var(--_lb-color-border); border-radius: var(--_lb-radius); display: flex;
  gap: 1em; flex-wrap: wrap; margin: 0; }
fieldset.directions legend { color: var(--_lb-color-muted); font-size: .92em; }
label.choice { flex-direction: row; align-items: center; gap: .4em; color: var(--_lb-color-text); font-size: 1em; }
.mapping { width: 100%; overflow-x: auto; }
.mapping h5 { margin: .5em 0; }
.mapping input { width: 100%; }
.stack { display: grid; gap: .75em; justify-items: start; }
.actions { margin-top: 1em; }
.preview-record { margin: .75em 0; }
.preview-record caption { text-align: left; font-weight: 600; padding: .3em 0; }
section.rules { display: grid; gap: .5em; justify-items: start; border-bottom: 1px solid var(--_lb-color-border);
  padding-bottom: 1em; }
section.rules h4 { margin: 0; }
.conditions { display: grid; gap: .5em; justify-items: start; width: 100%; overflow-x: auto; }
[aria-invalid="true"] { border-color: var(--_lb-color-danger); }
`;

define("leadbridge-setup", LeadbridgeSetup);
