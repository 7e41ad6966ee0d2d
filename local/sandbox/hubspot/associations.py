"""Associations v4 (reference §5) over one portal: edges between records with `HUBSPOT_DEFINED` type ids, stored in
both directions (a contact→company edge of type 1 is also the company→contact edge of type 2).

The type ids are the defaults of §5, copied per portal so a test can give a portal other ids (the reference says to
confirm them per portal through the labels endpoint). Task types are not in the reference: the values below are the
commonly used ones, a sandbox choice.

Every answer is built through the response models of model.py (`DefaultAssociation`, `LabelledAssociation`,
`AssociationList`, `AssociationLabels`, the batch envelopes), so a shape the sandbox gets wrong fails loudly."""

from __future__ import annotations

from typing import Any

from local.sandbox.hubspot.model import (
    AssociatedObject,
    AssociationLabels,
    AssociationList,
    AssociationReadResult,
    AssociationSpec,
    AssociationTypeOut,
    BatchResponse,
    DefaultAssociation,
    LabelledAssociation,
    ObjectRef,
    Portal,
    not_found,
    typed_batch_body,
    validation_error,
)
from local.sandbox.hubspot.properties import OBJECT_TYPE_IDS

# (from, to) -> [(typeId, label)]; the first is the default ("primary" where the reference says so)
DEFAULT_TYPES: dict[tuple[str, str], list[tuple[int, str | None]]] = {
    ("contacts", "companies"): [(1, "Primary"), (279, None)],
    ("companies", "contacts"): [(2, "Primary"), (280, None)],
    ("deals", "contacts"): [(3, None)],
    ("contacts", "deals"): [(4, None)],
    ("deals", "companies"): [(5, "Primary"), (341, None)],
    ("companies", "deals"): [(6, "Primary"), (342, None)],
    ("tasks", "contacts"): [(204, None)], ("contacts", "tasks"): [(203, None)],
    ("tasks", "companies"): [(192, None)], ("companies", "tasks"): [(191, None)],
    ("tasks", "deals"): [(216, None)], ("deals", "tasks"): [(215, None)],
}
Edge = tuple[str, str, str, str]  # from object, from id, to object, to id


def default_types() -> dict[tuple[str, str], list[tuple[int, str | None]]]:
    return {k: list(v) for k, v in DEFAULT_TYPES.items()}


def _types(portal: Portal, from_obj: str, to_obj: str) -> list[tuple[int, str | None]]:
    types = portal.association_types.get((from_obj, to_obj))
    if not types:
        raise validation_error(f"No association types between {from_obj} and {to_obj}")
    return types


def _reverse_type(portal: Portal, from_obj: str, to_obj: str, type_id: int) -> int:
    """The id of the same association seen from the other side (same position in the reverse list)."""
    forward = [t for t, _ in _types(portal, from_obj, to_obj)]
    backward = [t for t, _ in _types(portal, to_obj, from_obj)]
    if type_id not in forward:
        raise validation_error(f"associationTypeId {type_id} is not valid from {from_obj} to {to_obj}")
    index = forward.index(type_id)
    return backward[min(index, len(backward) - 1)]


def check_live(portal: Portal, obj: str, record_id: str, *, status: int = 404) -> None:
    """404 (or a 400 VALIDATION_ERROR inside a create body) unless the record exists and is not archived."""
    record = portal.records[obj].get(record_id)
    if record is None or record.archived_at is not None:
        if status == 400:
            raise validation_error(f"No {obj} with ID {record_id} exists")
        raise not_found(f"{obj} {record_id} not found")


def target_object(portal: Portal, from_obj: str, type_id: int) -> str:
    """The object a create body's association (`to.id` plus a type id) points at."""
    for (source, target), types in portal.association_types.items():
        if source == from_obj and type_id in [t for t, _ in types]:
            return target
    raise validation_error(f"associationTypeId {type_id} is not valid from {from_obj}")


def associate(portal: Portal, from_obj: str, from_id: str, to_obj: str, to_id: str,
              type_ids: list[int] | None = None) -> list[DefaultAssociation]:
    """Add edges (the default type when `type_ids` is None) in both directions; the specs written, both sides."""
    check_live(portal, from_obj, from_id)
    check_live(portal, to_obj, to_id)
    chosen = type_ids if type_ids is not None else [_types(portal, from_obj, to_obj)[0][0]]
    written: list[DefaultAssociation] = []
    for type_id in chosen:
        back = _reverse_type(portal, from_obj, to_obj, type_id)
        portal.associations.setdefault((from_obj, from_id, to_obj, to_id), set()).add(type_id)
        portal.associations.setdefault((to_obj, to_id, from_obj, from_id), set()).add(back)
        written += [DefaultAssociation(from_=ObjectRef(id=source), to=ObjectRef(id=target),
                                       associationSpec=AssociationSpec(associationCategory="HUBSPOT_DEFINED",
                                                                       associationTypeId=spec))
                    for source, target, spec in ((from_id, to_id, type_id), (to_id, from_id, back))]
    return written


def remove(portal: Portal, from_obj: str, from_id: str, to_obj: str, to_id: str) -> None:
    portal.associations.pop((from_obj, from_id, to_obj, to_id), None)
    portal.associations.pop((to_obj, to_id, from_obj, from_id), None)


def _type_out(type_id: int, label: str | None) -> AssociationTypeOut:
    return AssociationTypeOut(category="HUBSPOT_DEFINED", typeId=type_id, label=label)


def labels(portal: Portal, from_obj: str, to_obj: str) -> list[AssociationTypeOut]:
    return [_type_out(t, label) for t, label in _types(portal, from_obj, to_obj)]


def read(portal: Portal, from_obj: str, from_id: str, to_obj: str) -> list[AssociatedObject]:
    """`[{toObjectId, associationTypes: [{category, typeId, label}]}]` to live records, in id order."""
    check_live(portal, from_obj, from_id)
    names = dict(_types(portal, from_obj, to_obj))
    found = []
    for (source, source_id, target, target_id), type_ids in portal.associations.items():
        if (source, source_id, target) != (from_obj, from_id, to_obj):
            continue
        record = portal.records[target].get(target_id)
        if record is None or record.archived_at is not None:
            continue
        found.append(AssociatedObject(toObjectId=int(target_id),
                                      associationTypes=[_type_out(t, names.get(t)) for t in sorted(type_ids)]))
    return sorted(found, key=lambda item: item.toObjectId)


def labelled(from_obj: str, from_id: str, to_obj: str, to_id: str, portal: Portal) -> LabelledAssociation:
    """The pair's current labels (a labelled PUT's answer, a batch create's item)."""
    names = dict(_types(portal, from_obj, to_obj))
    type_ids = sorted(portal.associations.get((from_obj, from_id, to_obj, to_id), set()))
    return LabelledAssociation(fromObjectTypeId=OBJECT_TYPE_IDS[from_obj], fromObjectId=int(from_id),
                               toObjectTypeId=OBJECT_TYPE_IDS[to_obj], toObjectId=int(to_id),
                               labels=[label for t in type_ids if (label := names.get(t))])


def read_result(portal: Portal, from_obj: str, from_id: str, to_obj: str) -> AssociationReadResult:
    """A batch read's item for one from id."""
    return AssociationReadResult(from_=ObjectRef(id=from_id), to=read(portal, from_obj, from_id, to_obj))


# --- answers: each built through its response model -----------------------------------------------------------------

def list_body(found: list[AssociatedObject]) -> dict[str, Any]:
    return AssociationList(results=found).model_dump()


def labels_body(types: list[AssociationTypeOut]) -> dict[str, Any]:
    return AssociationLabels(results=types).model_dump()


def default_batch_body(results: list[DefaultAssociation], errors: list[dict[str, Any]], started: float,
                       finished: float) -> dict[str, Any]:
    """The default PUT and `batch/associate/default`: both directions of each pair written."""
    return typed_batch_body(BatchResponse[DefaultAssociation], results, errors, started, finished)


def labelled_batch_body(results: list[LabelledAssociation], errors: list[dict[str, Any]], started: float,
                        finished: float) -> dict[str, Any]:
    """`batch/create`."""
    return typed_batch_body(BatchResponse[LabelledAssociation], results, errors, started, finished)


def read_batch_body(results: list[AssociationReadResult], errors: list[dict[str, Any]], started: float,
                    finished: float) -> dict[str, Any]:
    """`batch/read`."""
    return typed_batch_body(BatchResponse[AssociationReadResult], results, errors, started, finished)
