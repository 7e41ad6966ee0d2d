// Page-wide settings, so a host sets the API URL and token function once: `LeadbridgeUI.configure({...})`.
// Each element may override them (attribute `api-url`, property `getToken`).
import type { TokenSource } from "./api.js";

export interface LeadbridgeConfig {
  /** Base URL of leadbridge's HTTP API (the stack's `ApiUrl` output). */
  apiUrl?: string;
  /** Returns the signed-in user's JWT (the same token the host's own API calls use). */
  getToken?: TokenSource;
  /** Language when no `lang` attribute says otherwise: "en" or "da". */
  lang?: string;
  /** The JWT claim holding the role, and the admin role's value (template parameters RoleClaim / AdminRole). */
  roleClaim?: string;
  adminRole?: string;
  /** Where the connect popup returns (must be on AllowedReturnUrls); default: this page. */
  returnUrl?: string;
}

const current: LeadbridgeConfig = {};

export function configure(options: LeadbridgeConfig): LeadbridgeConfig {
  Object.assign(current, options);
  document.querySelectorAll("*").forEach((element) => {
    if (element.tagName.startsWith("LEADBRIDGE-") && "refresh" in element) {
      void (element as unknown as { refresh: () => unknown }).refresh();
    }
  });
  return { ...current };
}

export function config(): LeadbridgeConfig {
  return current;
}
