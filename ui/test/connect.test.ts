import { test } from "node:test";
import assert from "node:assert/strict";
import { RESULT, READY, TOKEN, completeConnectReturn, connectInPopup, returnUrlFor, type HostWindow,
         type PopupLike } from "../src/connect.js";

type Listener = (event: { origin: string; source: unknown; data: unknown }) => void;

function fakeHost(popup: PopupLike | null) {
  const listeners = new Set<Listener>();
  const opened: string[] = [];
  const host: HostWindow = {
    location: { origin: "https://app.example.com", href: "https://app.example.com/crm" },
    open: (url) => { opened.push(url); return popup; },
    addEventListener: (_type, listener) => { listeners.add(listener); },
    removeEventListener: (_type, listener) => { listeners.delete(listener); },
  };
  const send = (origin: string, source: unknown, data: unknown) => listeners.forEach((l) => l({ origin, source, data }));
  return { host, opened, send, listeners };
}

function fakePopup() {
  const posted: { message: unknown; origin: string }[] = [];
  const popup: PopupLike = { closed: false, postMessage: (message, origin) => { posted.push({ message, origin }); } };
  return { popup, posted };
}

const options = (host: HostWindow) => ({
  crm: "superoffice",
  connectPageUrl: "https://api.example.com/connections/superoffice/authorize?return_url=x",
  returnUrl: "https://app.example.com/crm?lb_connect_return=1",
  getToken: async () => "admin-jwt",
  host,
  pollMs: 5,
  closeGraceMs: 20,
});

test("a blocked popup is reported at once", async () => {
  const { host } = fakeHost(null);
  assert.deepEqual(await connectInPopup(options(host)), { status: "blocked", crm: "superoffice" });
});

test("the token goes only to the connect page on the API's origin, and the return page's result ends the flow",
     async () => {
  const { popup, posted } = fakePopup();
  const { host, opened, send, listeners } = fakeHost(popup);
  const outcome = connectInPopup(options(host));
  assert.deepEqual(opened, ["https://api.example.com/connections/superoffice/authorize?return_url=x"]);
  send("https://evil.example.net", popup, { type: READY });   // wrong origin
  send("https://api.example.com", {}, { type: READY });         // not our popup
  await new Promise((r) => setImmediate(r));
  assert.equal(posted.length, 0);
  send("https://api.example.com", popup, { type: READY, crm: "superoffice" });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(posted, [{ message: { type: TOKEN, token: "admin-jwt", require_same_email: false },
                              origin: "https://api.example.com" }]);
  send("https://api.example.com", popup, { type: RESULT, status: "connected" }); // a result from the API origin
  send("https://app.example.com", popup, { type: RESULT, status: "connected", crm: "superoffice" });
  assert.deepEqual(await outcome, { status: "connected", crm: "superoffice" });
  assert.equal(listeners.size, 0);
});

test("an error on the return URL is reported with its code", async () => {
  const { popup } = fakePopup();
  const { host, send } = fakeHost(popup);
  const outcome = connectInPopup(options(host));
  send("https://app.example.com", popup, { type: RESULT, status: "error", error: "denied", crm: "superoffice" });
  assert.deepEqual(await outcome, { status: "error", crm: "superoffice", error: "denied" });
});

test("closing the popup without finishing is a cancel", async () => {
  const { popup } = fakePopup();
  const { host } = fakeHost(popup);
  const outcome = connectInPopup(options(host));
  popup.closed = true;
  assert.deepEqual(await outcome, { status: "cancelled", crm: "superoffice" });
});

test("the return URL is the page itself, marked, without an earlier answer", () => {
  assert.equal(returnUrlFor("https://app.example.com/leads/7?tab=crm&status=error&error=denied#top"),
               "https://app.example.com/leads/7?tab=crm&lb_connect_return=1");
});

test("the return page reports to its opener on its own origin and closes; any other page does nothing", () => {
  const sent: { message: unknown; origin: string }[] = [];
  let closed = 0;
  const win = (search: string, opener = true) => ({
    location: { origin: "https://app.example.com", search },
    opener: opener ? { postMessage: (message: unknown, origin: string) => { sent.push({ message, origin }); } } : null,
    close: () => { closed += 1; },
  });
  assert.equal(completeConnectReturn(win("?lb_connect_return=1&status=connected&crm=superoffice")), true);
  assert.deepEqual(sent, [{ message: { type: RESULT, status: "connected", crm: "superoffice", error: null },
                            origin: "https://app.example.com" }]);
  assert.equal(closed, 1);
  assert.equal(completeConnectReturn(win("?status=connected&crm=superoffice")), false); // not our return URL
  assert.equal(completeConnectReturn(win("?lb_connect_return=1&status=connected", false)), false); // no opener
  assert.equal(sent.length, 1);
});

test("a result posted just before the popup closed itself still counts: the close is not taken for a cancel",
     async () => {
  const { popup } = fakePopup();
  const { host, send } = fakeHost(popup);
  const outcome = connectInPopup({ ...options(host), closeGraceMs: 60_000 });
  popup.closed = true;                                  // seen closed first ...
  await new Promise((r) => setTimeout(r, 30));          // ... by several polls
  send("https://app.example.com", popup, { type: RESULT, status: "connected", crm: "superoffice" }); // then delivered
  assert.deepEqual(await outcome, { status: "connected", crm: "superoffice" });
});
