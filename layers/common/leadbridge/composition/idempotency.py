"""The Idempotency-Key of `POST /leads/{lead_id}/export`: `export_lead` behind Powertools idempotency, on the one
table under its own partition (`IDEMPOTENCY#export`), kept 24 hours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadbridge.composition.cache import cached
from leadbridge.composition.export import export_services
from leadbridge.composition.stores import table
from leadbridge.config import settings

if TYPE_CHECKING:
    from leadbridge.export import ExportResult


@dataclass(frozen=True)
class IdempotentExport:
    run: Callable[..., ExportResult]  # call as run(request=IdempotentExportRequest(...))
    config: Any  # the IdempotencyConfig, to register the Lambda context (in-progress expiry)


@cached
def idempotent_export() -> IdempotentExport:
    """`export_lead` behind Powertools idempotency on the one table (own persistence layer: one per config)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    from leadbridge import export as domain
    from leadbridge.observability import logger

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        static_pk_value="IDEMPOTENCY#export",
        expiry_attr="expires_at",
        boto3_client=table().client,
    )
    config = IdempotencyConfig(
        # Keyed by tenant, CRM, lead and the client's key; a different body under the same key is refused.
        event_key_jmespath="[tenant, crm, lead_id, key]",
        payload_validation_jmespath="body_hash",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
    )

    def export(request: domain.IdempotentExportRequest) -> domain.ExportResult:
        return domain.export_lead(
            export_services(),
            request.tenant,
            request.body,
            crm=request.crm,
            correlation_id=logger.get_correlation_id(),
        )

    run: Callable[..., domain.ExportResult] = idempotent_function(
        data_keyword_argument="request",
        config=config,
        persistence_store=persistence,
        output_serializer=PydanticSerializer(model=domain.ExportResult),
    )(export)
    return IdempotentExport(run, config)
