"""Local stand-ins for the CRMs leadbridge talks to: real HTTP servers on loopback with an admin interface.

`common` is the server shell every CRM sandbox shares (hosts and their lifecycle, request dispatch, fault injection,
call counting, the admin API's common endpoints, OAuth plumbing, signing keys, registration with the local stack);
each CRM lives in its own package (`superoffice`, `salesforce`) and keeps only its API. See README.md.
"""
