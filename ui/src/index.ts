// The bundle's entry: `<script src="leadbridge-ui-<version>.js">` defines the custom elements and `window.LeadbridgeUI`.
import { LeadbridgeClient, isAdminToken, tokenClaims } from "./api.js";
import { configure } from "./config.js";
import { completeConnectReturn } from "./connect.js";
import { ApiError } from "./errors.js";
import { errorText, translate } from "./i18n.js";
import { themeProperties } from "./theme.js";
import { LeadbridgeIntegrations } from "./elements/integrations.js";
import { LeadbridgeExportButton } from "./elements/export-button.js";
import { LeadbridgeSyncLog } from "./elements/sync-log.js";
import { LeadbridgeSetup } from "./elements/setup.js";
import { LeadbridgeRun } from "./elements/run.js";

declare const __LEADBRIDGE_UI_VERSION__: string;
export const version = __LEADBRIDGE_UI_VERSION__;

export {
  ApiError, LeadbridgeClient, LeadbridgeExportButton, LeadbridgeIntegrations, LeadbridgeRun, LeadbridgeSetup, LeadbridgeSyncLog,
  configure, errorText, isAdminToken, themeProperties, tokenClaims, translate,
};

// In the connect popup, back on the app's return page: report to the opener and close (docs/connections.md step 3).
if (typeof window !== "undefined") completeConnectReturn(window);
