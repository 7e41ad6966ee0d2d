"""Composite Graph (`POST /services/data/vNN.N/composite/graph`, reference §5.3): what a request must satisfy before
any of its graphs runs. Breaking a rule is HTTP 400 for the whole request and nothing is written.

- ≤ 75 graphs; ≤ 500 nodes in one graph and in the whole payload; each graph has a `graphId`, unique in the request
  and starting with a letter or digit, and at least one node.
- A node is a composite subrequest whose URL is one of `/services/data/vNN.N/sobjects/{SObject}` (POST),
  `.../sobjects/{SObject}/{id}` (GET, PATCH, DELETE) or `.../sobjects/{SObject}/{ExtIdField}/{value}` (GET, PATCH,
  POST, DELETE); its `referenceId` is unique in its graph.
- `@{ref.field}` names an earlier node of the same graph (not another graph's, not a later one).
- Depth ≤ 15: the longest chain of nodes each referring to the one before (a node that refers to none has depth 1).
- ≤ 15 different nodes in the payload, where nodes differ by API version, HTTP method or sObject (the REST guide's
  "Composite Graph Limits"; e.g. POST Account and PATCH Account are two).

Running the graphs (app.py) is the composite all-or-none path once per graph; after more than `MAX_FAILED_GRAPHS`
failed graphs the rest are not run and answer PROCESSING_HALTED.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local.sandbox.salesforce.model import ApiError

MAX_GRAPHS = 75
MAX_NODES = 500  # in one graph, and in the whole payload
MAX_DEPTH = 15
MAX_NODE_TYPES = 15
MAX_FAILED_GRAPHS = 14  # more failed graphs than this halt the rest

REFERENCE = re.compile(r"@\{([^}.]+)")  # the referenceId an `@{ref.field}` names
_NODE_PATH = re.compile(r"^/services/data/(v\d{1,3}\.\d)/sobjects/([^/]+)((?:/[^/]+){0,2})/?$")
_ID_OR_REFERENCE = re.compile(r"^(?:[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?|@\{[^}]+\})$")
# allowed methods by the number of path segments after the sObject name
_METHODS = {0: {"POST"}, 1: {"GET", "PATCH", "DELETE"}, 2: {"GET", "PATCH", "POST", "DELETE"}}
_RESERVED_HEADERS = {"accept", "authorization", "content-type"}


class Node(BaseModel):
    """One composite subrequest of a graph."""

    model_config = ConfigDict(populate_by_name=True)

    method: str
    url: str
    reference_id: str = Field(alias="referenceId", min_length=1)
    body: Any = None
    http_headers: dict[str, str] | None = Field(default=None, alias="httpHeaders")

    def subrequest(self) -> dict[str, Any]:
        """The node as the composite runner takes it."""
        return self.model_dump(by_alias=True, exclude_none=True)


class Graph(BaseModel):
    graph_id: str = Field(alias="graphId", pattern=r"^[A-Za-z0-9]")
    composite_request: list[Node] = Field(alias="compositeRequest", min_length=1)


class GraphRequest(BaseModel):
    graphs: list[Graph] = Field(min_length=1)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message)


def check_headers(subrequest: dict[str, Any]) -> None:
    """Subrequests (composite and graph nodes alike) may not set the headers of the outer request."""
    if {k.lower() for k in (subrequest.get("httpHeaders") or {})} & _RESERVED_HEADERS:
        raise invalid("Subrequests cannot set Accept, Authorization or Content-Type")


def read_request(body: Any) -> list[Graph]:
    """The graphs of a request body, or the 400 ApiError its first broken rule answers."""
    try:
        request = GraphRequest.model_validate(body)
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise invalid(f"Invalid composite graph request at {where or 'body'}: {problem['msg']}") from None
    graphs = request.graphs
    if len(graphs) > MAX_GRAPHS:
        raise invalid(f"Exceeded max limit of graphs: {MAX_GRAPHS}")
    if sum(len(g.composite_request) for g in graphs) > MAX_NODES:
        raise invalid(f"Exceeded max limit of nodes in the payload: {MAX_NODES}")
    seen: set[str] = set()
    for graph in graphs:
        if graph.graph_id in seen:
            raise invalid(f"Duplicate graphId: {graph.graph_id}")
        seen.add(graph.graph_id)
    every_ref = {node.reference_id for graph in graphs for node in graph.composite_request}
    node_types: set[tuple[str, str, str]] = set()
    for graph in graphs:
        node_types |= _check_graph(graph, every_ref)
    if len(node_types) > MAX_NODE_TYPES:
        raise invalid(f"Exceeded max limit of different nodes in the payload: {MAX_NODE_TYPES}")
    return graphs


def _check_graph(graph: Graph, every_ref: set[str]) -> set[tuple[str, str, str]]:
    """Check one graph's nodes (`every_ref`: the referenceIds of all graphs); their node types."""
    nodes = graph.composite_request  # (at most MAX_NODES: the payload's limit holds them all)
    own_refs = {node.reference_id for node in nodes}
    depth: dict[str, int] = {}
    node_types: set[tuple[str, str, str]] = set()
    for node in nodes:
        ref = node.reference_id
        if ref in depth:
            raise invalid(f"Graph {graph.graph_id}: duplicate referenceId {ref}")
        check_headers(node.subrequest())
        node_types.add(_node_type(node))
        names = set(REFERENCE.findall(json.dumps([node.url, node.body])))
        unknown = sorted(names - depth.keys())
        if unknown:
            name = unknown[0]
            if name in every_ref and name not in own_refs:
                raise invalid(f"Graph {graph.graph_id}: node {ref} refers to {name} of another graph; "
                              "a reference must name a node of the same graph")
            raise invalid(f"Graph {graph.graph_id}: node {ref} refers to {name}, which is not an earlier node "
                          "of the graph")
        depth[ref] = 1 + max((depth[n] for n in names), default=0)
        if depth[ref] > MAX_DEPTH:
            raise invalid(f"Graph {graph.graph_id}: exceeded max depth of a graph: {MAX_DEPTH}")
    return node_types


def _node_type(node: Node) -> tuple[str, str, str]:
    """(API version, method, sObject) of a node whose URL and method a graph allows; else INVALID_INPUT."""
    method = node.method.upper()
    m = _NODE_PATH.match(urlsplit(node.url).path)
    rest = [p for p in m.group(3).split("/") if p] if m else []
    allowed = m is not None and method in _METHODS[len(rest)] and (
        len(rest) != 1 or _ID_OR_REFERENCE.match(rest[0]) is not None)
    if m is None or not allowed:
        raise invalid(f"Composite graph does not support {method} {node.url} (node {node.reference_id}); "
                      "a node is POST sobjects/{SObject}, GET|PATCH|DELETE sobjects/{SObject}/{id} or "
                      "GET|PATCH|POST|DELETE sobjects/{SObject}/{ExtIdField}/{value}")
    return m.group(1), method, m.group(2).lower()
