"""The household form: what a professional types, validated before anything happens."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from werkzeug.datastructures import MultiDict

from broker.errors import ValidationError
from broker.identifiers import Identifier, parse_household

PURPOSES = ("safety_assessment", "care_coordination", "protection")
BASES = ("legal_task", "consent", "vital_interest")


@dataclass(frozen=True)
class HouseholdForm:
    """The form's fields as typed (identifiers are dropped before rendering the page again)."""

    bsn: str = ""
    address: str = ""
    person: str = ""
    purpose: str = PURPOSES[0]
    basis: str = BASES[0]
    ends_on: str = ""

    @classmethod
    def empty(cls) -> HouseholdForm:
        """A blank form."""
        return cls()

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> HouseholdForm:
        """The fields of a posted form."""
        return cls(**{name: form.get(name, "").strip() for name in
                      ("bsn", "address", "person", "purpose", "basis", "ends_on")})

    def without_identifiers(self) -> HouseholdForm:
        """The same form with the identifying fields cleared (never echoed back to the page)."""
        return replace(self, bsn="", address="", person="")


@dataclass(frozen=True)
class ParsedHousehold:
    """Validated identifiers and the optional end date."""

    identifiers: list[Identifier]
    ends_on: date | None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_household_form(form: HouseholdForm) -> ParsedHousehold:
    """Validate every field; raises the first error, with nothing sent anywhere yet."""
    identifiers = parse_household(
        bsn=_lines(form.bsn), address=_lines(form.address), person=_lines(form.person)
    )
    ends_on = None
    if form.ends_on:
        try:
            ends_on = date.fromisoformat(form.ends_on)
        except ValueError:
            raise ValidationError(
                "The end date must be a date like 2027-06-30.",
                "De einddatum moet een datum zijn zoals 2027-06-30.",
            ) from None
    return ParsedHousehold(identifiers, ends_on)
