"""CRM changes in to the app: the inbound kernel, the scheduled-sync dispatcher and worker (steps, run budget, run
recorder, selections), sync runs, and the webhook intake and processing."""
