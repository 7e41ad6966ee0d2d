// The HTTP client of leadbridge's API for the components: `fetch` with the host's `getToken()`, JSON in and out,
// every failure an ApiError. Shapes follow docs/openapi.json (only the fields the components read are typed).
import { ApiError, errorFromResponse, networkError } from "./errors.js";

export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export type ConnectionStatus = "connected" | "needs_reauth" | "disconnected";

export interface ConnectionView {
  crm: string;
  status: ConnectionStatus;
  account_id?: string | null;
  account_name?: string | null;
  connected_by?: string | null;
  connected_at?: string | null;
  last_error?: string | null;
  last_error_at?: string | null;
  disconnected_at?: string | null;
}

export interface DisconnectResult {
  connection: ConnectionView;
  revoked_at_crm: boolean;
  webhook_removed: boolean;
  webhook_manual_removal?: string[];
  secret_recovery_days: number;
}

export interface AuthorizeResponse {
  authorization_url: string;
  expires_at?: string;
}

export type MatchVerdict = "exact" | "possible" | "none";

export interface Candidate {
  crm_id: string;
  name: string | null;
  confidence: number;
  verdict: MatchVerdict;
  reasons: string[];
  explanation: string;
  url?: string | null;
}

export interface MatchResult {
  verdict: MatchVerdict;
  candidates: Candidate[];
}

/** The lead document as the app has it (docs/openapi.json `Lead`); `id` is required, the rest optional. */
export interface Lead {
  id: string;
  company_name?: string | null;
  [field: string]: unknown;
}

export interface ExportChoice {
  mode: "auto" | "link" | "create";
  crm_company_id?: string | null;
}

export interface SkippedField {
  field: string;
  reason: string;
  detail?: string;
}

export interface ExportResult {
  status: string;
  lead_id: string;
  crm: string;
  company: { crm_id: string; url?: string | null; action: string };
  persons?: { app_id: string; email?: string | null; crm_id: string; url?: string | null; action: string }[];
  fields_written?: string[];
  fields_skipped?: SkippedField[];
  warnings?: string[];
  log_entry_id: string;
}

export interface LogError {
  code: string;
  message: string;
  cause?: string | null;
  hint?: string | null;
}

export interface SyncStatus {
  lead_id: string;
  crm: string;
  connected?: boolean;
  synced: boolean;
  synced_at?: string | null;
  company?: { app_id: string; crm_id: string; url?: string | null } | null;
  last_error?: LogError | null;
}

export type Outcome = "success" | "failed" | "skipped";
export type CrmObject = "company" | "person" | "deal" | "activity";

export interface SyncLogEntry {
  id?: string;
  time?: string;
  crm: string;
  direction: string;
  trigger: string;
  action: string;
  outcome: Outcome;
  object?: CrmObject | null;
  app_id?: string | null;
  crm_id?: string | null;
  error?: LogError | null;
  fields_written?: string[];
  fields_skipped?: SkippedField[];
  crm_calls?: number;
  correlation_id?: string | null;
  actor?: string | null;
}

export interface SyncLogPage {
  items: SyncLogEntry[];
  next_cursor?: string | null;
}

export interface SyncLogFilter {
  status?: Outcome | "";
  object?: CrmObject | "";
  lead_id?: string;
  /** Only the entries of this sync run or bulk export. */
  run_id?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string | null;
}

// ---- settings (docs/settings.md); the document is kept as read (the wizard's model types the parts it edits)
export type SettingsDocument = Record<string, unknown> & { crm: string; version: number };

export interface Versioned<T> {
  body: T;
  /** The ETag to send back in If-Match (`"3"`). */
  etag: string | null;
}

export interface SettingsSaveResult {
  settings: SettingsDocument;
  missing_fields?: { object: string; crm_field: string }[];
  warnings?: { path?: string; type?: string; message: string }[];
}

export interface CrmObjectInfo {
  object: CrmObject;
  crm_name: string;
  label: string;
}

export interface CrmField {
  name: string;
  label: string;
  type: string;
  required?: boolean;
  updateable?: boolean;
  custom?: boolean;
}

export interface CrmStage {
  id: string;
  name: string;
  kind: "open" | "won" | "lost" | string;
  probability?: number | null;
  rank?: number;
  group: "stage" | "status" | string;
  pipeline?: string | null;
}

export interface CrmUser {
  id: string;
  name: string;
  email?: string | null;
  active?: boolean;
}

export interface PreviewRecord {
  object: CrmObject;
  crm_object: string;
  app_id?: string | null;
  fields?: Record<string, unknown>;
  skipped?: { crm_field?: string | null; app_fields?: string[]; reason: string; detail: string }[];
  refused?: { crm_field?: string; message?: string }[];
  warnings?: string[];
}

export interface AppField {
  object: CrmObject;
  name: string;
  kind: "text" | "integer" | "decimal" | "boolean" | "date" | "datetime" | string;
}

export interface SettingsPreview {
  settings_version: number;
  unsaved_changes?: boolean;
  plan: { lead_id: string; send: boolean; not_sent?: { reason: string; detail: string }[];
          company?: PreviewRecord | null; persons?: PreviewRecord[]; deal?: PreviewRecord | null };
  warnings?: string[];
}

// ---- sync runs (docs/sync.md)
export type RunState = "queued" | "running" | "continued" | "succeeded" | "failed";

export interface ObjectCounts {
  read?: number;
  created?: number;
  updated?: number;
  unchanged?: number;
  deleted?: number;
  skipped?: number;
  failed?: number;
}

/** Initial import or full run: records done of those the CRM held when the run started. */
export interface ImportProgress {
  done?: number;
  estimated_total?: number | null;
  percent?: number | null;
}

export interface RunError {
  at: string;
  code: string;
  message: string;
  object?: CrmObject | null;
  crm_id?: string | null;
}

export interface SyncRun {
  id: string;
  crm: string;
  kind?: "sync" | "export";
  trigger: "schedule" | "manual" | string;
  state: RunState;
  mode?: "incremental" | "first" | "housekeeping" | "full" | null;
  objects?: CrmObject[] | null;
  full?: boolean;
  requested_by?: string | null;
  created_at: string;
  started_at?: string | null;
  updated_at?: string | null;
  finished_at?: string | null;
  counts?: Partial<Record<CrmObject, ObjectCounts>>;
  progress?: Partial<Record<CrmObject, ImportProgress>>;
  selections?: ImportProgress | null;
  errors?: RunError[];
  errors_total?: number;
  crm_calls?: number;
  request_budget?: number | null;
  budget_exhausted?: boolean;
  continuations?: number;
  outbound?: Record<string, number> | null;
}

export interface SyncRunPage {
  items: SyncRun[];
  next_cursor?: string | null;
}

export interface StartRunRequest {
  crm?: string | null;
  objects?: CrmObject[] | null;
  full?: boolean;
}

export interface ClientOptions {
  apiUrl: string;
  getToken: TokenSource;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  method?: string;
  query?: Record<string, string | number | null | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export class LeadbridgeClient {
  readonly apiUrl: string;
  private readonly getToken: TokenSource;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    this.apiUrl = options.apiUrl.replace(/\/+$/, "");
    this.getToken = options.getToken;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  url(path: string, query: RequestOptions["query"] = {}): string {
    const url = new URL(this.apiUrl + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  async token(): Promise<string> {
    const token = await this.getToken();
    if (!token) throw new ApiError(401, "no_token", "The host page gave no token (getToken returned nothing).");
    return token;
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...(options.headers ?? {}) };
    headers["Authorization"] = `Bearer ${await this.token()}`;
    const init: RequestInit = { method: options.method ?? "GET", headers };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, options.query), init);
    } catch (cause) {
      throw networkError(cause);
    }
    const text = await response.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (!response.ok) throw errorFromResponse(response.status, parsed);
    return parsed as T;
  }

  // ---- connections (docs/connections.md)
  async connections(): Promise<ConnectionView[]> {
    return (await this.request<{ connections: ConnectionView[] }>("/connections")).connections;
  }

  connection(crm: string): Promise<ConnectionView> {
    return this.request(`/connections/${encodeURIComponent(crm)}`);
  }

  disconnect(crm: string): Promise<DisconnectResult> {
    return this.request(`/connections/${encodeURIComponent(crm)}`, { method: "DELETE" });
  }

  /** The connect page the popup opens (public; it asks this window for the token by postMessage). */
  connectPageUrl(crm: string, returnUrl: string): string {
    return this.url(`/connections/${encodeURIComponent(crm)}/authorize`, { return_url: returnUrl });
  }

  // ---- export (docs/export.md)
  match(lead: Lead, crm?: string): Promise<MatchResult> {
    return this.request(`/leads/${encodeURIComponent(lead.id)}/match`, { method: "POST", query: { crm }, body: { lead } });
  }

  exportLead(lead: Lead, choice: ExportChoice, options: { crm?: string; idempotencyKey?: string } = {}):
      Promise<ExportResult> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    return this.request(`/leads/${encodeURIComponent(lead.id)}/export`,
                        { method: "POST", query: { crm: options.crm }, body: { lead, choice }, headers });
  }

  syncStatus(leadId: string, crm?: string): Promise<SyncStatus> {
    return this.request(`/leads/${encodeURIComponent(leadId)}/sync-status`, { query: { crm } });
  }

  syncLog(filter: SyncLogFilter = {}): Promise<SyncLogPage> {
    const query: Record<string, string | number | null | undefined> = {};
    for (const [name, value] of Object.entries(filter)) query[name] = value as string | number | null | undefined;
    return this.request("/sync-log", { query });
  }

  // ---- settings and CRM metadata (docs/settings.md)
  /** A request whose answer's ETag is kept (the settings' version for If-Match). */
  async requestVersioned<T>(path: string, options: RequestOptions = {}): Promise<Versioned<T>> {
    let etag: string | null = null;
    const capturing = new LeadbridgeClient({
      apiUrl: this.apiUrl, getToken: this.getToken,
      fetch: async (input, init) => {
        const response = await this.fetchImpl(input, init);
        etag = response.headers.get("ETag");
        return response;
      },
    });
    const body = await capturing.request<T>(path, options);
    return { body, etag };
  }

  settings(crm: string): Promise<Versioned<SettingsDocument>> {
    return this.requestVersioned(`/settings/${encodeURIComponent(crm)}`);
  }

  /** A JSON merge patch over the settings read at `etag`; a 412 when someone saved in between. */
  patchSettings(crm: string, patch: Record<string, unknown>, etag: string): Promise<Versioned<SettingsSaveResult>> {
    return this.requestVersioned(`/settings/${encodeURIComponent(crm)}`,
                                 { method: "PATCH", body: patch, headers: { "If-Match": etag } });
  }

  /** What exporting `lead` would write; with `unsaved` (a merge patch over the saved settings), under those edits. */
  previewSettings(crm: string, lead: Lead, unsaved?: Record<string, unknown> | null): Promise<SettingsPreview> {
    const body = unsaved && Object.keys(unsaved).length ? { lead, settings: unsaved } : { lead };
    return this.request(`/settings/${encodeURIComponent(crm)}/preview`, { method: "POST", body });
  }

  /** The app fields mappings and selective-sync rules may name. */
  appFields(): Promise<AppField[]> {
    return this.request("/app-fields");
  }

  crmObjects(crm: string): Promise<CrmObjectInfo[]> {
    return this.request(`/crm/${encodeURIComponent(crm)}/objects`);
  }

  /** The fields of the CRM object the saved settings map `object` to, or of `crmObject` (a choice not saved yet). */
  crmFields(crm: string, object: string, crmObject?: string | null): Promise<CrmField[]> {
    return this.request(`/crm/${encodeURIComponent(crm)}/fields/${encodeURIComponent(object)}`,
                        { query: { crm_object: crmObject ?? undefined } });
  }

  crmStages(crm: string): Promise<CrmStage[]> {
    return this.request(`/crm/${encodeURIComponent(crm)}/stages`);
  }

  crmUsers(crm: string): Promise<CrmUser[]> {
    return this.request(`/crm/${encodeURIComponent(crm)}/users`);
  }

  // ---- sync runs (docs/sync.md)
  /** Queue a run now (admin); a 409 names the run already queued or running (`details.run_id`). */
  startSyncRun(request: StartRunRequest = {}): Promise<SyncRun> {
    return this.request("/sync-runs", { method: "POST", body: request });
  }

  syncRun(runId: string): Promise<SyncRun> {
    return this.request(`/sync-runs/${encodeURIComponent(runId)}`);
  }

  /** Recent runs, newest first (sync runs and bulk exports). */
  syncRuns(options: { crm?: string | null; limit?: number; cursor?: string | null } = {}): Promise<SyncRunPage> {
    return this.request("/sync-runs", { query: { crm: options.crm, limit: options.limit, cursor: options.cursor } });
  }
}

/** The claims of a JWT, read without verifying it (only to choose what to show; the API decides what is allowed). */
export function tokenClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function isAdminToken(token: string, roleClaim = "role", adminRole = "admin"): boolean {
  const role = tokenClaims(token)[roleClaim];
  return Array.isArray(role) ? role.includes(adminRole) : role === adminRole;
}
