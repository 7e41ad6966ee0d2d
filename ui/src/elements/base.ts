// What every leadbridge element shares: an open shadow root with the theme, the API client built from the element's
// or the page's settings, the user's language, error notices, and re-rendering that keeps the keyboard focus.
import { LeadbridgeClient, isAdminToken, type TokenSource } from "../api.js";
import { config } from "../config.js";
import { ApiError } from "../errors.js";
import { errorText, translate, crmName, type MessageKey } from "../i18n.js";
import { baseStyles } from "../theme.js";
import { h, type Child } from "../dom.js";

export abstract class LeadbridgeElement extends HTMLElement {
  /** The host's token function for this element (else the page-wide one from `LeadbridgeUI.configure`). */
  getToken: TokenSource | undefined;
  protected readonly root: ShadowRoot;
  private connectedOnce = false;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
  }

  static get observedAttributes(): string[] {
    return ["api-url", "lang"];
  }

  connectedCallback(): void {
    this.connectedOnce = true;
    void this.refresh();
  }

  attributeChangedCallback(_name: string, previous: string | null, next: string | null): void {
    if (this.connectedOnce && previous !== next) void this.refresh();
  }

  /** Load what the element shows and render it. */
  abstract refresh(): Promise<void>;

  get language(): string {
    const tagged = this.closest("[lang]")?.getAttribute("lang");
    return tagged || config().lang || document.documentElement.lang || "en";
  }

  t(key: MessageKey, params: Record<string, string | number> = {}): string {
    return translate(this.language, key, params);
  }

  crm(crm: string): string {
    return crmName(this.language, crm);
  }

  client(): LeadbridgeClient {
    const apiUrl = this.getAttribute("api-url") || config().apiUrl;
    const getToken = this.getToken ?? config().getToken;
    if (!apiUrl || !getToken) {
      throw new ApiError(0, "not_configured",
                         "Set the API URL (api-url or LeadbridgeUI.configure) and a getToken function first.");
    }
    return new LeadbridgeClient({ apiUrl, getToken });
  }

  /** Whether the signed-in user may change integrations (the API enforces it; this only hides the controls). */
  async isAdmin(): Promise<boolean> {
    const token = await this.client().token();
    const { roleClaim, adminRole } = config();
    return isAdminToken(token, roleClaim ?? "role", adminRole ?? "admin");
  }

  /** Replace the shadow content; the control that had the focus (same data-focus key) gets it back. */
  protected render(...children: Child[]): void {
    const focused = (this.root.activeElement as HTMLElement | null)?.dataset?.["focus"];
    this.root.replaceChildren(h("style", {}, baseStyles), ...children.flat().filter(isNode));
    const again = focused ? this.root.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focused)}"]`) : null;
    (again ?? this.root.querySelector<HTMLElement>("[data-autofocus]"))?.focus();
  }

  /** An error as the user reads it: what happened, what to do, and the reference to quote. */
  errorNotice(error: unknown): HTMLElement {
    const apiError = error instanceof ApiError ? error : new ApiError(0, "error", String(error));
    return h("div", { class: "notice error", role: "alert" },
      h("div", {}, errorText(this.language, apiError)),
      apiError.hint ? h("div", {}, apiError.hint) : null,
      apiError.correlationId ? h("div", { class: "muted" }, this.t("log.reference", { id: apiError.correlationId }))
        : null);
  }

  protected emit(name: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }
}

function isNode(child: Child): child is Node {
  return typeof child === "object" && child !== null && !Array.isArray(child);
}

export function define(name: string, element: CustomElementConstructor): void {
  if (!customElements.get(name)) customElements.define(name, element);
}
