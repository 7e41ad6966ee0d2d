"""Optional connector capabilities: read many records of one object in one request (HubSpot `batch/read`), and the
persons of many companies in one request (`SupportsPersonsOfMany`).

The webhook processor reads each record an SQS batch's events name once (a HubSpot creation brings a `creation`
event and a `propertyChange` per value set, all about one record). Where the connector has `get_many`, the records
of one object are read together, in as few requests as the CRM allows; a connector without it is asked with
`Connector.get`, once per distinct record.

The exact signature, for connectors that implement it (HubSpot: `POST /crm/v3/objects/{object}/batch/read`, ≤ 100
ids per call, through the connector's `_read_many`):

    def get_many(self, obj: CrmObject, record_ids: Sequence[str]) -> dict[str, CrmRecord]

- returns the records that exist, keyed by `CrmRecord.id`, each as `Connector.get` would return it (the same
  fields, links and `modified_by_us`); an id that is missing, archived or deleted is simply absent (never raises
  `CrmNotFound`: the caller treats an absent id as gone);
- takes any number of ids (duplicates allowed) and splits them into the CRM's batches itself;
- raises the other CRM errors as `Connector.get` does (`RateLimited`, `CrmUnavailable`, `NeedsReauth`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from leadbridge.models.crm import CrmObject, CrmRecord


@runtime_checkable
class SupportsReadMany(Protocol):
    def get_many(self, obj: CrmObject, record_ids: Sequence[str]) -> dict[str, CrmRecord]:
        """The existing records of `record_ids` by id (absent: not found); raises what `Connector.get` raises,
        except `CrmNotFound`."""
        ...


@runtime_checkable
class SupportsPersonsOfMany(Protocol):
    """A bulk export's window of linked leads with new contacts matches each among its company's CRM persons: one
    request for all of the window's companies (Salesforce: one SOQL query) instead of one `list_persons` each."""

    def list_persons_many(self, company_ids: Sequence[str]) -> dict[str, list[CrmRecord]]:
        """Each company's persons, as `Connector.list_persons` answers them, by company id (every id is a key);
        raises what `list_persons` raises."""
        ...
