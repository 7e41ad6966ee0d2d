"""The steps of a scheduled-sync run, one module each, in the order the worker (`inbound.worker`) runs them:
`webhook`, then per object `deletions` (reported, incremental runs), `pull` (changes since the checkpoint) and
`deletions` (reconcile: deletion by absence), then `selections` and `outbound`. Each step takes the run's `RunScope`."""
