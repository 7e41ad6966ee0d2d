"""The SuperOffice connector's selection reads (`SupportsSelections`): static selections, favourites, a company's
persons."""

from __future__ import annotations

from typing import Any

from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.core import SuperOfficeCore, int_id, rows_of, truthy_cell, unique_ids


class SelectionReads(SuperOfficeCore):
    def selection_person_ids(self, selection_id: str) -> list[str]:
        """Persons in a static selection (person-based selections list persons; company-based ones list companies
        whose persons are not included here)."""
        return unique_ids(row.get("personId") for row in self._selection_members(selection_id))

    def selection_company_ids(self, selection_id: str) -> list[str]:
        return unique_ids(row.get("contactId") for row in self._selection_members(selection_id))

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

    def _selection_members(self, selection_id: str) -> list[dict[str, Any]]:
        data = self.client.request(
            "selection.members",
            "GET",
            f"Selection/{int_id(selection_id)}/Members",
            params={"$select": "personId,contactId"},
        )
        return rows_of(data)
