// The connect popup (docs/connections.md): this window opens leadbridge's connect page, answers its "ready" message
// with the admin's token, and waits for the return page (on this app's origin) to report how the sign-in ended.
import type { TokenSource } from "./api.js";

export const READY = "leadbridge:connect:ready"; // connect page -> app: "send the token"
export const TOKEN = "leadbridge:connect:token"; // app -> connect page
export const RESULT = "leadbridge:connect:result"; // return page -> app: how it ended
/** Marks the return URL, so only a page opened as the connect popup's return reports and closes itself. */
export const RETURN_MARKER = "lb_connect_return";

export type ConnectOutcome =
  | { status: "connected"; crm: string }
  | { status: "error"; crm: string; error: string }
  | { status: "blocked"; crm: string }
  | { status: "cancelled"; crm: string };

export interface PopupLike {
  closed: boolean;
  postMessage(message: unknown, targetOrigin: string): void;
  focus?(): void;
}

interface MessageLike {
  origin: string;
  source: unknown;
  data: unknown;
}

/** The parts of `window` the connect flow uses (a fake in unit tests). */
export interface HostWindow {
  location: { origin: string; href: string };
  open(url: string, target: string, features: string): PopupLike | null;
  addEventListener(type: "message", listener: (event: MessageLike) => void): void;
  removeEventListener(type: "message", listener: (event: MessageLike) => void): void;
}

export interface ConnectOptions {
  crm: string;
  connectPageUrl: string;
  returnUrl: string;
  getToken: TokenSource;
  requireSameEmail?: boolean;
  host: HostWindow;
  /** How often to check whether the user closed the popup (ms). */
  pollMs?: number;
  /** How long a closed popup's result may still be on its way (ms): the return page posts it and closes at once, and
   * the close can be seen before the message is delivered. */
  closeGraceMs?: number;
}

/** The return URL for a page: the page itself with the marker, and without a previous attempt's answer. */
export function returnUrlFor(pageUrl: string): string {
  const url = new URL(pageUrl);
  for (const name of ["status", "crm", "error", RETURN_MARKER]) url.searchParams.delete(name);
  url.searchParams.set(RETURN_MARKER, "1");
  url.hash = "";
  return url.toString();
}

export function connectInPopup(options: ConnectOptions): Promise<ConnectOutcome> {
  const { crm, host } = options;
  const apiOrigin = new URL(options.connectPageUrl).origin;
  const appOrigin = new URL(options.returnUrl).origin;
  const popup = host.open(options.connectPageUrl, `leadbridge-connect-${crm}`, "popup,width=600,height=720");
  if (!popup) return Promise.resolve({ status: "blocked", crm });
  return new Promise((resolve) => {
    let finished = false;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const finish = (outcome: ConnectOutcome): void => {
      if (finished) return;
      finished = true;
      host.removeEventListener("message", onMessage);
      clearInterval(timer);
      clearTimeout(grace);
      resolve(outcome);
    };
    const onMessage = (event: MessageLike): void => {
      if (event.source !== popup || typeof event.data !== "object" || event.data === null) return;
      const data = event.data as Record<string, unknown>;
      if (data["type"] === READY && event.origin === apiOrigin) {
        void Promise.resolve(options.getToken()).then((token) => {
          popup.postMessage({ type: TOKEN, token: token ?? "", require_same_email: options.requireSameEmail === true },
                            apiOrigin);
        });
      } else if (data["type"] === RESULT && event.origin === appOrigin) {
        const status = String(data["status"] ?? "");
        finish(status === "connected" ? { status: "connected", crm }
          : { status: "error", crm, error: String(data["error"] ?? "unknown") });
      }
    };
    host.addEventListener("message", onMessage);
    // A popup the user closes sends nothing; notice it so the button does not wait forever. A popup that closed
    // itself after posting its result may be seen closed before that message arrives: wait for it a little first.
    const timer = setInterval(() => {
      if (!popup.closed || grace !== undefined) return;
      grace = setTimeout(() => finish({ status: "cancelled", crm }), options.closeGraceMs ?? 1500);
    }, options.pollMs ?? 400);
  });
}

interface ReturnWindow {
  location: { origin: string; search: string };
  opener: { postMessage(message: unknown, targetOrigin: string): void } | null;
  close(): void;
}

/** On the return page in the popup: tell the window that opened it how the sign-in ended, and close. Returns true
 * when this page was such a return (the host may then show a short "you can close this window"). */
export function completeConnectReturn(win: ReturnWindow): boolean {
  const params = new URLSearchParams(win.location.search);
  if (params.get(RETURN_MARKER) !== "1" || !params.get("status") || !win.opener) return false;
  win.opener.postMessage({ type: RESULT, status: params.get("status"), crm: params.get("crm"),
                           error: params.get("error") }, win.location.origin);
  win.close();
  return true;
}
