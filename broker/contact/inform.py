"""The duty to inform (AVG art. 14): was the household told of the registration, or why not yet?

Parents of a child under 16 and a young person of 12 or older must be informed that an
organisation registered its involvement; informing may be postponed, with a recorded reason, for
as long as telling would harm the person or the work (Verwijsindex practice, AVG art. 14 lid 5
and art. 23). Rules this module guarantees:

- Only the involvement's own organisation records, for an active involvement; anyone else gets
  the same "not found" as for an involvement that does not exist.
- Informed on a date: not in the future and not before the involvement started. Recording it
  ends any postponement (the reason is cleared from the involvement; the audit log keeps it
  until its retention erases it).
- Postponed: a written reason of at least :data:`MIN_REASON_LENGTH` characters, until a date
  after today and not after the involvement's end. The reason may hold personal details, so it
  goes into the audit event as its ``justification``, outside the hashed content.
- From the postponement's date on, an uninformed active involvement is due for review: one run
  of :meth:`InformService.remind_due` notifies its contact professional once for that date
  (``inform_review_due``); a new postponement gives a new date and so a new reminder.
- Every change and every reminder is an audit event in the transaction of the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.core import UnitOfWork
from broker.errors import Conflict, Forbidden, ValidationError
from broker.notifications.services import notify
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement
from broker.registry.services import RegistryService

MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 500  # the column's size


@dataclass(frozen=True)
class InformStatus:
    """Where an involvement stands with the duty to inform; for its own organisation only."""

    involvement_id: str
    state: str  # informed | postponed | unknown
    informed_on: date | None
    postponed_until: date | None
    postponed_reason: str | None
    reminded_on: date | None

    @classmethod
    def of(cls, involvement: Involvement) -> InformStatus:
        """The status recorded on ``involvement``."""
        state = ("informed" if involvement.informed_on is not None
                 else "postponed" if involvement.inform_postponed_until is not None
                 else "unknown")
        return cls(involvement.public_id, state, involvement.informed_on,
                   involvement.inform_postponed_until, involvement.inform_postponed_reason,
                   involvement.inform_reminded_on)


def own_involvement(session: Session, actor: Actor, involvement_id: str, today: date
                    ) -> Involvement:
    """The actor's organisation's active, unexpired involvement ``involvement_id``.

    Another organisation's involvement is "not found" (its existence is not the caller's to
    learn); an actor acting for no organisation is refused outright.
    """
    if actor.organisation_id is None:
        raise Forbidden("Only the involved organisation itself can do this.")
    involvement = RegistryService._own_involvement(session, actor, involvement_id)
    if involvement.state != INVOLVEMENT_ACTIVE or involvement.ends_on < today:
        raise Conflict("This involvement has ended.")
    return involvement


class InformService:
    """Recording that the household was informed, postponing it, and reminding when due."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def status(self, actor: Actor, involvement_id: str) -> InformStatus:
        """The duty-to-inform status of one of the actor's organisation's involvements."""
        session = self.session
        return InformStatus.of(own_involvement(session, actor, involvement_id,
                                               self.core.today()))

    def record_informed(self, actor: Actor, involvement_id: str, *, informed_on: date
                        ) -> InformStatus:
        """Record that the household was informed on ``informed_on``; ends a postponement."""
        today = self.core.today()
        session = self.session
        involvement = own_involvement(session, actor, involvement_id, today)
        if not involvement.starts_on <= informed_on <= today:
            raise ValidationError(
                "The date informed must lie between the start of the involvement "
                "(%(starts_on)s) and today.",
                starts_on=involvement.starts_on.isoformat())
        previous = involvement.informed_on
        involvement.informed_on = informed_on
        involvement.inform_postponed_reason = None
        involvement.inform_postponed_until = None
        involvement.inform_reminded_on = None
        record_event(session, actor, Event.INVOLVEMENT_INFORM_RECORDED,
                     organisation_id=involvement.organisation_id,
                     purpose=involvement.purpose,
                     details={"involvement_id": involvement.public_id, "state": "informed",
                              "informed_on": informed_on.isoformat(),
                              "previous_informed_on":
                                  previous.isoformat() if previous else None})
        return InformStatus.of(involvement)

    def postpone(self, actor: Actor, involvement_id: str, *, reason: str, until: date
                 ) -> InformStatus:
        """Postpone informing the household until ``until``, for the written ``reason``."""
        today = self.core.today()
        reason = " ".join(reason.split())
        if not MIN_REASON_LENGTH <= len(reason) <= MAX_REASON_LENGTH:
            raise ValidationError(
                "Write down why informing is postponed, in %(min_reason_length)s to "
                "%(max_reason_length)s characters.",
                code="reason", min_reason_length=MIN_REASON_LENGTH,
                max_reason_length=MAX_REASON_LENGTH)
        session = self.session
        involvement = own_involvement(session, actor, involvement_id, today)
        if involvement.informed_on is not None:
            raise Conflict("The household has already been informed.")
        if not today < until <= involvement.ends_on:
            raise ValidationError(
                "Postpone until a date after today and no later than the end of the involvement "
                "(%(ends_on)s).",
                ends_on=involvement.ends_on.isoformat())
        previous = involvement.inform_postponed_until
        involvement.inform_postponed_reason = reason
        involvement.inform_postponed_until = until
        involvement.inform_reminded_on = None
        record_event(session, actor, Event.INVOLVEMENT_INFORM_RECORDED,
                     organisation_id=involvement.organisation_id,
                     purpose=involvement.purpose, justification=reason,
                     details={"involvement_id": involvement.public_id, "state": "postponed",
                              "postponed_until": until.isoformat(),
                              "previous_postponed_until":
                                  previous.isoformat() if previous else None})
        return InformStatus.of(involvement)

    def remind_due(self, actor: Actor) -> int:
        """Remind the contact professional of every uninformed active involvement whose
        postponement date has come, once per date; returns how many were reminded."""
        today = self.core.today()
        not_yet_reminded = or_(Involvement.inform_reminded_on.is_(None),
                               Involvement.inform_reminded_on < Involvement.inform_postponed_until)
        session = self.session
        due = session.execute(
            select(Involvement.id, Involvement.public_id, Involvement.organisation_id,
                   Involvement.professional_id, Involvement.purpose,
                   Involvement.inform_postponed_until)
            .where(Involvement.state == INVOLVEMENT_ACTIVE, Involvement.ends_on >= today,
                   Involvement.informed_on.is_(None),
                   Involvement.inform_postponed_until <= today, not_yet_reminded)
            .order_by(Involvement.id)).all()
        reminded = 0
        for row_id, public_id, organisation_id, professional_id, purpose, until in due:
            # Claim the reminder in the statement that writes it, so that two concurrent
            # runs cannot both remind (the second one's WHERE no longer matches).
            claimed = cast(CursorResult[Any], session.execute(
                update(Involvement)
                .where(Involvement.id == row_id, Involvement.informed_on.is_(None),
                       not_yet_reminded)
                .values(inform_reminded_on=today)
                .execution_options(synchronize_session=False)))
            if claimed.rowcount != 1:
                continue
            notify(session, professional_id=professional_id, kind="inform_review_due",
                   reference=public_id, organisation_id=organisation_id)
            record_event(session, actor, Event.INVOLVEMENT_INFORM_REMINDED,
                         organisation_id=organisation_id, purpose=purpose,
                         details={"involvement_id": public_id,
                                  "postponed_until": until.isoformat() if until else None,
                                  "professional_id": professional_id})
            reminded += 1
        return reminded
