"""`Connector` for one SuperOffice tenant (CRM Online, REST WebAPI v1), composed of one part per job: `metadata`
(objects, fields, stages, users), `records` (writes, a company's persons), `search` (company matching),
`incremental` (changes, deletions, ids), `selections` (selections and favourites), `webhook_admin`; what they share
(the client, field metadata and its cache, reading one record, archive queries) is `core`.

Objects: company = Contact, person = Person, deal = Sale, activity = Appointment (follow-ups and tasks).
Field names and encodings: see `fields.py`. Every HTTP call goes through `SuperOfficeClient` and is counted in
`connector.calls` by operation name (`contact.get`, `contact.create`, `archive.query`, `tenant.state`, ...).

Incremental reads use the OData archives ordered by primary key with keyset paging (`pk gt last`), which avoids the
O(N²) cost of deep `$skip`; the page token is the last primary key seen. `since` is inclusive (the filter starts one
second earlier: `afterTime` is strict). Companies, persons and sales are built from that page's rows: the query
selects every column a record needs, custom fields by ProgId included (`archive_records`), so a page of 1,000 costs
one request. Activities, whose archive lacks their title and times, are read with `GET /Appointment/{id}` per record,
`read_concurrency` (default 4) at a time. What no archive column returns is listed in docs/crm/superoffice.md.
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
