"""`leadbridge.crm.defaults.default_settings` asks a provider for the defaults that fit a choice of CRM objects, and
still works with a provider written before that choice existed (its one set of defaults fits every save)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadbridge.crm.base import register, unregister
from leadbridge.crm.defaults import default_settings
from leadbridge.crm.profile import generic_settings
from leadbridge.models.settings import SettingsDocument


class OldProvider:
    """Only what `default_settings` reads: a provider whose method takes no choice of objects."""

    name = "oldcrm"

    def default_settings(self) -> SettingsDocument:
        return generic_settings("oldcrm")


class ChoosingProvider:
    name = "choosingcrm"
    asked: list[Any] = []

    def default_settings(self, objects: Any = None) -> SettingsDocument:
        self.asked.append(objects)
        return generic_settings("choosingcrm")


@pytest.fixture
def providers() -> Iterator[None]:
    register("oldcrm", OldProvider)  # type: ignore[arg-type]
    register("choosingcrm", ChoosingProvider)  # type: ignore[arg-type]
    yield
    unregister("oldcrm")
    unregister("choosingcrm")


def test_a_provider_without_the_objects_parameter_gets_asked_without_it(providers: None) -> None:
    assert default_settings("oldcrm").crm == "oldcrm"
    assert default_settings("oldcrm", {"company": "Lead"}).crm == "oldcrm"  # a switch of objects: no TypeError


def test_a_provider_with_it_gets_the_choice(providers: None) -> None:
    ChoosingProvider.asked.clear()
    default_settings("choosingcrm")
    default_settings("choosingcrm", {"company": "Lead"})
    assert ChoosingProvider.asked == [None, {"company": "Lead"}]
