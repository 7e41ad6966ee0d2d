"""The SuperOffice connector's selection reads (`SupportsSelections`): static selections (listed for the settings
picker, and their members), favourites, a company's persons, the persons of the connected user's appointments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge.crm.base import CrmSelection
from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.core import SuperOfficeCore, int_id, rows_of, truthy_cell, unique_ids
from leadbridge.models.crm import CrmObject

APPOINTMENT_WINDOW = timedelta(days=30)  # appointments from this far back on bring their persons in


class SelectionReads(SuperOfficeCore):
    def selection_person_ids(self, selection_id: str) -> list[str]:
        """Persons in a static selection (person-based selections list persons; company-based ones list companies
        whose persons are not included here: empty). A company selection's members have no `personId` column
        (SuperOffice: `Unknown column 'personId' in archive provider ContactStaticSelection`), so it is not asked."""
        if self._selection_target(selection_id) is not CrmObject.PERSON:
            return []
        return unique_ids(row.get("personId") for row in self._selection_members(selection_id, "personId"))

    def selection_company_ids(self, selection_id: str) -> list[str]:
        return unique_ids(row.get("contactId") for row in self._selection_members(selection_id, "contactId"))

    def favourite_company_ids(self) -> list[str]:
        rows = self._archive_rows("Archive/contactfavourites", "archive.contactfavourites", select=["contactId"])
        return unique_ids(row.get("contactId") for row in rows)

    def favourite_person_ids(self) -> list[str]:
        rows = self._archive_rows("Archive/personfavourites", "archive.personfavourites", select=["personId"])
        return unique_ids(row.get("personId") for row in rows)

    def company_person_ids(self, company_id: str, *, include_retired: bool = False) -> list[str]:
        """Persons of one company; former employees (`Retired`) are left out unless asked for."""
        rows = self._archive_rows(
            "Person",
            "person.list",
            select=["personId", "retired"],
            filter=odata.eq("contactId", int_id(company_id)),
            order_by="personId",
            top=self.page_size,
        )
        return unique_ids(row.get("personId") for row in rows if include_retired or not truthy_cell(row.get("retired")))

    def favourite_company_person_ids(self) -> list[str]:
        """Current (not retired) persons at the signed-in user's favourite companies."""
        ids: list[str] = []
        for company_id in self.favourite_company_ids():
            ids += self.company_person_ids(company_id)
        return list(dict.fromkeys(ids))

    def selections(self) -> list[CrmSelection]:
        """Static selections, from the `Selection` archive (FindSelection): id, name, target table, member count."""
        rows = self._archive_rows(
            "Selection",
            "selection.list",
            select=["selectionId", "name", "targetTableName", "selectionType", "memberCount"],
            order_by="name",
            top=self.page_size,
        )
        found: list[CrmSelection] = []
        for row in rows:
            if str(row.get("selectionType") or "static").lower() != "static" or not row.get("selectionId"):
                continue  # only static selections can be synced (seed 003)
            target = CrmObject.PERSON if str(row.get("targetTableName")).lower() == "person" else CrmObject.COMPANY
            count = str(row.get("memberCount", "")).strip()
            found.append(
                CrmSelection(
                    id=str(row["selectionId"]),
                    name=str(row.get("name") or ""),
                    target=target,
                    member_count=int(count) if count.isdigit() else None,
                )
            )
        return found

    def appointment_person_ids(self) -> list[str]:
        """Persons linked to the connected user's appointments dated from `APPOINTMENT_WINDOW` ago on."""
        since = datetime.now(UTC) - APPOINTMENT_WINDOW
        rows = self._archive_rows(
            "Appointment",
            "appointment.persons",
            select=["appointmentId", "personId"],
            filter=odata.all_of("associateId currentAssociate", odata.after_time("date", since)),
            order_by="appointmentId",
            top=self.page_size,
        )
        return unique_ids(row.get("personId") for row in rows)

    def _selection_target(self, selection_id: str) -> CrmObject:
        """What a selection lists (the `Selection` archive's `targetTableName`); a selection it does not list is
        read as a company selection, whose members the CRM then answers for (or refuses)."""
        rows = self._archive_rows(
            "Selection",
            "selection.target",
            select=["selectionId", "targetTableName"],
            filter=odata.eq("selectionId", int_id(selection_id)),
            top=1,
        )
        person = bool(rows) and str(rows[0].get("targetTableName")).lower() == "person"
        return CrmObject.PERSON if person else CrmObject.COMPANY

    def _selection_members(self, selection_id: str, column: str) -> list[dict[str, Any]]:
        data = self.client.request(
            "selection.members",
            "GET",
            f"Selection/{int_id(selection_id)}/Members",
            params={"$select": column},
        )
        return rows_of(data)
