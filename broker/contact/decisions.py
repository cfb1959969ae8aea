"""The holder's answer to a contact request: approve or deny, with an optional message.

Rules this module guarantees:

- Only an active professional of the holding organisation answers, and only a pending request
  in its time; every refusal is clear, and an answer to another organisation's request is
  audited and answered as not found.
- The message is free text for the requester: at most :data:`MAX_MESSAGE_LENGTH` characters,
  no control characters, nothing shaped like a BSN, a postcode or a date
  (:func:`broker.freetext.check_free_text`); a refused message decides nothing and writes nothing.
- A denial by any professional of the holder ends the request (``contact:denied``).
- An approval checks the request's consent again (in force, for the purpose, about the same
  household, reaching the holder's type). Under ``require_second_approver`` the first approval
  is recorded (``contact:first_approval``) and the request stays pending; contact is granted when
  a second, different professional approves, and that grant's ``contact:approved`` event lists
  the obligation and both approvers. Without it one approval grants contact.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event
from broker.contact.models import REQUEST_APPROVED, REQUEST_DENIED, ContactRequest
from broker.contact.obligations import require_second_approver
from broker.contact.steps import (
    RequestView,
    grant,
    lookup_subjects,
    move,
    pending_request,
    record_grant,
    request_view,
)
from broker.core import Core, UnitOfWork
from broker.errors import required
from broker.freetext import check_free_text
from broker.notifications.services import notify
from broker.policy.model import REQUIRE_SECOND_APPROVER
from broker.registry.common import member
from broker.registry.consents import consent_in_force, household_values
from broker.registry.models import Consent, Organisation, Professional

MAX_MESSAGE_LENGTH = 2000


def decide(uow: UnitOfWork, actor: Actor, request_id: str, *, professional: str, approve: bool,
           message: str | None = None) -> RequestView:
    """The holder's answer to a pending request; an approval that completes the approvals the
    rule demands issues the links."""
    core = uow.core
    message = check_free_text(message, field="The message",
                              max_length=MAX_MESSAGE_LENGTH)
    now = core.now()
    actor = actor.acting_for(professional)
    session = uow.session
    decider = member(session, actor, professional)
    request = pending_request(session, actor, request_id, "holder", now)
    subjects = lookup_subjects(session, request.lookup_id)
    if not approve:
        move(session, request, REQUEST_DENIED, now, decided_by_id=decider.id)
        if message is not None:
            request.decision_message = message
        record_event(session, actor, Event.CONTACT_DENIED, purpose=request.purpose,
                     legal_basis=request.legal_basis, subjects=subjects,
                     details={"request_id": request.public_id})
        notify(session, professional_id=request.requester_id, kind="decision",
               reference=request.public_id, organisation_id=request.requester_org_id)
        return request_view(session, request, [], actor)
    _check_consent(core, session, request, subjects)
    if REQUIRE_SECOND_APPROVER in request.obligations:
        if not require_second_approver(session, request, decider, now):
            if message is not None:
                request.decision_message = message
            record_event(session, actor, Event.CONTACT_FIRST_APPROVAL, purpose=request.purpose,
                         legal_basis=request.legal_basis, rule_id=request.rule_id,
                         policy_version=request.policy_version, subjects=subjects,
                         obligations=[REQUIRE_SECOND_APPROVER],
                         details={"request_id": request.public_id, "approvals": 1,
                                  "approvals_required": 2})
            return request_view(session, request, [], actor)
        first = required(session.get(Professional, request.first_approver_id),
                         "the first approver")
        # The second approver must differ from the first, even against a race.
        move(session, request, REQUEST_APPROVED, now,
             ContactRequest.first_approver_id == first.id,
             ContactRequest.first_approver_id != decider.id, decided_by_id=decider.id)
        approvers, carried = [first.username, decider.username], [REQUIRE_SECOND_APPROVER]
    else:
        move(session, request, REQUEST_APPROVED, now, decided_by_id=decider.id)
        approvers, carried = [decider.username], []
    if message is not None:
        request.decision_message = message
    granted = grant(session, request, core.policy().retention.contact_link_days, now)
    record_grant(session, actor, request, granted, subjects,
                 approved_by=[f"professional:{name}" for name in approvers],
                 obligations=carried)
    return request_view(session, request, [], actor)


def _check_consent(core: Core, session: Session, request: ContactRequest,
                   subjects: list[Subject]) -> None:
    """A request made on consent is granted only while that consent still carries it."""
    if request.consent_id is None:
        return
    consent = required(session.get(Consent, request.consent_id), "the request's consent")
    holder_org = required(session.get(Organisation, request.holder_org_id),
                          "the holder's organisation")
    consent_in_force(session, organisation_id=request.requester_org_id,
                     reference=consent.public_id, purpose=request.purpose,
                     household=household_values(core, session, subjects),
                     today=core.today()).require_reach(holder_org.org_type)
