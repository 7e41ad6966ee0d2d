"""Integration settings: read with defaults, validate against the CRM's metadata, save with optimistic concurrency,
version, preview an export, and compute the schedule's next run."""
