"""Result objects: read-only values of registry objects that services return to doors and the CLI.

Services return these frozen values rather than ORM objects, so nothing outside a unit of work can
lazily load (or change) the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from broker_primitives.identifiers import Category

from broker.catalogue import LANGUAGES, gettext
from broker.registry.models import Involvement, Organisation, Professional


@dataclass(frozen=True)
class OrganisationInfo:
    """An organisation as the outside sees it."""

    id: int
    identifier: str
    name: str
    org_type: str

    @classmethod
    def of(cls, org: Organisation) -> OrganisationInfo:
        """From the model."""
        return cls(org.id, org.identifier, org.name, org.org_type)


@dataclass(frozen=True)
class ProfessionalInfo:
    """A contact professional."""

    id: int
    username: str
    name: str
    role: str
    phone: str | None
    email: str | None
    organisation_identifier: str
    active: bool
    access_role: str = "professional"

    @classmethod
    def of(cls, professional: Professional) -> ProfessionalInfo:
        """From the model (its organisation must be loaded)."""
        return cls(
            professional.id,
            professional.username,
            professional.name,
            professional.role,
            professional.phone,
            professional.email,
            professional.organisation.identifier,
            professional.active,
            professional.access_role,
        )


@dataclass(frozen=True)
class InvolvementInfo:
    """An involvement without its matching keys (those never leave the registry)."""

    id: str
    organisation_identifier: str
    professional_username: str
    purpose: str
    starts_on: date
    ends_on: date
    state: str
    end_reason: str | None
    key_count: int
    # The organisation's own case reference, and the duty to inform (informed on a date, or
    # postponed until one): for the organisation itself.
    case_reference: str | None = None
    informed_on: date | None = None
    inform_postponed_until: date | None = None

    @classmethod
    def of(cls, involvement: Involvement) -> InvolvementInfo:
        """From the model (organisation, professional and keys must be loadable)."""
        return cls(
            involvement.public_id,
            involvement.organisation.identifier,
            involvement.professional.username,
            involvement.purpose,
            involvement.starts_on,
            involvement.ends_on,
            involvement.state,
            involvement.end_reason,
            len(involvement.matching_keys),
            involvement.case_reference,
            involvement.informed_on,
            involvement.inform_postponed_until,
        )


@dataclass(frozen=True)
class Match:
    """Another organisation's involvement that shares a matching key with the question.

    ``matched_on`` says which kinds of key matched (person, address), never which identifier.
    ``org_type`` and ``organisation`` are filled in only as far as the policy's ``reveal`` lets
    the asker learn before contact; ``contact`` says how contact can be had (``direct``,
    ``approval`` or ``none``); ``rule_id`` is the rule that allowed the disclosure.
    ``match_id`` names the match for this look-up only (never the holder's involvement id).
    """

    match_id: str
    matched_on: tuple[Category, ...]
    reveal: str
    org_type: str | None
    organisation: str | None
    contact: str
    rule_id: str


# What every door says of a look-up's answer, by language, from the one catalogue (the web
# pages' own ids). No door says that no one is involved: the policy may have withheld matches,
# and the words are the same whether it did or not, so they are no oracle either.
NONE_SHOWN = {lang: gettext(lang, "no_matches") for lang in LANGUAGES}
OTHERS_MAY_BE_HIDDEN = {lang: gettext(lang, "may_hide") for lang in LANGUAGES}
REGISTRATION_MAY_SHOW_MORE = {lang: gettext(
    lang, "The policy shows some kinds of organisation only to those registered on this "
    "household themselves, with these identifiers.") for lang in LANGUAGES}


@dataclass(frozen=True)
class LookupResult:
    """The answer to one look-up, with the audit event that records it.

    ``registration_required`` says that the policy shows some organisations only to askers
    registered on the household themselves (reciprocity) and the asker's organisation does not
    hold an active involvement on every identifier of the question: register on them, then ask
    again. It depends on the policy and the asker's own registrations alone, never on anyone
    else's, so it reads the same whether others are withheld or no one is there.
    """

    lookup_id: str
    matches: list[Match]
    registration_required: bool
    policy_version: str
    flagged_for_review: bool
