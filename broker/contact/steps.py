"""What the contact services share about one request: finding it for one side, moving it on,
granting contact, and showing it.

Rules this module guarantees:

- Another organisation's request (or none) is refused as not found, and the refusal is audited.
- A request moves from pending by one conditional UPDATE (:func:`move`), so of two answers at
  once only one wins; a request past its time expires on the spot, whatever the caller wanted.
- Granting contact issues the rule's links (:func:`grant`); the grant's audit events (approved,
  each link issued) and the notifications to both sides follow in the same transaction
  (:func:`record_grant`).
- A view shows either side who asks and why, never case content; only the holder's side sees
  which of its own professionals approved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor, Subject, record_event
from broker.contact.common import changed
from broker.contact.links import IssuedLink, issue_links
from broker.contact.models import (
    REQUEST_APPROVED,
    REQUEST_EXPIRED,
    REQUEST_PENDING,
    ContactLink,
    ContactRequest,
)
from broker.core import unit_of
from broker.errors import Conflict, NotFound, required
from broker.notifications.services import notify
from broker.policy.model import REQUIRE_SECOND_APPROVER
from broker.registry.models import Consent, Involvement, Organisation, Professional


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
    # How many of the holder's professionals must approve (0: granted directly; 2 under
    # require_second_approver), and, for the holder's side only, who approved so far.
    approvals_required: int = 1
    approved_by: list[str] = field(default_factory=list)
    # For the holder's side only: which of its own involvements the request concerns (by its
    # own case reference; None when it gave none), and on the consent basis the consent's
    # scope: who gave it, until when, for which purposes and kinds of organisation.
    holder_case_reference: str | None = None
    holder_involvement_id: str | None = None
    statute: str | None = None
    consent: ConsentScopeView | None = None


@dataclass(frozen=True)
class ConsentScopeView:
    """The consent a request rests on, as its holder sees it (never whose consent)."""

    given_by: str
    given_on: date
    valid_until: date
    purposes: list[str]
    holder_types: list[str]
    withdrawn: bool


@dataclass(frozen=True)
class Granted:
    """Contact granted on a request: the links issued, and the two professionals."""

    links: list[IssuedLink]
    holder: Professional
    requester: Professional


def refuse_unknown(session: Session, actor: Actor, request_id: str) -> NoReturn:
    """Another organisation's (or no) request: logged, and answered as not found."""
    unit_of(session).refuse(
        NotFound("There is no such contact request for your organisation."),
        actor, Event.CONTACT_REQUEST_VIEWED, reason="unknown_or_foreign",
        details={"request_id": request_id[:64]})


def pending_request(session: Session, actor: Actor, request_id: str, side: str,
                    now: datetime) -> ContactRequest:
    """A pending request of the actor's side (``holder`` or ``requester``), or a refusal: not
    ours (audited, not found), no longer pending, or past its time (then it expires now)."""
    request = session.scalar(select(ContactRequest).filter_by(public_id=request_id))
    owner = (request.holder_org_id if side == "holder" else request.requester_org_id
             ) if request else None
    if request is None or owner is None or owner != actor.organisation_id:
        refuse_unknown(session, actor, request_id)
    if request.status == REQUEST_PENDING and request.expires_at <= now:
        # It expires now, whatever the caller wanted: the expiry is what this request keeps.
        work = unit_of(session)
        work.undo()
        move(session, request, REQUEST_EXPIRED, now)
        work.record(actor, Event.CONTACT_EXPIRED, organisation_id=request.requester_org_id,
                    details={"request_id": request.public_id})
        raise Conflict("This contact request has expired.")
    if request.status != REQUEST_PENDING:
        _already(request)
    return request


def move(session: Session, request: ContactRequest, status: str, now: datetime,
         *conditions: ColumnElement[bool], **values: Any) -> None:
    """Move a pending request to ``status`` (setting ``values`` too) by one conditional UPDATE
    that also demands ``conditions``; Conflict when the request is no longer pending."""
    if changed(session, update(ContactRequest)
               .where(ContactRequest.id == request.id, ContactRequest.status == REQUEST_PENDING,
                      *conditions)
               .values(status=status, decided_at=now, **values)) != 1:
        session.refresh(request)
        _already(request)
    session.refresh(request)


def _already(request: ContactRequest) -> NoReturn:
    raise Conflict("This contact request is %(status)s already.", status=request.status)


def grant(session: Session, request: ContactRequest, days: int, now: datetime) -> Granted:
    """Issue the links of an approved request (no events yet: see :func:`record_grant`)."""
    holder_involvement = session.get(Involvement, request.holder_involvement_id)
    if holder_involvement is None:
        raise Conflict("The holder's involvement has ended; no contact can be made.")
    holder = required(session.get(Professional, holder_involvement.professional_id),
                      "the holder's professional")
    requester = required(session.get(Professional, request.requester_id), "the requester")
    return Granted(issue_links(session, request, holder, requester, days, now), holder,
                   requester)


def record_grant(session: Session, actor: Actor, request: ContactRequest, granted: Granted,
                 subjects: list[Subject], *, approved_by: Sequence[str] = (),
                 obligations: Sequence[str] = (), tell_holder: bool = True) -> None:
    """The grant's audit events (``contact:approved``, each ``contact:link_issued``) and
    notifications: each side of its link (the holder only when ``tell_holder``; otherwise an
    obligation's executor told it), and the requester of the decision."""
    record_event(session, actor, Event.CONTACT_APPROVED, purpose=request.purpose,
                 legal_basis=request.legal_basis, rule_id=request.rule_id,
                 policy_version=request.policy_version, subjects=subjects,
                 obligations=obligations,
                 details={"request_id": request.public_id, "direct": not approved_by,
                          **({"approved_by": list(approved_by)} if approved_by else {})})
    for link in granted.links:
        record_event(session, actor, Event.CONTACT_LINK_ISSUED, purpose=request.purpose,
                     rule_id=request.rule_id,
                     details={"link_id": link.link_id, "request_id": request.public_id,
                              "fields": sorted(request.link_fields)})
        viewer = granted.requester if link.issued_to_id == granted.requester.id else granted.holder
        if viewer is granted.requester or tell_holder:
            notify(session, professional_id=viewer.id, kind="link", reference=link.link_id,
                   organisation_id=viewer.organisation_id)
    notify(session, professional_id=granted.requester.id, kind="decision",
           reference=request.public_id, organisation_id=granted.requester.organisation_id)


def lookup_subjects(session: Session, lookup_id: str) -> list[Subject]:
    """The household keys of the look-up behind a request, so that the request shows up in a
    subject access report too (and its consent can be checked against them)."""
    lookup = session.scalar(select(AuditEvent.id).filter_by(event_id=lookup_id))
    if lookup is None:
        return []
    return [Subject(s.category, s.value, s.oprf_epoch, s.broker_epoch) for s in session.scalars(
        select(AuditSubject).filter_by(event_id=lookup))]


def approvals_required(request: ContactRequest) -> int:
    """How many professionals of the holder must approve ``request``."""
    if request.mode == "direct":
        return 0
    return 2 if REQUIRE_SECOND_APPROVER in request.obligations else 1


def request_view(session: Session, request: ContactRequest, tokens: list[str],
                 actor: Actor) -> RequestView:
    """``request`` as the actor's side sees it."""
    org = required(session.get(Organisation, request.requester_org_id),
                   "the requester's organisation")
    requester = required(session.get(Professional, request.requester_id), "the requester")
    side = "requester" if actor.organisation_id == request.requester_org_id else "holder"
    link_ids = list(session.scalars(select(ContactLink.public_id).filter_by(
        request_id=request.id, issued_to_org_id=actor.organisation_id)))
    approvers = [request.first_approver_id] if request.first_approver_id else []
    last = request.decided_by_id
    if request.status == REQUEST_APPROVED and last is not None and last not in approvers:
        approvers.append(last)
    approved_by = [] if side != "holder" else [
        p.username for p in (session.get(Professional, i) for i in approvers) if p is not None]
    holder_involvement = (session.get(Involvement, request.holder_involvement_id)
                          if side == "holder" and request.holder_involvement_id else None)
    consent = session.get(Consent, request.consent_id) if request.consent_id else None
    return RequestView(request.public_id, request.status, request.mode, request.purpose,
                       request.legal_basis, org.name, requester.role, request.created_at,
                       request.expires_at, request.decision_message, side, link_ids, tokens,
                       approvals_required(request), approved_by,
                       holder_involvement.case_reference if holder_involvement else None,
                       holder_involvement.public_id if holder_involvement else None,
                       request.statute,
                       ConsentScopeView(consent.given_by, consent.given_on, consent.valid_until,
                                        list(consent.purposes), list(consent.holder_types),
                                        consent.withdrawn_at is not None)
                       if consent is not None and side == "holder" else None)
