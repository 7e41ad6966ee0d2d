"""The composition root, by area: cached factories that build the real adapters and each area's services.

`leadbridge.runtime` is the one name handlers and tests use (`runtime.export_services()`, `runtime.reset()`); it
re-exports the factories of these modules:

| module | builds |
|---|---|
| `cache` | `cached` (one instance per Lambda container) and `forget_all` (what `runtime.reset()` does) |
| `stores` | the DynamoDB table and every store on it, the queues, the bus publisher, the webhook secret cache |
| `connect` | the token vault (with the needs-reauth hook) and the connection flows' services |
| `settings` | the settings services (store, live CRM metadata, schedule) |
| `export` | the export services, per container and per call, and the CRM field metadata cache |
| `idempotency` | `export_lead` behind Powertools idempotency (the Idempotency-Key of POST /leads/{id}/export) |
| `lifecycle` | lead lifecycle event and activity services |
| `inbound` | the inbound kernel's services, webhook processing, the sync worker (config and services) and sync runs |

Adapter and domain modules are imported inside the factories, so a function loads only what it uses. Domain code
never imports this package: it receives what the factories return as arguments.
"""
