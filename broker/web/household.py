"""The household form of the check and register pages: fields per person and for the address,
validated field by field so that every error is named at its field and in the summary.

Rules:

1. :data:`PEOPLE` person blocks (a post may send more), each with a BSN, or a family name, an
   initial and a date of birth in three fields (day, month, year), or both; and one address
   (postcode, house number, addition). At least one identifier; at most the policy's
   ``web_identifiers_per_check``.
2. Every field is checked (not only the first error): each error carries the id of its field,
   so the page links the summary to the field and shows the message beside it.
3. What was typed is shown again on an error (the answer is ``no-store`` and never logged); it
   is never put in the session, a URL or a log line. Once checked, the identifiers are
   pseudonymised and the typed values dropped.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace

from broker_primitives.identifiers import (
    Identifier,
    IdentifierError,
    address_from_parts,
    parse_bsn,
    person_from_parts,
)
from werkzeug.datastructures import MultiDict

from broker.errors import BrokerError
from broker.registry.lookups import Evidence
from broker.web.i18n import gettext, lazy_gettext

PEOPLE = 3  # person blocks the form shows
MAX_PEOPLE = 60  # person blocks read from a post (more than the policy's limit, so it is named)
PERSON_FIELDS = ("bsn", "family_name", "initial", "day", "month", "year")
_MISSING = {"family_name": lazy_gettext("missing_family_name"),
            "initial": lazy_gettext("missing_initial")}


@dataclass(frozen=True)
class FieldError:
    """An error at one field (``field`` is its HTML id; empty for the form as a whole)."""

    field: str
    message: str


@dataclass(frozen=True)
class PersonInput:
    """One person's fields as typed."""

    bsn: str = ""
    family_name: str = ""
    initial: str = ""
    day: str = ""
    month: str = ""
    year: str = ""

    def has_name(self) -> bool:
        """Whether any of the name and date-of-birth fields was filled in."""
        return any((self.family_name, self.initial, self.day, self.month, self.year))


@dataclass(frozen=True)
class HouseholdInput:
    """The check and register forms' fields as typed."""

    people: tuple[PersonInput, ...] = tuple(PersonInput() for _ in range(PEOPLE))
    postcode: str = ""
    house_number: str = ""
    addition: str = ""
    purpose: str = ""
    basis: str = ""
    statute: str = ""
    consent_reference: str = ""
    justification: str = ""
    register_too: bool = False
    ends_on: str = ""
    case_reference: str = ""
    errors: tuple[FieldError, ...] = field(default=())

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> HouseholdInput:
        """The fields of a posted form (``p1-bsn``, ``p1-family_name``, ..., ``postcode``)."""
        given = max([PEOPLE, *(n for n in range(1, MAX_PEOPLE + 1)
                               if any(form.get(f"p{n}-{name}") for name in PERSON_FIELDS))])
        people = tuple(
            PersonInput(**{name: form.get(f"p{n}-{name}", "").strip() for name in PERSON_FIELDS})
            for n in range(1, given + 1))
        text = {name: form.get(name, "").strip() for name in (
            "postcode", "house_number", "addition", "purpose", "basis", "statute",
            "consent_reference", "justification", "ends_on", "case_reference")}
        return cls(people, text["postcode"], text["house_number"], text["addition"],
                   text["purpose"], text["basis"], text["statute"], text["consent_reference"],
                   text["justification"], form.get("register_too") == "on", text["ends_on"],
                   text["case_reference"])

    def evidence(self) -> Evidence:
        """What carries the chosen legal basis: only the field that basis needs."""
        return Evidence(self.consent_reference or None if self.basis == "consent" else None,
                        self.statute or None if self.basis == "legal_task" else None,
                        self.justification or None if self.basis == "vital_interest" else None)

    def with_errors(self, errors: list[FieldError]) -> HouseholdInput:
        """The same form carrying ``errors`` (for the page)."""
        return replace(self, errors=tuple(errors))

    def error_at(self, field_id: str) -> str | None:
        """The message at ``field_id``, if any."""
        return next((e.message for e in self.errors if e.field == field_id), None)


def _identifier_field(prefix: str, error: IdentifierError) -> str:
    """The id of the field an identifier error is about."""
    code = error.code
    if code.startswith("bsn."):
        return f"{prefix}bsn"
    if code.startswith("address."):
        return ("addition" if code == "address.addition"
                else "house_number" if code.startswith("address.house_number") else "postcode")
    if "initial" in code:
        return f"{prefix}initial"
    if "birth" in code or "date" in code:
        return f"{prefix}day"
    return f"{prefix}family_name"


def _birth_date(person: PersonInput) -> datetime.date | None:
    try:
        return datetime.date(int(person.year), int(person.month), int(person.day))
    except ValueError:
        return None


def _person(n: int, person: PersonInput, lang: str, today: datetime.date,
            errors: list[FieldError]) -> list[Identifier]:
    prefix, found = f"p{n}-", []
    if person.bsn:
        try:
            found.append(parse_bsn(person.bsn))
        except IdentifierError as exc:
            errors.append(FieldError(f"{prefix}bsn", exc.message(lang)))
    if not person.has_name():
        return found
    missing = [name for name in ("family_name", "initial") if not getattr(person, name)]
    for name in missing:
        errors.append(FieldError(f"{prefix}{name}", str(_MISSING[name])))
    born = _birth_date(person)
    if born is None:
        errors.append(FieldError(f"{prefix}day", gettext("bad_birth_date")))
    if missing or born is None:
        return found
    try:
        found.append(person_from_parts(person.family_name, person.initial, born, today=today))
    except IdentifierError as exc:
        errors.append(FieldError(_identifier_field(prefix, exc), exc.message(lang)))
    return found


def parse_household(form: HouseholdInput, max_identifiers: int, lang: str,
                    today: datetime.date) -> tuple[list[Identifier], list[FieldError]]:
    """The identifiers of the form, and every error found (nothing is sent anywhere yet)."""
    errors: list[FieldError] = []
    identifiers: list[Identifier] = []
    for n, person in enumerate(form.people, start=1):
        identifiers += _person(n, person, lang, today, errors)
    if form.postcode or form.house_number or form.addition:
        try:
            identifiers.append(address_from_parts(form.postcode, form.house_number,
                                                  form.addition or None))
        except IdentifierError as exc:
            errors.append(FieldError(_identifier_field("", exc), exc.message(lang)))
    if not identifiers and not errors:
        errors.append(FieldError("p1-bsn", gettext("no_identifier")))
    if len(identifiers) > max_identifiers:
        errors.append(FieldError("", gettext("too_many_identifiers", limit=max_identifiers,
                                             given=len(identifiers))))
    return identifiers, errors


def check_choices(form: HouseholdInput, *, basis: bool) -> list[FieldError]:
    """The purpose (and, for a check, the legal basis) must be chosen."""
    errors = [] if form.purpose else [FieldError("purpose", gettext("choose_purpose"))]
    if basis and not form.basis:
        errors.append(FieldError("basis", gettext("choose_basis")))
    return errors


# A refusal of the services, put at the field it is about (the basis' own field).
_BASIS_FIELD = {"consent": "consent_reference", "legal_task": "statute",
                "vital_interest": "justification"}


def service_error(form: HouseholdInput, exc: BrokerError, lang: str) -> FieldError:
    """A service's refusal as an error at the field it concerns (the form as a whole else)."""
    code = str(getattr(exc, "code", ""))
    if code == "basis" or code.startswith("consent"):
        return FieldError(_BASIS_FIELD.get(form.basis, "basis"), exc.message(lang))
    if code == "free-text":
        about = ("justification" if form.basis == "vital_interest" and form.justification
                 else "case_reference")
        return FieldError(about, exc.message(lang))
    return FieldError("", exc.message(lang))


def parse_end_date(text: str) -> datetime.date | None:
    """The end date field (empty: the policy's default period); ValueError when not a date."""
    return datetime.date.fromisoformat(text) if text else None
