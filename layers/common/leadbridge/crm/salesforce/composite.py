"""One `POST /composite` request with `allOrNone: true` that writes related records together (reference §5.2):
Salesforce runs the subrequests in one transaction, later ones reference earlier ids with `@{ref.id}`, and any
failure rolls every one of them back. At most 25 subrequests; the request counts as one API call.

For many leads at once (a bulk export), `POST /composite/graph` (§5.3) carries one graph per lead: each graph is its
own all-or-none transaction, up to 75 graphs and 500 nodes a request. A graph's nodes create records (`POST
/sobjects/{SObject}`) and change existing ones (`PATCH /sobjects/{SObject}/{id}`).

This module builds the request and reads the answer; `SalesforceConnector.create_together` checks the records against
the describe first and calls it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadbridge.crm.salesforce.client import translate
from leadbridge.errors import CrmError, CrmRejected, CrmUnavailable

MAX_SUBREQUESTS = 25
MAX_GRAPHS = 75  # Composite Graph: graphs per request
MAX_GRAPH_NODES = 500  # nodes per graph and per request
# What Salesforce answers for the subrequests it did not run or rolled back: not the cause of the failure.
_CONSEQUENCES = {"PROCESSING_HALTED", "ALL_OR_NONE_OPERATION_ROLLED_BACK"}
_REF = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # Salesforce: a referenceId starts with a letter, then letters,
# digits and underscores


@dataclass(frozen=True)
class Subrequest:
    """One record to create, or to change when `record_id` is set: `body` may hold `@{other_ref.id}` references to
    records created before it."""

    ref: str
    sobject: str
    body: Mapping[str, Any]
    label: str
    record_id: str | None = None

    @property
    def method(self) -> str:
        return "POST" if self.record_id is None else "PATCH"

    def path(self, api_version: str) -> str:
        tail = "" if self.record_id is None else f"/{self.record_id}"
        return f"/services/data/{api_version}/sobjects/{self.sobject}{tail}"


def reference(ref: str) -> str:
    """The value that stands for `ref`'s new id in a later subrequest."""
    return "@{" + ref + ".id}"


def composite_body(api_version: str, parts: Sequence[Subrequest]) -> dict[str, Any]:
    if not 0 < len(parts) <= MAX_SUBREQUESTS:
        raise ValueError(f"a composite request holds 1 to {MAX_SUBREQUESTS} subrequests, not {len(parts)}")
    return {"allOrNone": True, "compositeRequest": _subrequests(api_version, parts)}


def graph_requests(graphs: Sequence[Sequence[Subrequest]]) -> list[list[int]]:
    """The graphs (by index) of each Composite Graph request: ≤ 75 graphs and ≤ 500 nodes a request (§5.3)."""
    requests: list[list[int]] = []
    nodes = 0
    for index, parts in enumerate(graphs):
        if not 0 < len(parts) <= MAX_GRAPH_NODES:
            raise ValueError(f"a graph holds 1 to {MAX_GRAPH_NODES} nodes, not {len(parts)}")
        if not requests or len(requests[-1]) >= MAX_GRAPHS or nodes + len(parts) > MAX_GRAPH_NODES:
            requests.append([])
            nodes = 0
        requests[-1].append(index)
        nodes += len(parts)
    return requests


def graph_body(api_version: str, graphs: Mapping[int, Sequence[Subrequest]]) -> dict[str, Any]:
    """One `POST /composite/graph`: each graph (a lead's records) is its own all-or-none transaction."""
    return {"graphs": [{"graphId": f"g{index}", "compositeRequest": _subrequests(api_version, parts)}
                       for index, parts in graphs.items()]}  # fmt: skip


def graph_results(answer: Any, graphs: Mapping[int, Sequence[Subrequest]]) -> dict[int, dict[str, str] | CrmError]:
    """Each graph's record ids by ref, or the error that rolled that graph back."""
    items = answer.get("graphs") if isinstance(answer, Mapping) else None
    if not isinstance(items, list):
        raise CrmUnavailable("Salesforce composite graph answer has no graphs")
    by_id = {str(g.get("graphId")): g for g in items if isinstance(g, Mapping)}
    results: dict[int, dict[str, str] | CrmError] = {}
    for index, parts in graphs.items():
        graph = by_id.get(f"g{index}")
        if graph is None:
            raise CrmUnavailable(f"Salesforce composite graph answer lacks graph g{index}")
        try:
            results[index] = written_ids(graph.get("graphResponse"), parts)
        except CrmError as exc:
            results[index] = exc
    return results


def _subrequests(api_version: str, parts: Sequence[Subrequest]) -> list[dict[str, Any]]:
    for part in parts:
        if not _REF.fullmatch(part.ref):
            raise ValueError(f"not a Salesforce referenceId: {part.ref!r}")
    return [{"method": p.method, "url": p.path(api_version), "referenceId": p.ref, "body": dict(p.body)}
            for p in parts]  # fmt: skip


def written_ids(answer: Any, parts: Sequence[Subrequest]) -> dict[str, str]:
    """The id of each subrequest's record by ref (a change answers 204 without a body), or the error of the subrequest
    that made the transaction fail (with `details.record` = its ref and `details.rolled_back` = True: nothing of the
    request is left in Salesforce)."""
    items = answer.get("compositeResponse") if isinstance(answer, Mapping) else None
    if not isinstance(items, list):
        raise CrmUnavailable("Salesforce composite answer has no compositeResponse")
    by_ref = {str(i.get("referenceId")): i for i in items if isinstance(i, Mapping)}
    ids: dict[str, str] = {}
    failures: list[tuple[Subrequest, int, Any]] = []
    for part in parts:
        item = by_ref.get(part.ref)
        if item is None:
            raise CrmUnavailable(f"Salesforce composite answer lacks subrequest {part.ref!r}")
        status, body = int(item.get("httpStatusCode") or 0), item.get("body")
        if 200 <= status < 300 and part.record_id is not None:
            ids[part.ref] = part.record_id
        elif 200 <= status < 300 and isinstance(body, Mapping) and body.get("id"):
            ids[part.ref] = str(body["id"])
        else:
            failures.append((part, status, body))
    if not failures:
        return ids
    cause = next((f for f in failures if not _only_consequences(f[2])), failures[0])
    raise refused(cause[0], cause[1], cause[2])


def refused(part: Subrequest, status: int, body: Any) -> CrmError:
    """The subrequest's error, naming the record it was about; nothing of the request was kept."""
    verb = "create" if part.record_id is None else "update"
    error = translate(f"{part.sobject.lower()}.{verb}", status or 400, body)
    error.message = f"{part.label}: {error.message} (nothing was written: the records are written all or none)"
    error.args = (error.message,)
    if isinstance(error, CrmRejected):
        error.reason = error.message
    error.details.update({"record": part.ref, "object": part.sobject, "rolled_back": True})
    return error


def _only_consequences(body: Any) -> bool:
    items = body if isinstance(body, list) else [body]
    codes = {str(i.get("errorCode") or i.get("statusCode") or "") for i in items if isinstance(i, Mapping)}
    return bool(codes) and codes <= _CONSEQUENCES
