"""Contact requests: from a match to a consented, need-to-know contact link.

Rules this module guarantees:

- A request names a match of one of the requester's own look-ups (its look-up id and match
  handle); the holder is found again from that look-up's audit event, so a requester can only
  reach an organisation it was actually shown.
- The policy in force decides, for the request's purpose and legal basis: granted directly, the
  holder's approval needed, or not allowed (default deny). A basis without its evidence is
  refused; ``consent`` must name a consent record in force; ``vital_interest`` needs its written
  justification and is flagged for review.
- The holder sees who asks (organisation, role, purpose, basis), never the requester's case
  content. Unanswered requests expire after the policy's ``contact_request_days``; the requester
  can withdraw a pending request.
- Every step — asked, refused, approved, denied, withdrawn, expired, each link issued — is an
  audit event in the transaction of the change, and each party is notified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn, TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor, Subject, record_event
from broker.contact.common import changed, member
from broker.contact.consents import consent_in_force
from broker.contact.links import IssuedLink, deliver_tokens, issue_links
from broker.contact.models import (
    REQUEST_APPROVED,
    REQUEST_DENIED,
    REQUEST_EXPIRED,
    REQUEST_PENDING,
    REQUEST_WITHDRAWN,
    Consent,
    ContactLink,
    ContactRequest,
)
from broker.core import Core
from broker.errors import Conflict, Forbidden, NotFound, ValidationError
from broker.notifications.services import notify
from broker.policy import DecisionRequest
from broker.pseudonyms.keys import MissingKeyError
from broker.registry.lookups import Evidence, handle_key, match_handle
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement, Organisation, Professional

_NO_MATCH = ("This match is not one of your organisation's recent look-ups; look the household "
             "up again.",
             "Deze match hoort niet bij een recente zoekvraag van uw organisatie; zoek het "
             "huishouden opnieuw op.")


@dataclass(frozen=True)
class RequestView:
    """A request as either side may see it: never the other side's case content."""

    id: str
    status: str
    mode: str
    purpose: str
    legal_basis: str
    requester_organisation: str
    requester_role: str
    created_at: datetime
    expires_at: datetime
    decision_message: str | None
    # Which side the reader is on, and the reader's links on this request (public ids).
    side: str = ""
    link_ids: list[str] = field(default_factory=list)
    # Tokens handed to the caller by this very read (once; stored only hashed).
    link_tokens: list[str] = field(default_factory=list)


class ContactService:
    """Asking for contact, answering, withdrawing, expiring."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def request(self, actor: Actor, *, professional: str, lookup_id: str, match_id: str,
                purpose: str, basis: str, evidence: Evidence) -> RequestView:
        """Ask for contact with the holder of a match."""
        policy = self.core.policy()
        now, today = self.core.now(), self.core.today()
        actor = actor.acting_for(professional)
        problems = policy.check_basis(purpose, basis, justification=evidence.justification,
                                      statute=evidence.statute,
                                      consent_reference=evidence.consent_reference)
        with self.core.unit_of_work() as session:
            requester = member(session, actor, professional)
            fields = _RequestFields(purpose=purpose, legal_basis=basis, statute=evidence.statute,
                                    consent_reference=evidence.consent_reference,
                                    justification=evidence.justification,
                                    vital_interest=basis == "vital_interest",
                                    policy_version=policy.version)
            try:
                if problems:
                    raise ValidationError("; ".join(p.message("en") for p in problems),
                                          "; ".join(p.message("nl") for p in problems),
                                          code="basis")
                lookup, holder = self.find_match(session, actor, lookup_id, match_id, now)
                holder_org = session.get(Organisation, holder.organisation_id)
                assert holder_org is not None
                decision = policy.decide(DecisionRequest(
                    self.core.org_type(session.connection(), requester.organisation_id),
                    holder_org.org_type, purpose, basis))
                if not decision.allowed or decision.contact == "none":
                    raise Forbidden("The policy does not allow contact for this purpose and "
                                    "legal basis.",
                                    "Het beleid staat contact voor dit doel en deze grondslag "
                                    "niet toe.")
                consent = (consent_in_force(session, requester.organisation_id,
                                            evidence.consent_reference, purpose,
                                            holder_org.org_type, today)
                           if basis == "consent" else None)
            except (ValidationError, Forbidden, NotFound) as refusal:
                record_event(session, actor, "contact:requested", outcome="refused",
                             reason=refusal.code or type(refusal).__name__, **fields)
                session.commit()  # the refusal is logged; the caller gets the error
                raise
            days = policy.retention.contact_request_days
            request = ContactRequest(
                lookup_id=lookup.event_id, requester_org_id=requester.organisation_id,
                requester_id=requester.id, holder_org_id=holder.organisation_id,
                holder_involvement_id=holder.id, purpose=purpose, legal_basis=basis,
                statute=evidence.statute, consent_id=consent.id if consent else None,
                policy_version=policy.version, rule_id=decision.rule_ids[0],
                mode=decision.contact, link_fields=sorted(decision.link_fields),
                link_direction=decision.link_direction or "mutual",
                expires_at=now + timedelta(days=days))
            session.add(request)
            session.flush()
            subjects = _subjects(session, lookup)
            record_event(session, actor, "contact:requested", subjects=subjects,
                         rule_id=request.rule_id, obligations=decision.obligations,
                         details={"request_id": request.public_id, "mode": request.mode,
                                  "holder_organisation_id": holder.organisation_id,
                                  "lookup_id": lookup.event_id}, **fields)
            if decision.contact == "direct":
                request.status = REQUEST_APPROVED
                self._approve(session, actor, request, None, now, subjects)
            else:
                notify(session, professional_id=holder.professional_id, kind="contact_request",
                       reference=request.public_id, organisation_id=holder.organisation_id)
            return self._view(session, request, [], actor)

    def decide(self, actor: Actor, request_id: str, *, professional: str, approve: bool,
               message: str | None = None) -> RequestView:
        """The holder's answer to a pending request; approval issues the links."""
        now = self.core.now()
        actor = actor.acting_for(professional)
        with self.core.unit_of_work() as session:
            decider = member(session, actor, professional)
            request = self._take(session, actor, request_id, "holder", now,
                                 REQUEST_APPROVED if approve else REQUEST_DENIED)
            request.decided_by_id = decider.id
            request.decision_message = (message or "").strip()[:2000] or None
            subjects = _subjects(session, session.scalar(
                select(AuditEvent).filter_by(event_id=request.lookup_id)))
            if approve:
                self._approve(session, actor, request, decider, now, subjects)
            else:
                record_event(session, actor, "contact:denied", purpose=request.purpose,
                             legal_basis=request.legal_basis, subjects=subjects,
                             details={"request_id": request.public_id})
                notify(session, professional_id=request.requester_id, kind="decision",
                       reference=request.public_id, organisation_id=request.requester_org_id)
            return self._view(session, request, [], actor)

    def withdraw(self, actor: Actor, request_id: str, *, professional: str) -> RequestView:
        """The requester takes back a pending request."""
        actor = actor.acting_for(professional)
        with self.core.unit_of_work() as session:
            member(session, actor, professional)
            request = self._take(session, actor, request_id, "requester", self.core.now(),
                                 REQUEST_WITHDRAWN)
            record_event(session, actor, "contact:withdrawn", purpose=request.purpose,
                         details={"request_id": request.public_id})
            return self._view(session, request, [], actor)

    def get(self, actor: Actor, request_id: str, *, deliver: bool = True) -> RequestView:
        """A request, for either side's organisation (anyone else: not found). Unless
        ``deliver`` is False (the web, which opens links by the signed-in professional), the
        first read after approval hands over the tokens of the reader's links (once): it is
        the only door through which a token leaves the broker, so no stored answer (such as an
        idempotent replay) ever holds one."""
        with self.core.unit_of_work() as session:
            request = session.scalar(select(ContactRequest).filter_by(public_id=request_id))
            if (request is None or actor.organisation_id is None
                    or actor.organisation_id not in (request.requester_org_id,
                                                     request.holder_org_id)):
                _refuse_unknown(session, actor, request_id)
            delivered = (deliver_tokens(session, request, actor.organisation_id, self.core.now())
                         if deliver else [])
            record_event(session, actor, "contact:request_viewed",
                         details={"request_id": request.public_id,
                                  "links_delivered": [d.link_id for d in delivered]})
            return self._view(session, request, [d.token for d in delivered], actor)

    def expire(self, actor: Actor) -> int:
        """Expire pending requests past their time; returns how many."""
        now = self.core.now()
        with self.core.unit_of_work() as session:
            due = session.scalars(select(ContactRequest).where(
                ContactRequest.status == REQUEST_PENDING, ContactRequest.expires_at <= now)).all()
            expired = []
            for request in due:
                # Conditional, like _take: a request answered meanwhile stays answered.
                if changed(session,
                    update(ContactRequest)
                    .where(ContactRequest.id == request.id,
                           ContactRequest.status == REQUEST_PENDING)
                    .values(status=REQUEST_EXPIRED, decided_at=now)
                ) == 1:
                    expired.append(request)
            for request in expired:
                record_event(session, actor, "contact:expired",
                             organisation_id=request.requester_org_id,
                             details={"request_id": request.public_id})
                notify(session, professional_id=request.requester_id, kind="decision",
                       reference=request.public_id, organisation_id=request.requester_org_id)
            return len(expired)

    # -- helpers -------------------------------------------------------------------------------

    def find_match(self, session: Session, actor: Actor, lookup_id: str, match_id: str,
                now: datetime) -> tuple[AuditEvent, Involvement]:
        """The look-up event (one of the actor's organisation's, recent enough) and the still
        active involvement behind its match ``match_id``; NotFound for anything else."""
        window = timedelta(days=self.core.policy().retention.contact_request_days)
        lookup = session.scalar(select(AuditEvent).filter_by(
            event_id=lookup_id, event_type="lookup:performed",
            organisation_id=actor.organisation_id))
        if lookup is None or lookup.occurred_at < now - window:
            raise NotFound(*_NO_MATCH)
        epoch = lookup.details.get("handle_epoch")
        shown = lookup.details.get("matched_involvements")
        if not isinstance(epoch, int) or not isinstance(shown, list):
            raise NotFound(*_NO_MATCH)
        try:
            key = handle_key(self.core, epoch)
        except MissingKeyError:  # the look-up's key epoch is gone: its handles cannot be checked
            raise NotFound(*_NO_MATCH) from None
        public_id = next((str(i) for i in shown
                          if match_handle(key, lookup_id, str(i)) == match_id), None)
        involvement = session.scalar(select(Involvement).filter_by(public_id=public_id or "",
                                                                   state=INVOLVEMENT_ACTIVE))
        if involvement is None:
            raise NotFound(*_NO_MATCH)
        return lookup, involvement

    def _approve(self, session: Session, actor: Actor, request: ContactRequest,
                 decider: Professional | None, now: datetime,
                 subjects: list[Subject]) -> list[IssuedLink]:
        if request.consent_id is not None:  # still in force? (withdrawn meanwhile: refused)
            consent = session.get(Consent, request.consent_id)
            holder_org = session.get(Organisation, request.holder_org_id)
            assert consent is not None and holder_org is not None
            consent_in_force(session, request.requester_org_id, consent.public_id,
                             request.purpose, holder_org.org_type, now.date())
        holder_involvement = session.get(Involvement, request.holder_involvement_id)
        if holder_involvement is None:
            raise Conflict("The holder's involvement has ended; no contact can be made.",
                           "De betrokkenheid van de houder is beëindigd; contact is niet "
                           "mogelijk.")
        holder = session.get(Professional, holder_involvement.professional_id)
        requester = session.get(Professional, request.requester_id)
        assert holder is not None and requester is not None
        request.decided_at = now
        record_event(session, actor, "contact:approved", purpose=request.purpose,
                     legal_basis=request.legal_basis, rule_id=request.rule_id,
                     policy_version=request.policy_version, subjects=subjects,
                     details={"request_id": request.public_id,
                              "direct": decider is None})
        days = self.core.policy().retention.contact_link_days
        issued = issue_links(session, request, holder, requester, days, now)
        for link in issued:
            record_event(session, actor, "contact:link_issued", purpose=request.purpose,
                         rule_id=request.rule_id,
                         details={"link_id": link.link_id, "request_id": request.public_id,
                                  "fields": sorted(request.link_fields)})
            viewer = requester if link.issued_to_id == requester.id else holder
            notify(session, professional_id=viewer.id, kind="link", reference=link.link_id,
                   organisation_id=viewer.organisation_id)
        notify(session, professional_id=requester.id, kind="decision",
               reference=request.public_id, organisation_id=requester.organisation_id)
        return issued

    def _take(self, session: Session, actor: Actor, request_id: str, side: str,
              now: datetime, status: str) -> ContactRequest:
        """Move a pending request of the actor's side to ``status``, or refuse: not ours
        (audited, not found), no longer pending, or past its time (then it expires now).
        The move is one conditional UPDATE, so two answers at once cannot both win."""
        request = session.scalar(select(ContactRequest).filter_by(public_id=request_id))
        owner = (request.holder_org_id if side == "holder" else request.requester_org_id
                 ) if request else None
        if request is None or owner is None or owner != actor.organisation_id:
            _refuse_unknown(session, actor, request_id)
        expired = request.status == REQUEST_PENDING and request.expires_at <= now
        moved = changed(session,
            update(ContactRequest)
            .where(ContactRequest.id == request.id, ContactRequest.status == REQUEST_PENDING)
            .values(status=REQUEST_EXPIRED if expired else status, decided_at=now)
        )
        if moved != 1:
            session.refresh(request)
            raise Conflict(f"This contact request is {request.status} already.",
                           f"Dit contactverzoek is al afgehandeld ({request.status}).")
        session.refresh(request)
        if expired:
            record_event(session, actor, "contact:expired",
                         organisation_id=request.requester_org_id,
                         details={"request_id": request.public_id})
            session.commit()  # it expired, whatever the caller wanted
            raise Conflict("This contact request has expired.",
                           "Dit contactverzoek is verlopen.")
        return request

    @staticmethod
    def _view(session: Session, request: ContactRequest, tokens: list[str],
              actor: Actor) -> RequestView:
        org = session.get(Organisation, request.requester_org_id)
        requester = session.get(Professional, request.requester_id)
        assert org is not None and requester is not None
        side = "requester" if actor.organisation_id == request.requester_org_id else "holder"
        link_ids = list(session.scalars(select(ContactLink.public_id).filter_by(
            request_id=request.id, issued_to_org_id=actor.organisation_id)))
        return RequestView(request.public_id, request.status, request.mode, request.purpose,
                           request.legal_basis, org.name, requester.role, request.created_at,
                           request.expires_at, request.decision_message, side, link_ids,
                           tokens)


class _RequestFields(TypedDict):
    """What a request's audit events say about it."""

    purpose: str
    legal_basis: str
    statute: str | None
    consent_reference: str | None
    justification: str | None
    vital_interest: bool
    policy_version: str


def _refuse_unknown(session: Session, actor: Actor, request_id: str) -> NoReturn:
    """Another organisation's (or no) request: logged, and answered as not found."""
    record_event(session, actor, "contact:request_viewed", outcome="refused",
                 reason="unknown_or_foreign", details={"request_id": request_id[:64]})
    session.commit()
    raise NotFound("There is no such contact request for your organisation.",
                   "Er is geen contactverzoek met dit kenmerk voor uw organisatie.")


def _subjects(session: Session, lookup: AuditEvent | None) -> list[Subject]:
    """The household keys of the look-up behind a request, so that the request shows up in
    a subject access report too."""
    if lookup is None:
        return []
    return [Subject(s.category, s.value, s.oprf_epoch, s.broker_epoch) for s in session.scalars(
        select(AuditSubject).filter_by(event_id=lookup.id))]
