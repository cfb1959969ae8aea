"""Consent records for the ``consent`` legal basis.

Rules this module guarantees:

- A consent record says who consented (the person, a parent, a guardian), when, for which
  purposes (and, optionally, which kinds of organisation it may reach) and until when, and which
  professional recorded it. It never holds a name or an identifier of the person.
- A request or look-up under ``consent`` names a record of the asker's own organisation that is
  in force for its purpose (and the holder's type); anything else is refused.
- Withdrawing consent refuses new requests under it, withdraws the pending ones and revokes
  every link issued under it, in one transaction with its audit event; approving a request
  checks its consent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.audit.services import Actor, record_event
from broker.contact.common import changed, member
from broker.contact.models import (
    REQUEST_PENDING,
    REQUEST_WITHDRAWN,
    Consent,
    ContactLink,
    ContactRequest,
)
from broker.core import Core
from broker.errors import NotFound, ValidationError
from broker.registry.models import Professional

GIVEN_BY = ("person", "parent", "guardian")


@dataclass(frozen=True)
class ConsentInfo:
    """A consent record as its organisation sees it."""

    id: str
    given_by: str
    given_on: date
    valid_until: date
    purposes: list[str]
    holder_types: list[str]
    recorded_by: str
    withdrawn: bool

    @classmethod
    def of(cls, consent: Consent, recorded_by: str) -> ConsentInfo:
        """The view of a stored record."""
        return cls(consent.public_id, consent.given_by, consent.given_on, consent.valid_until,
                   list(consent.purposes), list(consent.holder_types), recorded_by,
                   consent.withdrawn_at is not None)


class ConsentService:
    """Record, look up and withdraw consent."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def record(self, actor: Actor, *, professional: str, given_by: str, given_on: date,
               valid_until: date, purposes: list[str], holder_types: list[str] | None = None
               ) -> ConsentInfo:
        """Record consent given to the actor's organisation; returns the record."""
        policy = self.core.policy()
        today = self.core.today()
        problems = []
        if given_by not in GIVEN_BY:
            problems.append(("who consented must be one of: " + ", ".join(GIVEN_BY),
                             "wie toestemming gaf moet een van deze zijn: " + ", ".join(GIVEN_BY)))
        if given_on > today:
            problems.append(("consent cannot be given in the future",
                             "toestemming kan niet in de toekomst gegeven zijn"))
        if valid_until < today or valid_until < given_on:
            problems.append(("consent must be valid until today or later",
                             "toestemming moet tot vandaag of later gelden"))
        unknown = sorted(set(purposes) - set(policy.purposes)) if purposes else ["(none)"]
        if unknown:
            problems.append((f"unknown purpose(s): {', '.join(unknown)}",
                             f"onbekend doel: {', '.join(unknown)}"))
        types = sorted(set(holder_types or ()))
        if set(types) - set(policy.org_types):
            problems.append(("unknown organisation type(s)", "onbekend organisatietype"))
        if problems:
            raise ValidationError("; ".join(p[0] for p in problems),
                                  "; ".join(p[1] for p in problems), code="consent")
        with self.core.unit_of_work() as session:
            person = member(session, actor, professional)
            consent = Consent(organisation_id=person.organisation_id, recorded_by_id=person.id,
                              given_by=given_by, given_on=given_on, valid_until=valid_until,
                              purposes=sorted(set(purposes)), holder_types=types)
            session.add(consent)
            session.flush()
            record_event(session, actor.acting_for(person.username), "consent:recorded",
                         organisation_id=person.organisation_id,
                         consent_reference=consent.public_id,
                         details={"given_by": given_by, "given_on": given_on.isoformat(),
                                  "valid_until": valid_until.isoformat(),
                                  "purposes": consent.purposes, "holder_types": types})
            return ConsentInfo.of(consent, person.username)

    def withdraw(self, actor: Actor, consent_id: str, *, professional: str) -> int:
        """Withdraw consent: refuse new requests under it and revoke its links; returns how
        many links were revoked."""
        now = self.core.now()
        with self.core.unit_of_work() as session:
            person = member(session, actor, professional)
            consent = _own(session, actor, person.organisation_id, consent_id,
                           "consent:withdrawn")
            if consent.withdrawn_at is not None:
                raise ValidationError("This consent was already withdrawn.",
                                      "Deze toestemming is al ingetrokken.", code="consent")
            consent.withdrawn_at = now
            links = session.scalars(
                select(ContactLink)
                .join(ContactRequest, ContactLink.request_id == ContactRequest.id)
                .where(ContactRequest.consent_id == consent.id, ContactLink.revoked_at.is_(None))
            ).all()
            for link in links:
                link.revoked_at, link.revoked_reason = now, "consent_withdrawn"
            pending = session.scalars(select(ContactRequest).filter_by(
                consent_id=consent.id, status=REQUEST_PENDING)).all()
            closed = [r.public_id for r in pending
                      if changed(session, update(ContactRequest)
                                 .where(ContactRequest.id == r.id,
                                        ContactRequest.status == REQUEST_PENDING)
                                 .values(status=REQUEST_WITHDRAWN, decided_at=now)) == 1]
            record_event(session, actor.acting_for(person.username), "consent:withdrawn",
                         organisation_id=person.organisation_id,
                         consent_reference=consent.public_id,
                         details={"links_revoked": [link.public_id for link in links],
                                  "requests_withdrawn": closed})
            return len(links)

    def get(self, actor: Actor, consent_id: str) -> ConsentInfo:
        """One of the actor's organisation's consent records (a read, audited)."""
        with self.core.unit_of_work() as session:
            consent = _own(session, actor, actor.organisation_id, consent_id, "consent:viewed")
            record_event(session, actor, "consent:viewed", consent_reference=consent.public_id)
            recorded_by = session.get(Professional, consent.recorded_by_id)
            return ConsentInfo.of(consent, recorded_by.username if recorded_by else "?")


def consent_in_force(session: Session, organisation_id: int, reference: str | None,
                     purpose: str, holder_type: str | None, today: date) -> Consent:
    """The organisation's consent record ``reference`` if it carries ``purpose`` (towards
    ``holder_type``) today; a clear refusal otherwise."""
    consent = session.scalar(select(Consent).filter_by(public_id=reference or "",
                                                       organisation_id=organisation_id))
    if consent is None:
        raise ValidationError(
            "The consent reference names no consent record of your organisation; record the "
            "consent first (POST /v1/consents or broker consent add).",
            "Het toestemmingskenmerk hoort bij geen toestemming van uw organisatie; leg de "
            "toestemming eerst vast.", code="consent")
    if consent.withdrawn_at is not None or not consent.given_on <= today <= consent.valid_until:
        raise ValidationError("This consent is withdrawn or no longer in force.",
                              "Deze toestemming is ingetrokken of geldt niet meer.",
                              code="consent")
    if purpose not in consent.purposes or (
            holder_type is not None and consent.holder_types
            and holder_type not in consent.holder_types):
        raise ValidationError("This consent does not cover this purpose or organisation.",
                              "Deze toestemming dekt dit doel of deze organisatie niet.",
                              code="consent")
    return consent


def _own(session: Session, actor: Actor, organisation_id: int | None, consent_id: str,
         event_type: str) -> Consent:
    """The organisation's consent record, or an audited refusal answered as not found."""
    consent = session.scalar(select(Consent).filter_by(public_id=consent_id,
                                                       organisation_id=organisation_id))
    if consent is None or organisation_id is None:
        record_event(session, actor, event_type, outcome="refused", reason="unknown_or_foreign",
                     details={"consent_id": consent_id[:64]})
        session.commit()
        raise NotFound("There is no such consent record of your organisation.",
                       "Uw organisatie heeft geen toestemming met dit kenmerk.")
    return consent
