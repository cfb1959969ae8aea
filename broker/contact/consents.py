"""The consent use cases: record, read and withdraw consent about a household.

The record itself, and when it carries a look-up or a contact request, are the registry's
(:mod:`broker.registry.consents`); here what consent means for the contact hand-over.

Rules this module guarantees:

- Consent is recorded by an active professional of the organisation it was given to, with the
  household's identifiers already pseudonymised by the door (the broker never receives them
  raw from the API; the web form and the command line blind them in-process).
- A consent record is shown to, and withdrawn by, its own organisation only; another
  organisation's attempt is refused as not found and audited.
- Withdrawing consent refuses new look-ups and requests under it, withdraws the pending
  requests made under it and revokes every link issued under it, in one transaction with its
  audit event; approving a request checks its consent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from broker_primitives.blinding import Pseudonym
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event
from broker.contact.common import changed
from broker.contact.models import (
    REQUEST_PENDING,
    REQUEST_WITHDRAWN,
    ContactLink,
    ContactRequest,
)
from broker.core import UnitOfWork, unit_of
from broker.errors import NotFound, ValidationError
from broker.policy.bases import consent_record_id
from broker.registry.common import member
from broker.registry.consents import ConsentInfo, NewConsent, prepare_consent, store_consent
from broker.registry.models import Consent, Professional


class ConsentService:
    """Record, look up and withdraw consent."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def record(self, actor: Actor, *, professional: str, pseudonyms: Sequence[Pseudonym],
               given_by: str, given_on: date, valid_until: date, purposes: list[str],
               holder_types: list[str] | None = None) -> ConsentInfo:
        """Record consent given to the actor's organisation about the household of
        ``pseudonyms``; returns the record (its id is the consent reference)."""
        prepared = prepare_consent(self.core, NewConsent(
            pseudonyms, given_by, given_on, valid_until, purposes, tuple(holder_types or ())))
        session = self.session
        person = member(session, actor, professional)
        consent = store_consent(session, self.core, actor.acting_for(person.username),
                                person, prepared)
        return ConsentInfo.of(consent, person.username)

    def withdraw(self, actor: Actor, consent_id: str, *, professional: str) -> int:
        """Withdraw consent: refuse new requests under it and revoke its links; returns how
        many links were revoked."""
        now = self.core.now()
        session = self.session
        person = member(session, actor, professional)
        consent = _own(session, actor, person.organisation_id, consent_id,
                       Event.CONSENT_WITHDRAWN)
        if consent.withdrawn_at is not None:
            raise ValidationError("This consent was already withdrawn.", code="consent")
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
        record_event(session, actor.acting_for(person.username), Event.CONSENT_WITHDRAWN,
                     organisation_id=person.organisation_id,
                     consent_reference=consent.public_id,
                     subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                               for k in consent.keys],
                     details={"links_revoked": [link.public_id for link in links],
                              "requests_withdrawn": closed})
        return len(links)

    def get(self, actor: Actor, consent_id: str) -> ConsentInfo:
        """One of the actor's organisation's consent records (a read, audited)."""
        session = self.session
        consent = _own(session, actor, actor.organisation_id, consent_id, Event.CONSENT_VIEWED)
        record_event(session, actor, Event.CONSENT_VIEWED, consent_reference=consent.public_id)
        recorded_by = session.get(Professional, consent.recorded_by_id)
        return ConsentInfo.of(consent, recorded_by.username if recorded_by else "?")


def _own(session: Session, actor: Actor, organisation_id: int | None, consent_id: str,
         event_type: str) -> Consent:
    """The organisation's consent record, or an audited refusal answered as not found."""
    consent = session.scalar(select(Consent).filter_by(public_id=consent_id,
                                                       organisation_id=organisation_id))
    if consent is None or organisation_id is None:
        # Only an id-shaped reference is written: free text could hold an identifier.
        unit_of(session).refuse(
            NotFound("There is no such consent record of your organisation."),
            actor, event_type, reason="unknown_or_foreign",
            details={"consent_id": consent_record_id(consent_id)})
    return consent
