"""Typed runtime settings, read once from the environment that template.yaml (or the local stack) sets.

Domain code never reads os.environ; handlers and the composition root (`leadbridge.runtime`) pass settings in.
`Settings` holds what every function gets (template.yaml `Globals`); `SyncWorkerSettings` and
`WebhookProcessorSettings` hold one function's own variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    stage: str = Field(default="dev", alias="STAGE")
    table_name: str = Field(default="leadbridge", alias="TABLE_NAME")
    event_bus_name: str = Field(default="leadbridge", alias="EVENT_BUS_NAME")
    sync_queue_url: str = Field(default="", alias="SYNC_QUEUE_URL")
    webhook_queue_url: str = Field(default="", alias="WEBHOOK_QUEUE_URL")
    export_queue_url: str = Field(default="", alias="EXPORT_QUEUE_URL")  # bulk export jobs (POST /exports)
    secrets_kms_key_id: str = Field(default="", alias="SECRETS_KMS_KEY_ID")
    # Public base URL of the HTTP API, for OAuth redirect URIs and webhook target URLs.
    public_api_url: str = Field(default="http://127.0.0.1:3000", alias="PUBLIC_API_URL")
    # JWT claims (the HTTP API's JWT authorizer has verified the token before any handler runs).
    tenant_claim: str = Field(default="tenant_id", alias="TENANT_CLAIM")
    role_claim: str = Field(default="role", alias="ROLE_CLAIM")
    admin_role: str = Field(default="admin", alias="ADMIN_ROLE")
    # Comma-separated allow-list of return URL prefixes for the OAuth connect flow (no open redirects).
    allowed_return_urls: str = Field(default="", alias="ALLOWED_RETURN_URLS")
    sync_log_ttl_days: int = Field(default=90, alias="SYNC_LOG_TTL_DAYS")
    change_feed_ttl_days: int = Field(default=30, alias="CHANGE_FEED_TTL_DAYS")
    # What the bus carries of inbound changes: "record" (an event each) or "summary" (one per report; docs/events.md).
    change_events: Literal["record", "summary"] = Field(default="record", alias="CHANGE_EVENTS")

    @property
    def secret_prefix(self) -> str:
        return f"leadbridge/{self.stage}/"

    @property
    def return_url_allow_list(self) -> list[str]:
        return [u.strip() for u in self.allowed_return_urls.split(",") if u.strip()]


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    return Settings.model_validate({k: v for k, v in env.items() if k in _ALIASES})


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Process-wide settings (cached: Lambda environments do not change during a container's life)."""
    return load_settings()


_ALIASES = {f.alias for f in Settings.model_fields.values() if f.alias}


# --- one function's own variables (template.yaml: the function's `Environment`, not `Globals`) -----------------------
# An empty or missing variable takes the default.


class SyncWorkerSettings(BaseModel):
    """SyncWorkerFunction's variables."""

    model_config = ConfigDict(defer_build=True)

    # CRM requests per run (all continuations); None: the CRM's default.
    request_budget: int | None = Field(default=None, alias="SYNC_REQUEST_BUDGET")
    # How far before its checkpoint an incremental read starts again.
    overlap_seconds: int = Field(default=300, alias="SYNC_OVERLAP_SECONDS")
    # SyncQueue's maxReceiveCount: the attempt that dead-letters a job.
    max_receive_count: int = Field(default=5, alias="SYNC_MAX_RECEIVE_COUNT")


class WebhookProcessorSettings(BaseModel):
    """WebhookProcessorFunction's variables."""

    model_config = ConfigDict(defer_build=True)

    # WebhookQueue's maxReceiveCount: the attempt that dead-letters an event.
    max_receive_count: int = Field(default=5, alias="WEBHOOK_MAX_RECEIVE_COUNT")


FunctionSettings = TypeVar("FunctionSettings", bound=BaseModel)


def load_function_settings(model: type[FunctionSettings], environ: Mapping[str, str] | None = None) -> FunctionSettings:
    env = os.environ if environ is None else environ
    names = {f.alias for f in model.model_fields.values() if f.alias}
    return model.model_validate({k: v for k, v in env.items() if k in names and v.strip()})


@lru_cache(maxsize=1)
def sync_worker_settings() -> SyncWorkerSettings:
    return load_function_settings(SyncWorkerSettings)


@lru_cache(maxsize=1)
def webhook_processor_settings() -> WebhookProcessorSettings:
    return load_function_settings(WebhookProcessorSettings)


def clear_settings_caches() -> None:
    """Forget every settings object read so far (tests whose environment changes between cases)."""
    for cached in (settings, sync_worker_settings, webhook_processor_settings):
        cached.cache_clear()
