"""Webhook signing secrets for the intake, read from Secrets Manager with a short per-container cache.

The connections code stores each connection's secret as `{"webhook_secret": "..."}` in
`leadbridge/<stage>/tenants/{tenant}/{crm}/webhook` (`leadbridge.store.secret_names`). The intake runs on every CRM
event, so it caches the value for `max_age` seconds with Powertools parameters; a caller that sees a signature
mismatch asks again with `fresh=True`, so a re-registered webhook's new secret verifies at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.exceptions import BotoCoreError, ClientError

from leadbridge import aws_clients
from leadbridge.errors import StoreUnavailable
from leadbridge.models.connection import Connection
from leadbridge.store.secret_names import webhook_secret_name

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DEFAULT_MAX_AGE = 60  # seconds; short, because a mismatch forces a fresh read anyway
# Gone, or scheduled for deletion by a disconnect: there is no secret to check against.
_ABSENT = ("ResourceNotFoundException", "InvalidRequestException")


class CachedWebhookSecrets:
    """`leadbridge.inbound.webhook_intake.WebhookSecrets` over Secrets Manager. One instance per container."""

    def __init__(self, client: SecretsManagerClient | None = None, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        self._provider = SecretsProvider(boto3_client=client or aws_clients.client("secretsmanager"))
        self._max_age = max_age

    @staticmethod
    def name_for(connection: Connection) -> str:
        return connection.webhook_secret_name or webhook_secret_name(connection.secret_name)

    def secret_for(self, connection: Connection, *, fresh: bool = False) -> str | None:
        name = self.name_for(connection)
        try:
            value: Any = self._provider.get(name, transform="json", max_age=self._max_age, force_fetch=fresh)
        except TransformParameterError:
            return None  # not the JSON the connections code writes: treat as no usable secret
        except GetParameterError as exc:
            # Powertools wraps the AWS error; the original is the exception being handled when it raised.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError):
                code = str(cause.response.get("Error", {}).get("Code", ""))
                if code in _ABSENT:
                    return None
                raise StoreUnavailable(f"Webhook secret read failed ({code})", details={"aws_error": code}) from exc
            if isinstance(cause, BotoCoreError):
                raise StoreUnavailable(
                    f"Webhook secret read failed ({type(cause).__name__})",
                    details={"aws_error": type(cause).__name__},
                ) from exc
            raise StoreUnavailable("Webhook secret read failed", details={"aws_error": "unknown"}) from exc
        secret = value.get("webhook_secret") if isinstance(value, dict) else None
        return secret if isinstance(secret, str) and secret else None
