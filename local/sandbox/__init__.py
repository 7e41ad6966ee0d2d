"""Local stand-ins for the CRMs leadbridge talks to: real HTTP servers on loopback with an admin interface.

`common` holds the pieces every CRM sandbox shares (server plumbing, fault injection, call counting, signing keys);
each CRM lives in its own package (`superoffice`, later `salesforce`, `hubspot`).
"""
