"""The consent form: what a professional types, validated before anything happens.

The form takes one household per check: at most the policy's ``quotas:
web_identifiers_per_check`` identifiers (lines), refused before anything is pseudonymised or
charged, with a message naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from broker_primitives.identifiers import Identifier, parse_household
from werkzeug.datastructures import MultiDict

from broker.errors import ValidationError


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _one_household(bsn_lines: str, address_lines: str, person_lines: str,
                   max_identifiers: int) -> list[Identifier]:
    """The identifiers of one household: more than ``max_identifiers`` are refused before any
    is read."""
    bsn, address, person = _lines(bsn_lines), _lines(address_lines), _lines(person_lines)
    given = len(bsn) + len(address) + len(person)
    if given > max_identifiers:
        raise ValidationError(
            f"Give one household at a time: at most {max_identifiers} identifiers "
            f"(you gave {given}).",
            f"Geef één huishouden tegelijk: hooguit {max_identifiers} gegevens "
            f"(u gaf er {given}).",
        )
    return parse_household(bsn=bsn, address=address, person=person)


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


def parse_consent_form(form: ConsentForm, max_identifiers: int) -> ParsedConsent:
    """Validate the identifiers (one household, at most ``max_identifiers``) and dates; raises
    the first error, with nothing sent yet."""
    identifiers = _one_household(form.bsn, form.address, form.person, max_identifiers)
    return ParsedConsent(identifiers,
                         _date(form.given_on, "The date of consent", "De datum van toestemming"),
                         _date(form.valid_until, "The end date", "De einddatum"))
