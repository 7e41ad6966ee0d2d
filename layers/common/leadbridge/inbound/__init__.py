"""CRM changes in to the app.

- `kernel`: applying CRM records and deletions to the app (the one path of scheduled sync and webhooks); `ports`:
  what inbound sync needs from the outside (the kernel's and the worker's services).
- `dispatch`: the dispatcher that queues one sync job per due connection; `runs`: starting and reading sync runs.
- `worker`: one scheduled-sync run (`process_job`) and the order of its steps; `jobs`: the job, the worker's config
  (with the CRM request budget) and its result; `steps/`: one module per step (webhook, pull with checkpoints,
  deletions and reconcile, selections, outbound); `run_budget`: Lambda time left, CRM request budget, slowest page;
  `run_recorder`: saving the run, its errors and tallies, and how it ends; `run_scope`: what every step works with.
- `job_delivery`: one queue delivery of a sync job to the worker (reading it, retries, dead-letter bookkeeping).
- `webhook_intake`: verifying and queueing a CRM's webhook; `webhook_processing`: bringing a queued webhook's record
  in through the kernel.
"""
