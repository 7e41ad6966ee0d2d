"""SuperOffice CRM Online connector (registers itself with leadbridge.crm.base)."""
