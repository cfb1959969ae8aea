"""Contact requests: from a match to a consented, need-to-know contact link.

Rules this module guarantees:

- A request names a match of one of the requester's own look-ups (its look-up id and match
  handle); the holder is found again from that look-up's audit event, so a requester can only
  reach an organisation it was actually shown.
- The policy in force decides, for the request's purpose and legal basis: granted directly, the
  holder's approval needed, or not allowed (default deny). A basis without its evidence is
  refused; ``consent`` must name a consent record of the requester's organisation in force for
  the purpose, about the household of the look-up (sharing a matching key with it) and reaching
  the holder's type (:mod:`broker.registry.consents`); ``vital_interest`` needs its written
  justification. A refusal is audited (``contact:requested``, outcome refused, with the reason).
- The rule's obligations for this step are carried out in the request's transaction by their
  executors (:mod:`broker.contact.obligations`): ``notify_holder`` and ``flag_for_review``; the
  event lists only those carried out. The holder is always told of a request it must answer.
  The rule's obligations are kept on the request for the decision (``require_second_approver``,
  :mod:`broker.contact.decisions`).
- The holder sees who asks (organisation, role, purpose, basis), never the requester's case
  content. Unanswered requests expire after the policy's ``contact_request_days``; the requester
  can withdraw a pending request.
- Every step — asked, refused, approved, denied, withdrawn, expired, each link issued — is an
  audit event in the transaction of the change, and each party is notified.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.models import AuditEvent
from broker.audit.services import Actor, record_event, time_ordered_uuid
from broker.catalogue import Joined, Message
from broker.contact.common import changed
from broker.contact.decisions import decide
from broker.contact.links import deliver_tokens
from broker.contact.models import (
    REQUEST_APPROVED,
    REQUEST_EXPIRED,
    REQUEST_PENDING,
    REQUEST_WITHDRAWN,
    ContactRequest,
)
from broker.contact.obligations import flag_request_for_review, notify_holder_of_request
from broker.contact.steps import (
    RequestView,
    grant,
    lookup_subjects,
    move,
    pending_request,
    record_grant,
    refuse_unknown,
    request_view,
)
from broker.core import UnitOfWork
from broker.errors import Forbidden, NotFound, ValidationError, required
from broker.keyfiles import MissingKeyError
from broker.notifications.services import notify
from broker.policy import DecisionRequest
from broker.policy.bases import consent_record_id, recordable_justification
from broker.policy.model import FLAG_FOR_REVIEW, NOTIFY_HOLDER
from broker.policy.obligations import applies_at
from broker.registry.common import member
from broker.registry.consents import consent_in_force, household_values
from broker.registry.lookups import Evidence, handle_key, match_handle
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement, Organisation

__all__ = ["ContactService", "RequestView"]

_NO_MATCH = Message("This match is not one of your organisation's recent look-ups; look the "
                    "household up again.")


class ContactService:
    """Asking for contact, answering, withdrawing, expiring."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def request(self, actor: Actor, *, professional: str, lookup_id: str, match_id: str,
                purpose: str, basis: str, evidence: Evidence) -> RequestView:
        """Ask for contact with the holder of a match."""
        policy = self.core.policy()
        now, today = self.core.now(), self.core.today()
        actor = actor.acting_for(professional)
        problems = policy.check_basis(purpose, basis, justification=evidence.justification,
                                      statute=evidence.statute,
                                      consent_reference=evidence.consent_reference)
        session = self.session
        requester = member(session, actor, professional)
        fields = _RequestFields(
            purpose=purpose, legal_basis=basis,
            # Codes only in the hashed content: a BSN typed as a statute never gets in.
            statute=policy.listed_statute(purpose, evidence.statute),
            consent_reference=consent_record_id(evidence.consent_reference),
            justification=recordable_justification(evidence.justification),
            vital_interest=basis == "vital_interest",
            policy_version=policy.version)
        try:
            if problems:
                raise ValidationError(Joined("; ", [p.text for p in problems]), code="basis")
            lookup, holder = self.find_match(session, actor, lookup_id, match_id, now)
            holder_org = required(session.get(Organisation, holder.organisation_id),
                                  "the holder's organisation")
            decision = policy.decide(DecisionRequest(
                self.core.org_type(session.connection(), requester.organisation_id),
                holder_org.org_type, purpose, basis))
            if not decision.allowed or decision.contact == "none":
                raise Forbidden(
                    "The policy does not allow contact for this purpose and legal basis.")
            subjects = lookup_subjects(session, lookup.event_id)
            consent = None
            if basis == "consent":
                consent = consent_in_force(
                    session, organisation_id=requester.organisation_id,
                    reference=evidence.consent_reference or "", purpose=purpose,
                    household=household_values(self.core, session, subjects), today=today)
                consent.require_reach(holder_org.org_type)
        except (ValidationError, Forbidden, NotFound) as refusal:
            # The refusal is recorded; whatever a refusal inside wrote is undone.
            self.uow.refuse(refusal, actor, Event.CONTACT_REQUESTED,
                            reason=refusal.code or type(refusal).__name__, **fields)
        days = policy.retention.contact_request_days
        request = ContactRequest(
            lookup_id=lookup.event_id, requester_org_id=requester.organisation_id,
            requester_id=requester.id, holder_org_id=holder.organisation_id,
            holder_involvement_id=holder.id, purpose=purpose, legal_basis=basis,
            statute=evidence.statute, consent_id=consent.id if consent else None,
            policy_version=policy.version, rule_id=decision.rule_ids[0],
            mode=decision.contact, link_fields=sorted(decision.link_fields),
            link_direction=decision.link_direction or "mutual",
            obligations=sorted(decision.obligations),
            expires_at=now + timedelta(days=days))
        session.add(request)
        session.flush()
        granted = None
        if decision.contact == "direct":
            move(session, request, REQUEST_APPROVED, now)
            granted = grant(session, request, policy.retention.contact_link_days, now)
        # This step's obligations, carried out before its event, which lists them.
        due = {o for o in decision.obligations if applies_at(o, "contact_request")}
        event_id, carried = time_ordered_uuid(), set()
        # The holder must hear of a request it answers, obligation or not.
        if NOTIFY_HOLDER in due or request.mode == "approval":
            holder_links = [link.link_id for link in (granted.links if granted else [])
                            if link.issued_to_id == holder.professional_id]
            if notify_holder_of_request(session, request, holder, holder_links) and (
                    NOTIFY_HOLDER in due):
                carried.add(NOTIFY_HOLDER)
        if FLAG_FOR_REVIEW in due and flag_request_for_review(session, event_id):
            carried.add(FLAG_FOR_REVIEW)
        record_event(session, actor, Event.CONTACT_REQUESTED, event_id=event_id,
                     subjects=subjects, rule_id=request.rule_id, obligations=carried,
                     details={"request_id": request.public_id, "mode": request.mode,
                              "holder_organisation_id": holder.organisation_id,
                              "lookup_id": lookup.event_id,
                              **({"flag_for_review": True}
                                 if FLAG_FOR_REVIEW in carried else {})},
                     **fields)
        if granted is not None:
            record_grant(session, actor, request, granted, subjects,
                         tell_holder=NOTIFY_HOLDER not in carried)
        return request_view(session, request, [], actor)

    def decide(self, actor: Actor, request_id: str, *, professional: str, approve: bool,
               message: str | None = None) -> RequestView:
        """The holder's answer to a pending request (see :mod:`broker.contact.decisions`)."""
        return decide(self.uow, actor, request_id, professional=professional, approve=approve,
                      message=message)

    def withdraw(self, actor: Actor, request_id: str, *, professional: str) -> RequestView:
        """The requester takes back a pending request."""
        actor = actor.acting_for(professional)
        now = self.core.now()
        session = self.session
        member(session, actor, professional)
        request = pending_request(session, actor, request_id, "requester", now)
        move(session, request, REQUEST_WITHDRAWN, now)
        record_event(session, actor, Event.CONTACT_WITHDRAWN, purpose=request.purpose,
                     details={"request_id": request.public_id})
        return request_view(session, request, [], actor)

    def get(self, actor: Actor, request_id: str, *, deliver: bool = True) -> RequestView:
        """A request, for either side's organisation (anyone else: not found). Unless
        ``deliver`` is False (the web, which opens links by the signed-in professional), the
        first read after approval hands over the tokens of the reader's links (once): it is
        the only door through which a token leaves the broker, so no stored answer (such as an
        idempotent replay) ever holds one."""
        session = self.session
        request = session.scalar(select(ContactRequest).filter_by(public_id=request_id))
        if (request is None or actor.organisation_id is None
                or actor.organisation_id not in (request.requester_org_id,
                                                 request.holder_org_id)):
            refuse_unknown(session, actor, request_id)
        delivered = (deliver_tokens(session, request, actor.organisation_id, self.core.now())
                     if deliver else [])
        record_event(session, actor, Event.CONTACT_REQUEST_VIEWED,
                     details={"request_id": request.public_id,
                              "links_delivered": [d.link_id for d in delivered]})
        return request_view(session, request, [d.token for d in delivered], actor)

    def expire(self, actor: Actor) -> int:
        """Expire pending requests past their time; returns how many."""
        now = self.core.now()
        session = self.session
        due = session.scalars(select(ContactRequest).where(
            ContactRequest.status == REQUEST_PENDING, ContactRequest.expires_at <= now)).all()
        expired = []
        for request in due:
            # Conditional, like steps.move: a request answered meanwhile stays answered.
            if changed(session,
                update(ContactRequest)
                .where(ContactRequest.id == request.id,
                       ContactRequest.status == REQUEST_PENDING)
                .values(status=REQUEST_EXPIRED, decided_at=now)
            ) == 1:
                expired.append(request)
        for request in expired:
            record_event(session, actor, Event.CONTACT_EXPIRED,
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
            event_id=lookup_id, event_type=Event.LOOKUP_PERFORMED,
            organisation_id=actor.organisation_id))
        if lookup is None or lookup.occurred_at < now - window:
            raise NotFound(_NO_MATCH)
        epoch = lookup.details.get("handle_epoch")
        shown = lookup.details.get("matched_involvements")
        if not isinstance(epoch, int) or not isinstance(shown, list):
            raise NotFound(_NO_MATCH)
        try:
            key = handle_key(self.core, epoch)
        except MissingKeyError:  # the look-up's key epoch is gone: its handles cannot be checked
            raise NotFound(_NO_MATCH) from None
        public_id = next((str(i) for i in shown
                          if match_handle(key, lookup_id, str(i)) == match_id), None)
        involvement = session.scalar(select(Involvement).filter_by(public_id=public_id or "",
                                                                   state=INVOLVEMENT_ACTIVE))
        if involvement is None:
            raise NotFound(_NO_MATCH)
        return lookup, involvement


class _RequestFields(TypedDict):
    """What a request's audit events say about it."""

    purpose: str
    legal_basis: str
    statute: str | None
    consent_reference: str | None
    justification: str | None
    vital_interest: bool
    policy_version: str
