"""Helpers and fixtures shared by test modules, so that no test module imports another.

- `waiting`: `wait_until` (a condition, with a generous timeout) and `wait_while_progressing` (long work, failing
  only when it stops making progress); never a sleep that hopes time has done the work.
- `local_stack`: `running_stack` starts a `LocalStack` and restores the environment after it; `stepped_stack` is the
  variant whose queue pump the test steps itself.
- `superoffice_connect`, `salesforce_connect`: a tenant connected through the local gateway and the CRM sandbox (the
  `env`/`sandbox` and `sfc`/`sf_sandbox` fixtures, registered for every test by tests/conftest.py).
- `superoffice_webhooks`: the SuperOffice webhook plumbing seen from the CRM user and the app (`Hooks`, `wh`).
- `superoffice_connector`, `salesforce_connector`: a connector against the CRM sandbox without the gateway (`SoEnv`,
  `SfEnv`), both with `grant_tokens.GrantTokens`, a token source over one grant.
- `salesforce_sandbox`: a client's view of the Salesforce sandbox for its own tests (`OrgEnv`, `Receiver`, `ACK`).
- `app_bus`: the app's side of the bus, an SQS queue behind a rule for every leadbridge event, and draining it.
- `queues`: `messages_in(stack, queue)`, what a queue still holds (waiting or in flight).
- `change_feed`: the feed's settle window turned off, for tests whose writers have finished before they read.
- `lead_documents`: lead and status-mapping documents as the app sends them.
- `crm_metadata`: CRM field lists and an in-memory metadata source.
"""
