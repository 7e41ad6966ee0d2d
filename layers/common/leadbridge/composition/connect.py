"""Connecting CRMs: the token vault every CRM-calling function uses, and the connection flows' services
(functions/oauth; the worker's webhook registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadbridge.composition.cache import cached
from leadbridge.composition.stores import connection_store, event_publisher, sync_log, table
from leadbridge.config import settings

if TYPE_CHECKING:
    from leadbridge.connect import ConnectionServices
    from leadbridge.errors import NeedsReauth
    from leadbridge.models.connection import Connection
    from leadbridge.store.vault import TokenVault


@cached
def token_vault() -> TokenVault:
    """The process's vault: one per container, so concurrent callers share its locks and cached grants."""
    from leadbridge.crm.base import provider
    from leadbridge.store.vault import DynamoDBLeaseStore, SecretsManagerStore, TokenVault

    return TokenVault(
        SecretsManagerStore(kms_key_id=settings().secrets_kms_key_id),
        DynamoDBLeaseStore(table()),
        lambda crm: provider(crm).oauth(),
        on_needs_reauth=_connection_needs_reauth,
    )


def _connection_needs_reauth(connection: Connection, error: NeedsReauth) -> None:
    from leadbridge.connect import mark_needs_reauth
    from leadbridge.observability import logger

    mark_needs_reauth(connection_services(), connection, error, correlation_id=logger.get_correlation_id())


@cached
def connection_services() -> ConnectionServices:
    from leadbridge.connect import ConnectionServices
    from leadbridge.crm.base import provider, supported

    config = settings()
    return ConnectionServices(
        store=connection_store(),
        vault=token_vault(),
        publisher=event_publisher(),
        sync_log=sync_log(),
        providers=provider,
        supported_crms=supported,
        public_api_url=config.public_api_url,
        secret_prefix=config.secret_prefix,
        allowed_return_urls=config.return_url_allow_list,
    )
