"""The one way a request body becomes JSON: every HTTP route (through the resolver) and the webhook intake use it.

`parse_json_body` is bounded before the standard parser runs: a body over `MAX_BODY_BYTES`, nested deeper than
`MAX_DEPTH`, not UTF-8, with an integer literal beyond Python's digit limit, with `NaN`/`Infinity`, or simply not
JSON, raises `MalformedBody` (a `ValueError`), which the HTTP edge answers with a 400 JSON error (`invalid_input`)
and the webhook intake with 400 `webhook_malformed`. Nothing from the body reaches a recursive parser unbounded, so
no input turns into a `RecursionError` or another 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

MAX_DEPTH = 64
# Request body limits, well below Lambda's 6 MB synchronous invocation limit (the whole event counts: headers, and
# JSON escaping of the body in it), so a body the function can refuse is refused by it, 413 in the JSON error shape,
# before anything parses it. One lead, settings document or event is far below 1 MiB; the bulk export (1,000 leads)
# has its own, larger limit (`leadbridge.api.resolver` picks it by route).
MAX_BODY_BYTES = 1024 * 1024
MAX_BULK_BODY_BYTES = 5 * 1024 * 1024
# A JSON string (escapes included) or one bracket: strings are skipped whole, so brackets inside them do not count.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
# A `\uD800`-`\uDFFF` escape: JSON may spell a lone surrogate, which is no character and not UTF-8 either.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class MalformedBody(ValueError):
    """The body is not JSON leadbridge accepts. `reason` is safe to show the caller (nothing of the body in it)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def _reject_constant(name: str) -> Any:
    raise MalformedBody(f"the body is not valid JSON ({name} is not a JSON value)")


def nesting_depth_exceeds(raw: bytes, max_depth: int) -> bool:
    """True when arrays/objects in `raw` nest deeper than `max_depth` (brackets inside strings do not count)."""
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def parse_json_body(
    raw: bytes | str | None, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BODY_BYTES
) -> Any:
    """The JSON value of `raw` (None for an empty body). Raises `MalformedBody` for anything else."""
    if raw is None:
        return None
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if not data.strip():
        return None
    if len(data) > max_bytes:
        raise MalformedBody(f"the body is larger than {max_bytes} bytes", too_large=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not valid UTF-8 (at byte {exc.start})") from None
    if nesting_depth_exceeds(data, max_depth):
        raise MalformedBody(f"the body nests arrays or objects deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
        if _SURROGATE_ESCAPE.search(text):
            # Pairs are one character and fine; a lone surrogate cannot be stored or sent to a CRM as UTF-8.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except UnicodeEncodeError:
        raise MalformedBody("the body is not valid UTF-8 (a \\u escape of a lone surrogate)") from None
    except MalformedBody:
        raise
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError:
        # Python's integer digit limit (4300 digits), the only other ValueError the parser raises.
        raise MalformedBody("the body holds a number with too many digits") from None
    except RecursionError:  # pragma: no cover - the depth check above comes first
        raise MalformedBody(f"the body nests arrays or objects deeper than {max_depth} levels") from None


def event_body_bytes(body: str | None, is_base64_encoded: bool) -> bytes | None:
    """The raw bytes of an HTTP API event's body. Raises `MalformedBody` for invalid base64."""
    if body is None:
        return None
    if not is_base64_encoded:
        return body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedBody("the body is not valid base64") from None
