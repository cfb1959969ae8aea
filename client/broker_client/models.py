"""The shapes of what the client sends and receives (the API contract of issue 4, version 1).

Response shapes are :class:`~typing.TypedDict` views of the broker's JSON: the client checks
the fields it relies on and passes the rest through unchanged. :class:`NewRegistration` keeps its
raw identifiers out of ``repr``, so a registration can be logged or shown in a traceback safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypedDict

from broker_primitives.identifiers import Identifier, parse_household

Basis = Literal["consent", "legal_task", "vital_interest"]
#: One raw value, or several.
RawValues = str | Iterable[str]


class Involvement(TypedDict):
    """An involvement as the broker returns it; never with its matching keys."""

    id: str
    organisation: str
    professional: str
    purpose: str
    starts_on: str
    ends_on: str
    state: Literal["active", "ended"]
    end_reason: str | None
    key_count: int


class Match(TypedDict):
    """Another organisation's involvement sharing a matching key, as far as policy reveals it."""

    match_id: str
    matched_on: list[Literal["person", "address"]]
    reveal: str
    org_type: str | None
    organisation: str | None
    contact: Literal["direct", "approval", "none"]
    rule_id: str


class LookupResult(TypedDict):
    """The answer to a look-up."""

    lookup_id: str
    matches: list[Match]
    registration_required: bool
    policy_version: str
    flagged_for_review: bool


class Consent(TypedDict):
    """A consent record as the broker returns it (never its household's keys); ``id`` is the
    consent reference."""

    id: str
    given_by: str
    given_on: str
    valid_until: str
    purposes: list[str]
    holder_types: list[str]
    recorded_by: str
    withdrawn: bool


def raw_values(values: RawValues) -> tuple[str, ...]:
    """``values`` as a tuple; a single string is one value, not a sequence of characters."""
    return (values,) if isinstance(values, str) else tuple(values)


@dataclass(frozen=True)
class NewRegistration:
    """One involvement to register, with the raw identifiers of its household.

    The identifiers are normalised, blinded and pseudonymised by the client; they never reach the
    broker and are left out of ``repr``.
    """

    professional: str
    purpose: str
    bsn: RawValues = field(default=(), repr=False)
    address: RawValues = field(default=(), repr=False)
    person: RawValues = field(default=(), repr=False)
    ends_on: date | None = None

    def identified(self) -> IdentifiedRegistration:
        """Parse the identifiers with the server's own rules (raises ``IdentifierError``)."""
        identifiers = parse_household(
            bsn=raw_values(self.bsn), address=raw_values(self.address),
            person=raw_values(self.person),
        )
        return IdentifiedRegistration(self.professional, self.purpose, tuple(identifiers),
                                      self.ends_on)


@dataclass(frozen=True)
class IdentifiedRegistration:
    """One involvement to register, its identifiers already parsed and normalised."""

    professional: str
    purpose: str
    identifiers: tuple[Identifier, ...] = field(repr=False)
    ends_on: date | None = None
