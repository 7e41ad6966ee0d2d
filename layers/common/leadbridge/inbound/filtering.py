"""The inbound filter (`settings.inbound_filter`): which CRM records the app has not heard of yet are brought in.

Outbound selective-sync rules never filter what comes in; only this setting does, and only records the app does not
know (no record state, no link): a record already reported or linked keeps syncing when it stops matching. Children
follow their company's fate: while the filter has conditions on companies, a person, deal or activity whose company
is not in the app (held back by the filter, or never brought in) is held back too, with a reason naming the company,
and remembered under it (`store.held_children`); once the company is in the app (a CRM edit made it match, by run or
webhook), the sync worker's `held_children` step brings the children (or the child's own next change does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leadbridge.inbound.ports import InboundServices
from leadbridge.mapping.rules import admits
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.settings import InboundFilter
from leadbridge.store.held_children import HeldChild
from leadbridge.store.links import RecordLink
from leadbridge.store.records import RecordState, StateKey


def held_back(
    svc: InboundServices,
    tenant: str,
    crm: str,
    rules: InboundFilter,
    records: Sequence[CrmRecord],
    states: Mapping[StateKey, RecordState],
    links: Mapping[StateKey, RecordLink],
) -> dict[StateKey, str]:
    """The records of a batch the filter holds back, each with its reason. `states` and `links` are the batch's own."""
    if not rules.conditions:
        return {}
    held: dict[StateKey, str] = {}
    new: list[CrmRecord] = []
    for record in records:
        key = (record.object, record.id)
        state = states.get(key)
        if (state is not None and not state.deleted) or key in links:
            continue
        new.append(record)
        verdict = admits(rules, record.object, record.fields)
        if not verdict.sync:
            held[key] = "; ".join(verdict.reasons)
    if not any(c.object is CrmObject.COMPANY for c in rules.conditions):
        return held
    children = [r for r in new if r.object is not CrmObject.COMPANY and r.parent_id and (r.object, r.id) not in held]
    if not children:
        return held
    parent_ids = list(dict.fromkeys(r.parent_id for r in children if r.parent_id))
    parent_states = svc.states.get_many(tenant, crm, [(CrmObject.COMPANY, p) for p in parent_ids])
    known = {crm_id for (_, crm_id), state in parent_states.items() if not state.deleted}
    unknown = [p for p in parent_ids if p not in known]
    if unknown:
        known |= set(svc.links.by_crm_ids(tenant, crm, CrmObject.COMPANY, unknown))
    waiting: list[HeldChild] = []
    for record in children:
        if record.parent_id is not None and record.parent_id not in known:
            held[(record.object, record.id)] = (
                f"its company {record.parent_id} is not in the app (the inbound filter held it back or it was never "
                f"brought in); the {record.object.value} comes with its company"
            )
            waiting.append(HeldChild(tenant=tenant, crm=crm, parent_id=record.parent_id, object=record.object,
                                     crm_id=record.id))  # fmt: skip
    if waiting and svc.held is not None:
        svc.held.hold_many(waiting)
    return held
