"""Phone numbers in E.164 for the lead's country: how export writes a lead's phones and the settings preview shows
them (both call `prepare_lead`).

`phonenumbers` is imported inside `e164`, when the first number is converted: it is heavy, and a cold start that never
converts a phone should not pay for it."""

from __future__ import annotations

from leadbridge.mapping.transforms import map_country
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument

# CRM country name (after the settings' country mapping) → the phone region of `phonenumbers`.
PHONE_REGIONS = {
    "denmark": "DK",
    "norway": "NO",
    "sweden": "SE",
    "finland": "FI",
    "iceland": "IS",
    "germany": "DE",
    "netherlands": "NL",
    "france": "FR",
    "spain": "ES",
    "poland": "PL",
    "united kingdom": "GB",
    "ireland": "IE",
    "united states": "US",
}


def phone_region(lead: Lead, settings: SettingsDocument) -> str | None:
    for raw in (lead.country, lead.location):
        if raw:
            name = map_country(raw, settings.country_mapping)
            if name and name.casefold() in PHONE_REGIONS:
                return PHONE_REGIONS[name.casefold()]
    default = settings.country_mapping.default
    return PHONE_REGIONS.get(default.casefold()) if default else None


def e164(raw: str | None, region: str | None) -> tuple[str | None, bool]:
    """(number in E.164, converted?) — unchanged when it cannot be parsed as a valid number for `region`."""
    if not raw or not raw.strip():
        return raw, False
    import phonenumbers  # here, not at the top: see the module docstring

    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw, False
    if not phonenumbers.is_valid_number(number):
        return raw, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


def normalise_phones(lead: Lead, region: str | None) -> tuple[Lead, list[str]]:
    """The lead with its phone numbers in E.164 where they parse for `region`; warnings for those that do not."""
    warnings: list[str] = []

    def fix(label: str, raw: str | None) -> str | None:
        value, ok = e164(raw, region)
        if raw and raw.strip() and not ok:
            warnings.append(
                f"{label}: {raw!r} is not a valid phone number for {region or 'an unknown country'}; sent as given"
            )
        return value

    contacts = [
        c.model_copy(
            update={"phone": fix(f"contacts[{i}].phone", c.phone), "mobile": fix(f"contacts[{i}].mobile", c.mobile)}
        )
        for i, c in enumerate(lead.contacts)
    ]
    return lead.model_copy(update={"phone": fix("phone", lead.phone), "contacts": contacts}), warnings


def prepare_lead(lead: Lead, settings: SettingsDocument) -> tuple[Lead, list[str]]:
    """The lead as export hands it to `plan_lead` (phones in E.164 for its country), with warnings. The settings
    preview calls this too, so what it shows is what an export writes."""
    return normalise_phones(lead, phone_region(lead, settings))
