"""`Connector` for one SuperOffice tenant (CRM Online, REST WebAPI v1), composed of one part per job: `metadata`
(objects, fields, stages, users), `records` (writes, a company's persons), `search` (company matching),
`incremental` (changes, deletions, ids), `selections` (selections and favourites), `webhook_admin`; what they share
(the client, field metadata and its cache, reading one record, archive queries) is `core`.

Objects: company = Contact, person = Person, deal = Sale, activity = Appointment (follow-ups and tasks).
Field names and encodings: see `fields.py`. Every HTTP call goes through `SuperOfficeClient` and is counted in
`connector.calls` by operation name (`contact.get`, `contact.create`, `archive.query`, `tenant.state`, ...).

Incremental reads use the OData archives ordered by primary key with keyset paging (`pk gt last`), which avoids the
O(N²) cost of deep `$skip`; the page token is the last primary key seen. `since` is inclusive (the filter starts one
second earlier: `afterTime` is strict). Each page's rows are then read in full with `GET /{Entity}/{id}`, so change
records carry the same fields as `get()` (custom fields included) at the cost of one call per changed record. The
REST API has no bulk entity read (the spec's only multi-record reads are the archives, whose columns differ from the
entity's), so those GETs run `read_concurrency` (default 4) at a time: a page takes ~1/4 of the round trips' time.
"""

from __future__ import annotations

from leadbridge.crm.superoffice.incremental import IncrementalReads
from leadbridge.crm.superoffice.mapping import BY_EVENT_ENTITY, EntitySpec
from leadbridge.crm.superoffice.metadata import MetadataReads
from leadbridge.crm.superoffice.records import RecordWrites
from leadbridge.crm.superoffice.search import CompanySearch
from leadbridge.crm.superoffice.selections import SelectionReads
from leadbridge.crm.superoffice.webhook_admin import WebhookAdmin


class SuperOfficeConnector(MetadataReads, RecordWrites, CompanySearch, IncrementalReads, SelectionReads, WebhookAdmin):
    """`Connector` (with `SupportsSelections` and `UsesMetadataCache`) for one SuperOffice tenant. Each job lives in its
    own module; their shared state and reads are `core.SuperOfficeCore`."""


def spec_for_event_entity(entity: str) -> EntitySpec | None:
    return BY_EVENT_ENTITY.get(entity.lower())
