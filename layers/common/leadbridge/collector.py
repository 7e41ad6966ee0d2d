"""The garbage collector's settings for a function that applies thousands of records an invocation (the sync worker).

With CPython's defaults (a young collection every 700 net container allocations), a sync worker's run of 20,000
records made ~1,830 collections, 12 of them full ones that scan every object the process holds (the AWS SDK's service
models, pydantic's schemas, the page in hand): 1.1 to 1.8 s of CPU (docs/benchmarks.md, "Fewer garbage
collections"). Reference counting already frees what a record makes; the collector is only for cycles. So:

- what the function's init loaded is frozen (`gc.freeze`): never scanned again (module-level objects live as long as
  the container anyway);
- a young collection every `YOUNG_COLLECTION_EVERY` allocations instead of 700, and a full one after each middle
  one, so garbage in cycles does not wait long in the oldest generation: 0.5 s in the collector for the same run.
  20,000 young allocations took the collector to 0.2 s but let the worker's memory grow with the run (48 MB at 10,000
  companies, 63 to 77 MB at 100,000); at 5,000 it is 34 and 40 MB, within the 10 MB the `sync` benchmark allows.

Only in a Lambda execution environment, which runs one function: the local runtime runs every function in one shared
interpreter (and the tests run in it), where freezing would keep every other function's garbage for good.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

YOUNG_COLLECTION_EVERY = 5_000
MIDDLE_COLLECTION_EVERY = 10  # young collections (CPython's default)
FULL_COLLECTION_EVERY = 1  # middle collections (CPython: 10); the oldest generation's own 25 % rule still applies


def settle_after_init(environ: Mapping[str, str] = os.environ) -> bool:
    """Called once, at the end of a handler module's import (its init); whether it settled the collector (only where
    Lambda's runtime interface runs the process: `AWS_LAMBDA_RUNTIME_API` set)."""
    if not environ.get("AWS_LAMBDA_RUNTIME_API"):
        return False
    settle()
    return True


def settle() -> None:
    """Freeze what is loaded and space young collections out (the benchmarks' worker processes call this where the
    function's init would)."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, MIDDLE_COLLECTION_EVERY, FULL_COLLECTION_EVERY)
