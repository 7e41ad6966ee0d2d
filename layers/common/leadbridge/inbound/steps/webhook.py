"""Step `webhook`: register a missing webhook and check the registration (when a check is wired). Neither stops the
sync: without a webhook, polling still brings changes in."""

from __future__ import annotations

from leadbridge.errors import RateLimited, StoreUnavailable, code_and_message
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.connection import Connection
from leadbridge.models.synclog import Trigger


def ensure_webhook(scope: RunScope, connection: Connection) -> None:
    svc = scope.svc
    if svc.ensure_webhook is not None:
        connection = svc.ensure_webhook(connection)  # non-fatal by design: polling still works
    if svc.check_webhook is not None:
        try:
            svc.check_webhook(connection, scope.connector, Trigger(scope.run.trigger))
        except (RateLimited, StoreUnavailable):
            raise
        except Exception as exc:  # a failed check must not stop the sync itself
            scope.recorder.error("webhook_check_failed", code_and_message(exc)[1])
