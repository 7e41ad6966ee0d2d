"""The SuperOffice connector's metadata reads: objects, fields (standard and custom), sale stages and statuses,
users."""

from __future__ import annotations

from leadbridge.crm.superoffice.archive_records import ARCHIVES
from leadbridge.crm.superoffice.core import SuperOfficeCore
from leadbridge.crm.superoffice.fields import (
    SALE_STATUSES,
    STANDARD_FIELDS,
    STATUS_KINDS,
)
from leadbridge.crm.superoffice.mapping import (
    ENTITIES,
)
from leadbridge.crm.superoffice.search import _STANDARD_COLUMNS as COMPANY_SEARCH_COLUMNS
from leadbridge.models.crm import (
    CrmObject,
    CrmObjectInfo,
    CrmUser,
    FieldInfo,
    PicklistValue,
    Stage,
    StageKind,
)

OBJECT_LABELS = {
    CrmObject.COMPANY: "Company",
    CrmObject.PERSON: "Contact person",
    CrmObject.DEAL: "Sale",
    CrmObject.ACTIVITY: "Follow-up",
}


def filterable_standard_fields(obj: CrmObject) -> frozenset[str]:
    """The standard fields a search can filter by (`FieldInfo.filterable`, what the settings' `matching` may name):
    for companies the ones the company search has an archive column for (`search.py`), for persons and sales those
    with a column in their archive provider, for follow-ups none (they are read one GET at a time)."""
    if obj is CrmObject.COMPANY:
        return frozenset(COMPANY_SEARCH_COLUMNS)
    spec = ARCHIVES.get(obj)
    return frozenset(spec.columns) if spec else frozenset()


class MetadataReads(SuperOfficeCore):
    def objects(self) -> list[CrmObjectInfo]:
        return [CrmObjectInfo(object=o, crm_name=ENTITIES[o].entity, label=OBJECT_LABELS[o]) for o in ENTITIES]

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        lengths = self._field_lengths(obj)
        filterable = filterable_standard_fields(obj)
        infos = [
            FieldInfo(
                name=f.name,
                label=f.label,
                type=f.type,
                length=lengths.get(f.name, f.length),
                required=f.required,
                updateable=f.updateable,
                picklist=[PicklistValue(value=v, label=v) for v in f.picklist],
                restricted_picklist=bool(f.picklist),
                filterable=f.name in filterable,
            )
            for f in STANDARD_FIELDS[obj].values()
        ]
        infos += [
            FieldInfo(
                name=m.key,
                label=m.label,
                type=m.type,
                length=m.length,
                required=m.mandatory,
                updateable=not m.read_only,
                custom=True,
                # Extra fields (`x_...`) are no archive columns a search can filter by; udefs are (`contactUdef/...`).
                filterable=not m.key.startswith("x_"),
            )
            for m in self.custom_fields(obj).values()
        ]
        return infos

    def refresh_metadata(self, obj: CrmObject) -> None:
        """Forget the object's custom fields (here and in the shared cache): the next `fields` reads them from
        SuperOffice (`metadata_cache.current_fields`: a field published a moment ago). Column lengths of standard
        fields stay cached: publishing a field does not change them."""
        self._custom.pop(obj, None)
        if self.metadata_cache is not None:
            self.metadata_cache.invalidate((*self._metadata_key(obj), "custom_fields"))

    def stages(self) -> list[Stage]:
        """Sale stages (with their default probability) and statuses. Shared through the metadata cache when the
        connector has one (exports and lead events: a stage change reads the new stage's probability), so a lead
        event costs no extra round trip; the settings screen reads them live."""
        return self._shared_metadata("stages", CrmObject.DEAL, self._read_stages)

    def _read_stages(self) -> list[Stage]:
        items = self.client.request("list.salestage", "GET", "List/Rating/Items") or []
        stages = [
            Stage(
                id=str(item["SaleStageId"]),
                name=str(item.get("Value") or ""),
                kind=StageKind.OPEN,
                probability=item.get("Probability"),
                rank=int(item.get("Rank") or 0),
                group="stage",
            )
            for item in items
            if not item.get("Deleted") and item.get("SaleStageId") is not None
        ]
        stages += [
            Stage(id=status, name=status, kind=STATUS_KINDS[status], rank=rank, group="status")
            for rank, status in enumerate(SALE_STATUSES, start=1)
        ]
        return stages

    def users(self) -> list[CrmUser]:
        """Associates from the `associate` MDO list. Where the e-mail sits in an item (ExtraInfo/ToolTip) is not
        documented: take whichever looks like an address."""
        items = self.client.request("list.associate", "GET", "MDOList/associate", params={"flat": "true"}) or []
        users = []
        for item in items:
            user_id = item.get("Id")
            if user_id in (None, 0):
                continue
            email = next((str(v) for v in (item.get("ExtraInfo"), item.get("ToolTip")) if v and "@" in str(v)), None)
            users.append(
                CrmUser(
                    id=str(user_id),
                    name=str(item.get("FullName") or item.get("Name") or user_id),
                    email=email,
                    active=not item.get("Deleted"),
                )
            )
        return users
