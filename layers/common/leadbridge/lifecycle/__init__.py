"""The app's lead lifecycle events (stage changed, won, lost, deleted, transferred: CRM deals, deferred outbound
writes) and activities, written to the CRM."""
