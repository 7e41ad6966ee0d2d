"""The garbage collector's settings for a function that applies thousands of records an invocation (the sync worker).

With CPython's defaults, a young collection runs every 700 net container allocations and a full one every hundred
young ones; a sync worker's run of 20,000 records made ~1,800 collections (9 of them full, each scanning every object
the process holds: the AWS SDK's service models, pydantic's schemas, the page in hand) and they took about a tenth of
its CPU (docs/benchmarks.md, "Fewer garbage collections"). Reference counting already frees what a record makes; the
collector is only for cycles, which the run seldom makes. So:

- what the function's init loaded is frozen (`gc.freeze`): never scanned again, never collected (module-level objects
  live as long as the container anyway);
- a young collection every `YOUNG_COLLECTION_EVERY` allocations instead of 700; the older generations keep their
  defaults relative to it. Garbage in cycles still goes, a little later: what is held meanwhile is bounded by the
  threshold, not by the number of records (the `sync` benchmark's memory column checks it at 10,000 and 100,000).

Only in a Lambda execution environment, which runs one function: the local runtime runs every function in one shared
interpreter (and the tests run in it), where freezing would keep every other function's garbage for good.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

YOUNG_COLLECTION_EVERY = 20_000
OLDER_GENERATIONS_EVERY = 10  # CPython's default for both older generations


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
    gc.set_threshold(YOUNG_COLLECTION_EVERY, OLDER_GENERATIONS_EVERY, OLDER_GENERATIONS_EVERY)
