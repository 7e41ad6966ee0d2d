"""Leads out to the CRM (seed 002): the export contracts, company matching, persons, custom fields, the sync-log
entries of an export and the sync-status read model."""
