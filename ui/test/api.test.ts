import { test } from "node:test";
import assert from "node:assert/strict";
import { LeadbridgeClient, isAdminToken, tokenClaims } from "../src/api.js";
import { ApiError } from "../src/errors.js";

interface Seen { url: string; init: RequestInit }

function fakeFetch(status: number, body: unknown, seen: Seen[] = []): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push({ url: String(input), init: init ?? {} });
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
}

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256" })}.${part(claims)}.signature`;
}

test("every call carries the host's current token and goes to the API URL", async () => {
  const seen: Seen[] = [];
  let calls = 0;
  const client = new LeadbridgeClient({
    apiUrl: "https://api.example.com/prod/",
    getToken: async () => `token-${++calls}`,
    fetch: fakeFetch(200, { connections: [{ crm: "superoffice", status: "connected" }] }, seen),
  });
  const connections = await client.connections();
  await client.connections();
  assert.deepEqual(connections, [{ crm: "superoffice", status: "connected" }]);
  assert.equal(seen[0]?.url, "https://api.example.com/prod/connections");
  assert.equal((seen[0]?.init.headers as Record<string, string>)["Authorization"], "Bearer token-1");
  assert.equal((seen[1]?.init.headers as Record<string, string>)["Authorization"], "Bearer token-2");
});

test("match and export send the lead document as JSON, with the CRM and idempotency key when given", async () => {
  const seen: Seen[] = [];
  const client = new LeadbridgeClient({ apiUrl: "http://127.0.0.1:3000", getToken: () => "t",
                                        fetch: fakeFetch(200, { verdict: "none", candidates: [] }, seen) });
  const lead = { id: "lead/1", company_name: "Nordisk Træ ApS" };
  await client.match(lead);
  await client.exportLead(lead, { mode: "link", crm_company_id: "42" }, { crm: "superoffice", idempotencyKey: "k1" });
  assert.equal(seen[0]?.url, "http://127.0.0.1:3000/leads/lead%2F1/match");
  assert.equal(seen[0]?.init.method, "POST");
  assert.deepEqual(JSON.parse(String(seen[0]?.init.body)), { lead });
  assert.equal(seen[1]?.url, "http://127.0.0.1:3000/leads/lead%2F1/export?crm=superoffice");
  assert.deepEqual(JSON.parse(String(seen[1]?.init.body)), { lead, choice: { mode: "link", crm_company_id: "42" } });
  const headers = seen[1]?.init.headers as Record<string, string>;
  assert.equal(headers["Idempotency-Key"], "k1");
  assert.equal(headers["Content-Type"], "application/json");
});

test("sync log filters become query parameters; empty ones are left out", async () => {
  const seen: Seen[] = [];
  const client = new LeadbridgeClient({ apiUrl: "http://x", getToken: () => "t",
                                        fetch: fakeFetch(200, { items: [] }, seen) });
  await client.syncLog({ status: "failed", object: "", lead_id: "L 1", since: "2026-01-01T00:00:00.000Z", cursor: null });
  assert.equal(seen[0]?.url, "http://x/sync-log?status=failed&lead_id=L+1&since=2026-01-01T00%3A00%3A00.000Z");
});

test("a refusal is thrown as an ApiError carrying the API's code and details", async () => {
  const client = new LeadbridgeClient({ apiUrl: "http://x", getToken: () => "t", fetch: fakeFetch(409, {
    error: { code: "needs_reauth", message: "reconnect", details: { hint: "An admin must reconnect." } } }) });
  await assert.rejects(client.match({ id: "1" }), (error: unknown) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.code, "needs_reauth");
    assert.equal(error.hint, "An admin must reconnect.");
    return true;
  });
});

test("no token from the host means no call at all", async () => {
  const seen: Seen[] = [];
  const client = new LeadbridgeClient({ apiUrl: "http://x", getToken: () => null, fetch: fakeFetch(200, {}, seen) });
  await assert.rejects(client.connections(), (error: unknown) => error instanceof ApiError && error.code === "no_token");
  assert.equal(seen.length, 0);
});

test("a failed fetch is a network_error", async () => {
  const client = new LeadbridgeClient({ apiUrl: "http://x", getToken: () => "t",
                                        fetch: (async () => { throw new TypeError("Failed to fetch"); }) as typeof fetch });
  await assert.rejects(client.syncLog(), (error: unknown) => error instanceof ApiError && error.code === "network_error");
});

test("the connect page URL carries the return URL", () => {
  const client = new LeadbridgeClient({ apiUrl: "https://api.example.com", getToken: () => "t" });
  assert.equal(client.connectPageUrl("superoffice", "https://app.example.com/crm?lb_connect_return=1"),
               "https://api.example.com/connections/superoffice/authorize?return_url=" +
               "https%3A%2F%2Fapp.example.com%2Fcrm%3Flb_connect_return%3D1");
});

test("token claims are read without verification, to show admin-only controls", () => {
  assert.equal(tokenClaims(jwt({ role: "admin", name: "Søren" }))["name"], "Søren");
  assert.equal(isAdminToken(jwt({ role: "admin" })), true);
  assert.equal(isAdminToken(jwt({ role: "member" })), false);
  assert.equal(isAdminToken(jwt({ roles: ["x", "owner"] }), "roles", "owner"), true);
  assert.deepEqual(tokenClaims("not-a-jwt"), {});
  assert.deepEqual(tokenClaims("a.!!!.c"), {});
});
