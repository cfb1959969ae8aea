"""The household form: what a professional types, validated before anything happens."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from werkzeug.datastructures import MultiDict

from broker.errors import ValidationError
from broker.identifiers import Identifier, parse_household
from broker.registry.lookups import Evidence


@dataclass(frozen=True)
class HouseholdForm:
    """The form's fields as typed (identifiers are dropped before rendering the page again)."""

    bsn: str = ""
    address: str = ""
    person: str = ""
    purpose: str = ""
    basis: str = ""
    ends_on: str = ""
    consent_reference: str = ""
    statute: str = ""
    justification: str = ""
    register_too: bool = False

    @classmethod
    def empty(cls) -> HouseholdForm:
        """A blank form."""
        return cls()

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> HouseholdForm:
        """The fields of a posted form."""
        return cls(
            **{name: form.get(name, "").strip() for name in
               ("bsn", "address", "person", "purpose", "basis", "ends_on", "consent_reference",
                "statute", "justification")},
            register_too=form.get("register_too") == "on",
        )

    def evidence(self) -> Evidence:
        """What the professional gave to carry the legal basis."""
        return Evidence(self.consent_reference or None, self.statute or None,
                        self.justification or None)

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


@dataclass(frozen=True)
class ConsentForm:
    """The consent form's fields as typed (identifiers are dropped before rendering again)."""

    bsn: str = ""
    address: str = ""
    person: str = ""
    given_by: str = "person"
    given_on: str = ""
    valid_until: str = ""
    purposes: tuple[str, ...] = ()
    holder_types: tuple[str, ...] = ()

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> ConsentForm:
        """The fields of a posted form."""
        return cls(
            **{name: form.get(name, "").strip() for name in
               ("bsn", "address", "person", "given_by", "given_on", "valid_until")},
            purposes=tuple(form.getlist("purposes")),
            holder_types=tuple(form.getlist("holder_types")),
        )

    def without_identifiers(self) -> ConsentForm:
        """The same form with the identifying fields cleared (never echoed back to the page)."""
        return replace(self, bsn="", address="", person="")


@dataclass(frozen=True)
class ParsedConsent:
    """Validated identifiers and dates of a consent form."""

    identifiers: list[Identifier]
    given_on: date
    valid_until: date


def _date(text: str, en: str, nl: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{en} must be a date like 2027-06-30.",
                              f"{nl} moet een datum zijn zoals 2027-06-30.") from None


def parse_consent_form(form: ConsentForm) -> ParsedConsent:
    """Validate the identifiers and dates; raises the first error, with nothing sent yet."""
    identifiers = parse_household(
        bsn=_lines(form.bsn), address=_lines(form.address), person=_lines(form.person)
    )
    return ParsedConsent(identifiers,
                         _date(form.given_on, "The date of consent", "De datum van toestemming"),
                         _date(form.valid_until, "The end date", "De einddatum"))
