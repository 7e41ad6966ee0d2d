import { test } from "node:test";
import assert from "node:assert/strict";
import { catalogues, connectErrorText, crmName, errorText, languageOf, translate } from "../src/i18n.js";
import { ApiError } from "../src/errors.js";

test("English and Danish texts, with parameters filled in", () => {
  assert.equal(translate("en", "export.button", { crm: "SuperOffice" }), "Export to SuperOffice");
  assert.equal(translate("da", "export.button", { crm: "SuperOffice" }), "Eksporter til SuperOffice");
  assert.equal(translate("da-DK", "status.connected"), "Forbundet");
  assert.equal(translate("fr", "status.connected"), "Connected");
});

test("every Danish text exists in English and keeps the same parameters", () => {
  const english = catalogues["en"] as Record<string, string>;
  for (const [key, text] of Object.entries(catalogues["da"] ?? {})) {
    assert.ok(key in english, `${key} is not an English key`);
    const params = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(params(String(text)), params(english[key] ?? ""), key);
  }
});

test("every English text has a Danish one (seed 002 is Danish), CRM names aside", () => {
  const danish = catalogues["da"] ?? {};
  const missing = Object.keys(catalogues["en"] ?? {}).filter((key) => !key.startsWith("crm.") && !(key in danish));
  assert.deepEqual(missing, []);
});

test("the language of a tag", () => {
  assert.equal(languageOf("da-DK"), "da");
  assert.equal(languageOf("EN-gb"), "en");
  assert.equal(languageOf(undefined), "en");
  assert.equal(languageOf("sv"), "en");
});

test("CRM display names", () => {
  assert.equal(crmName("da", "superoffice"), "SuperOffice");
  assert.equal(crmName("en", "pipedrive"), "pipedrive");
});

test("errors read as what the user can do, in their language", () => {
  assert.equal(errorText("da", new ApiError(412, "precondition_failed", "stale")),
               "En anden har ændret disse indstillinger. Genindlæs for at se ændringerne.");
  assert.equal(errorText("en", new ApiError(401, "unauthorized", "Unauthorized")),
               "Your session has expired. Sign in again.");
  assert.equal(errorText("en", new ApiError(429, "crm_rate_limited", "slow down")),
               "The CRM is busy. Try again in a minute.");
  assert.equal(errorText("en", new ApiError(502, "crm_rejected", "SuperOffice: Name is required")),
               "Something went wrong: SuperOffice: Name is required");
});

test("connect errors from the return URL", () => {
  assert.equal(connectErrorText("en", "denied"), "you declined access in the CRM");
  assert.equal(connectErrorText("da", "something_new"), "CRM'et eller leadbridge afviste (something_new)");
});
