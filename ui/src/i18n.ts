// English and Danish texts of every component. A component's language is its `lang` attribute, else the nearest
// ancestor's (`<html lang="da">`), else English; a missing Danish text falls back to the English one.
import type { ApiError } from "./errors.js";

const en = {
  "crm.superoffice": "SuperOffice",
  "crm.salesforce": "Salesforce",
  "crm.hubspot": "HubSpot",
  "loading": "Loading…",
  "retry": "Try again",
  "close": "Close",
  "integrations.title": "CRM integrations",
  "integrations.empty": "No CRM is available.",
  "status.connected": "Connected",
  "status.needs_reauth": "Needs re-authentication",
  "status.disconnected": "Not connected",
  "status.account": "Account: {name}",
  "status.connected_by": "Connected by {who} on {when}",
  "action.connect": "Connect",
  "action.reconnect": "Reconnect",
  "action.disconnect": "Disconnect",
  "connect.waiting": "Finish signing in to {crm} in the popup window…",
  "connect.blocked": "The browser blocked the popup. Allow popups for this site and try again.",
  "connect.success": "{crm} is connected.",
  "connect.cancelled": "The sign-in window was closed before {crm} was connected.",
  "connect.failed": "{crm} was not connected: {reason}",
  "connect.returned": "Connected. You can close this window.",
  "disconnect.confirm": "Disconnect {crm}? Nothing is deleted in the CRM; you can connect again at any time.",
  "disconnect.done": "{crm} is disconnected.",
  "readonly.admin_only": "Only an admin can connect or disconnect CRMs.",
  "export.button": "Export to {crm}",
  "export.no_crm": "Connect a CRM to export leads.",
  "export.searching": "Looking for {company} in {crm}…",
  "export.title": "Export {company} to {crm}",
  "export.verdict.exact": "The company already exists in {crm}.",
  "export.verdict.possible": "Possible matches in {crm}: choose one, or create a new company.",
  "export.verdict.none": "No match in {crm}: a new company will be created.",
  "export.confidence": "{percent}% match",
  "export.create_new": "Create a new company",
  "export.link_selected": "Sync to selected",
  "export.create_and_sync": "Create & sync",
  "export.exporting": "Exporting…",
  "export.cancel": "Cancel",
  "export.done.created": "Created in {crm}.",
  "export.done.linked": "Linked to the existing company in {crm}.",
  "export.done.updated": "Updated in {crm}.",
  "export.done.unchanged": "Already up to date in {crm}.",
  "export.done.converted": "Converted in {crm}.",
  "export.open_in_crm": "Open in {crm}",
  "export.persons": "{count} contact person(s) exported",
  "export.fields_written": "{count} field(s) written",
  "export.fields_skipped": "{count} field(s) skipped",
  "export.synced_at": "Synced {when}",
  "export.not_synced": "Not synced yet",
  "reason.org_number": "Same organisation number",
  "reason.name": "Same name",
  "reason.close_name": "Similar name",
  "reason.domain": "Same website domain",
  "reason.email_domain": "Same e-mail domain",
  "reason.org_number_conflict": "Different organisation number",
  "log.title": "Sync log",
  "log.filter.outcome": "Outcome",
  "log.filter.object": "Object",
  "log.filter.lead": "Lead",
  "log.filter.since": "Since",
  "log.filter.any": "Any",
  "log.filter.apply": "Show",
  "log.outcome.success": "Succeeded",
  "log.outcome.failed": "Failed",
  "log.outcome.skipped": "Skipped",
  "log.object.company": "Company",
  "log.object.person": "Person",
  "log.object.deal": "Deal",
  "log.object.activity": "Activity",
  "log.col.time": "Time",
  "log.col.action": "Action",
  "log.col.object": "Object",
  "log.col.record": "Record",
  "log.col.outcome": "Outcome",
  "log.empty": "No sync log entries match.",
  "log.more": "Show more",
  "log.details": "Details",
  "log.hide_details": "Hide details",
  "log.written": "Fields written",
  "log.skipped": "Fields skipped",
  "log.none": "none",
  "log.error": "Error",
  "log.what_to_do": "What to do",
  "log.reference": "Reference: {id}",
  "error.unauthorized": "Your session has expired. Sign in again.",
  "error.no_token": "You are not signed in.",
  "error.forbidden": "You are not allowed to do this.",
  "error.precondition_failed": "Someone else changed these settings. Reload to see their changes.",
  "error.invalid_input": "Some fields are not valid.",
  "error.not_connected": "No CRM is connected. An admin must connect one first.",
  "error.needs_reauth": "The CRM no longer accepts the stored sign-in. An admin must reconnect it.",
  "error.rate_limited": "The CRM is busy. Try again in a minute.",
  "error.unavailable": "The CRM or leadbridge is unavailable right now. Try again later.",
  "error.network_error": "Cannot reach leadbridge. Check the connection and try again.",
  "error.generic": "Something went wrong: {message}",
  "connect_error.denied": "you declined access in the CRM",
  "connect_error.expired_state": "the sign-in took more than 10 minutes",
  "connect_error.state_mismatch": "the sign-in finished in another browser",
  "connect_error.email_mismatch": "the CRM user's e-mail is not yours",
  "connect_error.wrong_account": "you signed in to another CRM account than the connected one",
  "connect_error.already_connected_other_account": "another CRM account is already connected",
  "connect_error.not_authorized": "only an admin can connect a CRM",
  "connect_error.other": "the CRM or leadbridge refused ({code})",
};

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;

const da: Partial<Messages> = {
  "loading": "Indlæser…",
  "retry": "Prøv igen",
  "close": "Luk",
  "integrations.title": "CRM-integrationer",
  "integrations.empty": "Intet CRM er tilgængeligt.",
  "status.connected": "Forbundet",
  "status.needs_reauth": "Skal forbindes igen",
  "status.disconnected": "Ikke forbundet",
  "status.account": "Konto: {name}",
  "status.connected_by": "Forbundet af {who} den {when}",
  "action.connect": "Forbind",
  "action.reconnect": "Forbind igen",
  "action.disconnect": "Fjern forbindelse",
  "connect.waiting": "Log ind på {crm} i popup-vinduet…",
  "connect.blocked": "Browseren blokerede popup-vinduet. Tillad pop-ups for dette site og prøv igen.",
  "connect.success": "{crm} er forbundet.",
  "connect.cancelled": "Login-vinduet blev lukket, før {crm} blev forbundet.",
  "connect.failed": "{crm} blev ikke forbundet: {reason}",
  "connect.returned": "Forbundet. Du kan lukke dette vindue.",
  "disconnect.confirm": "Fjern forbindelsen til {crm}? Intet slettes i CRM'et, og du kan forbinde igen når som helst.",
  "disconnect.done": "Forbindelsen til {crm} er fjernet.",
  "readonly.admin_only": "Kun en administrator kan forbinde eller fjerne CRM-systemer.",
  "export.button": "Eksporter til {crm}",
  "export.no_crm": "Forbind et CRM for at eksportere leads.",
  "export.searching": "Søger efter {company} i {crm}…",
  "export.title": "Eksporter {company} til {crm}",
  "export.verdict.exact": "Virksomheden findes allerede i {crm}.",
  "export.verdict.possible": "Mulige match i {crm}: vælg et, eller opret en ny virksomhed.",
  "export.verdict.none": "Ingen match i {crm}: en ny virksomhed oprettes.",
  "export.confidence": "{percent}% match",
  "export.create_new": "Opret en ny virksomhed",
  "export.link_selected": "Sync til valgte",
  "export.create_and_sync": "Opret & Sync",
  "export.exporting": "Eksporterer…",
  "export.cancel": "Annuller",
  "export.done.created": "Oprettet i {crm}.",
  "export.done.linked": "Linket til den eksisterende virksomhed i {crm}.",
  "export.done.updated": "Opdateret i {crm}.",
  "export.done.unchanged": "Allerede opdateret i {crm}.",
  "export.done.converted": "Konverteret i {crm}.",
  "export.open_in_crm": "Åbn i {crm}",
  "export.persons": "{count} kontaktperson(er) eksporteret",
  "export.fields_written": "{count} felt(er) skrevet",
  "export.fields_skipped": "{count} felt(er) sprunget over",
  "export.synced_at": "Synkroniseret {when}",
  "export.not_synced": "Ikke synkroniseret endnu",
  "reason.org_number": "Samme CVR-nummer",
  "reason.name": "Samme navn",
  "reason.close_name": "Lignende navn",
  "reason.domain": "Samme webdomæne",
  "reason.email_domain": "Samme e-maildomæne",
  "reason.org_number_conflict": "Andet CVR-nummer",
  "log.title": "Sync-log",
  "log.filter.outcome": "Resultat",
  "log.filter.object": "Objekt",
  "log.filter.lead": "Lead",
  "log.filter.since": "Siden",
  "log.filter.any": "Alle",
  "log.filter.apply": "Vis",
  "log.outcome.success": "Lykkedes",
  "log.outcome.failed": "Fejlede",
  "log.outcome.skipped": "Sprunget over",
  "log.object.company": "Virksomhed",
  "log.object.person": "Person",
  "log.object.deal": "Salg",
  "log.object.activity": "Aktivitet",
  "log.col.time": "Tid",
  "log.col.action": "Handling",
  "log.col.object": "Objekt",
  "log.col.record": "Post",
  "log.col.outcome": "Resultat",
  "log.empty": "Ingen poster i sync-loggen passer.",
  "log.more": "Vis flere",
  "log.details": "Detaljer",
  "log.hide_details": "Skjul detaljer",
  "log.written": "Felter skrevet",
  "log.skipped": "Felter sprunget over",
  "log.none": "ingen",
  "log.error": "Fejl",
  "log.what_to_do": "Hvad du kan gøre",
  "log.reference": "Reference: {id}",
  "error.unauthorized": "Din session er udløbet. Log ind igen.",
  "error.no_token": "Du er ikke logget ind.",
  "error.forbidden": "Du har ikke lov til dette.",
  "error.precondition_failed": "En anden har ændret disse indstillinger. Genindlæs for at se ændringerne.",
  "error.invalid_input": "Nogle felter er ikke gyldige.",
  "error.not_connected": "Intet CRM er forbundet. En administrator skal forbinde et først.",
  "error.needs_reauth": "CRM'et accepterer ikke længere det gemte login. En administrator skal forbinde igen.",
  "error.rate_limited": "CRM'et har travlt. Prøv igen om et minut.",
  "error.unavailable": "CRM'et eller leadbridge er ikke tilgængeligt lige nu. Prøv igen senere.",
  "error.network_error": "Kan ikke nå leadbridge. Tjek forbindelsen og prøv igen.",
  "error.generic": "Noget gik galt: {message}",
  "connect_error.denied": "du afviste adgang i CRM'et",
  "connect_error.expired_state": "login tog mere end 10 minutter",
  "connect_error.state_mismatch": "login blev afsluttet i en anden browser",
  "connect_error.email_mismatch": "CRM-brugerens e-mail er ikke din",
  "connect_error.wrong_account": "du loggede ind på en anden CRM-konto end den forbundne",
  "connect_error.already_connected_other_account": "en anden CRM-konto er allerede forbundet",
  "connect_error.not_authorized": "kun en administrator kan forbinde et CRM",
  "connect_error.other": "CRM'et eller leadbridge afviste ({code})",
};

export const catalogues: Record<string, Partial<Messages>> = { en, da };
export const supportedLanguages = Object.keys(catalogues);

/** The catalogue language for a BCP 47 tag: "da-DK" -> "da"; anything unknown -> "en". */
export function languageOf(tag: string | null | undefined): string {
  const base = (tag ?? "").toLowerCase().split("-")[0] ?? "";
  return base in catalogues ? base : "en";
}

export function translate(lang: string, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text: string = catalogues[languageOf(lang)]?.[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** A CRM's display name ("superoffice" -> "SuperOffice"); unknown CRMs keep their id. */
export function crmName(lang: string, crm: string): string {
  const key = `crm.${crm}` as MessageKey;
  return key in en ? translate(lang, key) : crm;
}

const KNOWN_ERRORS = new Set(["unauthorized", "no_token", "forbidden", "precondition_failed", "invalid_input",
  "not_connected", "needs_reauth", "rate_limited", "unavailable", "network_error"]);
// The API's codes (layers/common/leadbridge/errors.py) that read the same to a user.
const SAME_AS: Record<string, string> = {
  unauthenticated: "unauthorized", crm_rate_limited: "rate_limited", crm_unavailable: "unavailable",
  store_unavailable: "unavailable",
};

/** The sentence a user sees for an ApiError: a known code in the user's language, otherwise the API's message. */
export function errorText(lang: string, error: ApiError): string {
  const code = error.status === 412 ? "precondition_failed" : error.status === 422 ? "invalid_input"
    : SAME_AS[error.code] ?? error.code;
  if (KNOWN_ERRORS.has(code)) return translate(lang, `error.${code}` as MessageKey);
  return translate(lang, "error.generic", { message: error.message || error.code });
}

/** Why a connect attempt ended in `?status=error&error=<code>` (docs/connections.md), as a clause. */
export function connectErrorText(lang: string, code: string): string {
  const key = `connect_error.${code}` as MessageKey;
  return key in en ? translate(lang, key) : translate(lang, "connect_error.other", { code });
}

export function formatTime(lang: string, iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(languageOf(lang) === "da" ? "da-DK" : "en-GB",
                                 { dateStyle: "medium", timeStyle: "short" }).format(date);
}
