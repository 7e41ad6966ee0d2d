// One error type for every failed call: the API's `{"error": {code, message, details, correlation_id}}`, API
// Gateway's own `{"message": "Unauthorized"}`, and a network failure all become an ApiError.

export interface FieldProblem {
  /** Dotted path of the field the API names, without the leading "body"/"query" part, e.g. "lead.email". */
  path: string;
  message: string;
  type?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly correlationId: string | null;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {},
              correlationId: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.correlationId = correlationId;
  }

  /** 422: each field the API refused, keyed by its path, for showing next to that field. */
  get fieldProblems(): FieldProblem[] {
    const raw = this.details["errors"];
    if (!Array.isArray(raw)) return [];
    return raw.flatMap((item): FieldProblem[] => {
      if (typeof item !== "object" || item === null) return [];
      const entry = item as Record<string, unknown>;
      const loc = Array.isArray(entry["loc"]) ? (entry["loc"] as unknown[]) : [];
      const parts = loc.map(String);
      if (parts[0] === "body" || parts[0] === "query" || parts[0] === "path" || parts[0] === "header") parts.shift();
      const message = String(entry["msg"] ?? entry["message"] ?? "");
      const problem: FieldProblem = { path: parts.join("."), message };
      if (typeof entry["type"] === "string") problem.type = entry["type"];
      return [problem];
    });
  }

  /** 412: someone else saved in between; the version the server has now. */
  get isStale(): boolean {
    return this.status === 412;
  }

  /** What to do, when the API said (409s carry `details.hint`). */
  get hint(): string | null {
    const hint = this.details["hint"];
    return typeof hint === "string" ? hint : null;
  }
}

const GATEWAY_CODES: Record<number, string> = {
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  413: "too_large",
  429: "rate_limited",
  500: "internal_error",
  502: "bad_gateway",
  503: "unavailable",
  504: "timeout",
};

/** The ApiError for a non-2xx answer; `body` is the parsed JSON (or null when the body was not JSON). */
export function errorFromResponse(status: number, body: unknown): ApiError {
  if (typeof body === "object" && body !== null) {
    const record = body as Record<string, unknown>;
    const error = record["error"];
    if (typeof error === "object" && error !== null) {
      const e = error as Record<string, unknown>;
      const details = typeof e["details"] === "object" && e["details"] !== null
        ? (e["details"] as Record<string, unknown>) : {};
      return new ApiError(status, String(e["code"] ?? GATEWAY_CODES[status] ?? "error"), String(e["message"] ?? ""),
                          details, typeof e["correlation_id"] === "string" ? e["correlation_id"] : null);
    }
    if (typeof record["message"] === "string") {
      // API Gateway's own refusals (no valid bearer, unknown route, throttling) carry only a message.
      return new ApiError(status, GATEWAY_CODES[status] ?? "error", record["message"]);
    }
  }
  return new ApiError(status, GATEWAY_CODES[status] ?? "error", `HTTP ${status}`);
}

export function networkError(cause: unknown): ApiError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new ApiError(0, "network_error", message);
}
