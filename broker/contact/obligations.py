"""The contact hand-over's obligations: the executors that :mod:`broker.policy.obligations`
names for the stages ``contact_request`` and ``contact_decision``.

Rules this module guarantees:

- Each executor runs in the transaction of the contact service that reached its stage, and says
  whether it carried its obligation out; the service's audit event lists an obligation only
  then, and only at the step where it was carried out (``require_second_approver`` is a
  decision's obligation, never listed when a request is made).
- :func:`notify_holder_of_request` (``notify_holder``): the holder's contact professional is told
  of the request through the inbox and outbox: in approval mode with the ``contact_request``
  message (which they answer), in direct mode with the message about their own link, or, when
  the rule issues them none (``link_direction: one_way``), with the ``contact_request`` message.
  The message names the holder's side only (the request or their link), never the requester's
  case content.
- :func:`flag_request_for_review` (``flag_for_review``): every active auditor is told at once
  (``review_flag``, referencing the request's audit event), and that event carries
  ``flag_for_review`` so the auditors' search and reports find it.
- :func:`require_second_approver` (``require_second_approver``): contact is granted only after
  two different professionals of the holding organisation approve. The first approval is
  recorded on the request, which stays pending; the same professional approving again counts
  for nothing and is refused with a clear message. Each step is one conditional UPDATE of the
  request row, so two approvals at once by two people make exactly one first and one second
  approval, and the same person twice at once counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from broker.contact.common import changed
from broker.contact.models import REQUEST_PENDING, ContactRequest
from broker.errors import Conflict
from broker.notifications.services import notify, notify_auditors
from broker.registry.models import Involvement, Professional


def notify_holder_of_request(session: Session, request: ContactRequest, holder: Involvement,
                             holder_links: Sequence[str]) -> bool:
    """Tell the holder's contact professional of ``request`` (``holder_links``: the public ids
    of the links issued to them, in direct mode); True when a message was put in their inbox."""
    if request.mode == "direct" and holder_links:
        for link_id in holder_links:
            notify(session, professional_id=holder.professional_id, kind="link",
                   reference=link_id, organisation_id=holder.organisation_id)
    else:
        notify(session, professional_id=holder.professional_id, kind="contact_request",
               reference=request.public_id, organisation_id=holder.organisation_id)
    return True


def flag_request_for_review(session: Session, event_id: str) -> bool:
    """Tell every active auditor at once that the request's audit event ``event_id`` awaits
    review; True (the flag stands in the event even when no auditor account exists yet)."""
    notify_auditors(session, kind="review_flag", reference=event_id)
    return True


def require_second_approver(session: Session, request: ContactRequest, approver: Professional,
                            now: datetime) -> bool:
    """Count ``approver``'s approval of a pending request: False when it is the first (recorded;
    the request stays pending), True when another professional approved before (contact may be
    granted now). Raises Conflict when ``approver`` approved before, or when the request is no
    longer pending."""
    first = changed(session, update(ContactRequest)
                    .where(ContactRequest.id == request.id,
                           ContactRequest.status == REQUEST_PENDING,
                           ContactRequest.first_approver_id.is_(None))
                    .values(first_approver_id=approver.id, first_approved_at=now))
    # After the UPDATE (which waited for any concurrent one to commit) the row is current.
    session.refresh(request)
    if first == 1:
        return False
    if request.status != REQUEST_PENDING:
        raise Conflict("This contact request is %(status)s already.", status=request.status)
    if request.first_approver_id == approver.id:
        raise Conflict(
            "You approved this request already; the policy asks a second, different "
            "professional of your organisation to approve it too.")
    return True
