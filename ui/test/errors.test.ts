import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, errorFromResponse, networkError } from "../src/errors.js";

test("the API's error body becomes an ApiError with its code, message, details and correlation id", () => {
  const error = errorFromResponse(409, {
    error: { code: "not_connected", message: "No CRM account is connected", correlation_id: "c-1",
             details: { hint: "An admin must connect one first." } },
  });
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 409);
  assert.equal(error.code, "not_connected");
  assert.equal(error.message, "No CRM account is connected");
  assert.equal(error.correlationId, "c-1");
  assert.equal(error.hint, "An admin must connect one first.");
});

test("a 422 names every refused field by its path without the request part", () => {
  const error = errorFromResponse(422, {
    error: { code: "invalid_input", message: "Invalid input", details: { errors: [
      { loc: ["body", "lead", "email"], msg: "value is not a valid email address", type: "value_error" },
      { loc: ["query", "since"], msg: "Input should be a valid datetime" },
      "not an object",
    ] } },
  });
  assert.deepEqual(error.fieldProblems, [
    { path: "lead.email", message: "value is not a valid email address", type: "value_error" },
    { path: "since", message: "Input should be a valid datetime" },
  ]);
});

test("a 412 is a stale write", () => {
  const error = errorFromResponse(412, { error: { code: "precondition_failed", message: "stale",
                                                  details: { current_version: 4, etag: '"4"' } } });
  assert.equal(error.isStale, true);
  assert.equal(error.details["current_version"], 4);
  assert.equal(errorFromResponse(409, { error: { code: "conflict", message: "x" } }).isStale, false);
});

test("API Gateway's own refusals and non-JSON bodies get a code from the status", () => {
  const unauthorized = errorFromResponse(401, { message: "Unauthorized" });
  assert.equal(unauthorized.code, "unauthorized");
  assert.equal(unauthorized.message, "Unauthorized");
  const html = errorFromResponse(502, null);
  assert.equal(html.code, "bad_gateway");
  assert.equal(html.message, "HTTP 502");
  assert.deepEqual(html.fieldProblems, []);
});

test("a network failure is an ApiError with status 0", () => {
  const error = networkError(new TypeError("Failed to fetch"));
  assert.equal(error.status, 0);
  assert.equal(error.code, "network_error");
  assert.equal(error.message, "Failed to fetch");
});
