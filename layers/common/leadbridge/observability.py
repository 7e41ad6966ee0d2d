"""The process-wide Powertools `logger`, `tracer` and `metrics`, and the secret redaction every log line goes through.

Nothing else in the code base creates a Logger, Tracer or Metrics: import these singletons.

Redaction happens in the formatter, the last step before a record is written, so it covers the message, `extra`
keys, appended keys and exception text alike. Values of secret-named keys are replaced wherever they appear
(nested dicts and lists included), and `Bearer ...` tokens, `key=value` pairs and JSON `"key": "value"` pairs with
secret names are masked inside free text (e.g. an httpx error that echoes a request body or a URL query).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from pydantic import BaseModel

# Each function names itself through POWERTOOLS_SERVICE_NAME (template.yaml); metrics share one namespace.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "leadbridge"
NAMESPACE = "leadbridge"
REDACTED = "[REDACTED]"

# Key names (compared case-insensitively, with "-" treated as "_") whose values are secrets.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "client_secret",
        "code",
        "code_verifier",
        "secret",
        "webhook_secret",
        "authorization",
        "password",
        "api_key",
        "x_api_key",
        "cookie",
        "set_cookie",
        "assertion",
    }
)

_KEY_ALTERNATION = "|".join(sorted((re.escape(k).replace("_", "[_-]") for k in SECRET_KEYS), key=len, reverse=True))
# `Bearer <token>` / `Basic <credentials>` anywhere in text.
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
# `"access_token": "..."` or `'code': '...'` inside text (JSON or Python repr).
_QUOTED_PAIR = re.compile(
    rf"""(?P<k>["'](?:{_KEY_ALTERNATION})["']\s*:\s*)(?P<q>["'])(?P<v>.*?)(?P=q)""",
    re.IGNORECASE,
)
# `access_token='...'` as in a Python repr (dataclasses, pydantic models, keyword arguments).
_REPR_PAIR = re.compile(
    rf"""(?P<k>(?<![A-Za-z0-9_])(?:{_KEY_ALTERNATION})\s*=\s*)(?P<q>["'])(?P<v>.*?)(?P=q)""", re.IGNORECASE
)
# `access_token=...` in a query string or form body; stops at the next separator.
_FORM_PAIR = re.compile(rf"(?P<k>(?<![A-Za-z0-9_])(?:{_KEY_ALTERNATION})=)(?P<v>[^&\s\"',;]+)", re.IGNORECASE)


# Keys ending in one of these are secret too (`x_client_secret`, `crm_access_token`); not `code` (`status_code`).
_SECRET_SUFFIXES = tuple(f"_{k}" for k in SECRET_KEYS - {"code"})


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    return normalised in SECRET_KEYS or normalised.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """Mask bearer/basic credentials and secret-named pairs inside free text."""
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _QUOTED_PAIR.sub(lambda m: f"{m.group('k')}{m.group('q')}{REDACTED}{m.group('q')}", text)
    text = _REPR_PAIR.sub(lambda m: f"{m.group('k')}{m.group('q')}{REDACTED}{m.group('q')}", text)
    return _FORM_PAIR.sub(lambda m: f"{m.group('k')}{REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of `value` with the values of secret-named keys replaced and secrets in strings masked."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_secret_key(k) and v not in (None, "") else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, BaseModel):
        return redact(value.model_dump(mode="json"))
    # Anything else would be str()-ed by the JSON serialiser (exceptions, dataclasses, UUIDs): redact that text.
    return redact_text(str(value))


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every record passed through `redact` before serialisation."""

    def serialize(self, log: LogRecord) -> str:
        return super().serialize(log=redact(dict(log)))


class RedactingFilter(logging.Filter):
    """For handlers that do not use `RedactingFormatter` (third-party loggers, test capture): masks the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, Mapping):
            record.msg = redact(record.msg)
        else:
            record.msg = redact_text(record.getMessage())
        record.args = None
        return True


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
# Only botocore is patched at import: patching everything (the default) imports httpx in every function, ~50-90 ms
# of a cold start that most requests never use; `trace_crm_http` patches httpx when the CRM code is first loaded.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def trace_crm_http() -> None:
    """Trace every CRM request in X-Ray: patch httpx (idempotent). X-Ray swaps `httpx.Client` for a traced subclass,
    so this must run before a CRM package is imported: authlib's OAuth2Client subclasses whatever `httpx.Client` is
    when authlib is first imported."""
    tracer.patch(modules=("httpx",))


# Most requests add no metric; an empty flush is normal here, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# Libraries that may log URLs, headers or bodies: route them through the redacting formatter, not the root handler.
_LIBRARY_LOGGERS = ("httpx", "httpcore", "authlib", "botocore", "urllib3")
for _name in _LIBRARY_LOGGERS:
    _lib = logging.getLogger(_name)
    _lib.addFilter(RedactingFilter())
    if logger.registered_handler not in _lib.handlers:
        _lib.addHandler(logger.registered_handler)
    _lib.propagate = False
    if _lib.level == logging.NOTSET:
        _lib.setLevel(logging.WARNING)
