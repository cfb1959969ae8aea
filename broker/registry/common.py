"""What the registry's services share: the request's unit of work, and the look-ups and checks
every use case makes (an organisation or professional by name, acting for one's own
organisation, an own involvement, a contact professional), whose refusals are audited alike."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broker.audit.events import Event
from broker.audit.services import Actor
from broker.core import UnitOfWork, unit_of
from broker.errors import Conflict, Forbidden, NotFound, ValidationError
from broker.registry.models import (
    ACCESS_PROFESSIONAL,
    INVOLVEMENT_ACTIVE,
    INVOLVEMENT_ENDED,
    Involvement,
    Organisation,
    Professional,
)
from broker.registry.periods import add_months, add_years


def member(session: Session, actor: Actor, username: str) -> Professional:
    """The active professional ``username`` of the actor's organisation, or a refusal that
    does not say whether the name exists elsewhere."""
    person = session.scalar(select(Professional).filter_by(
        username=username, organisation_id=actor.organisation_id, active=True,
        access_role=ACCESS_PROFESSIONAL))
    if person is None:
        raise ValidationError("The professional must be an active member of your organisation.")
    return person


class ServiceBase:
    """The unit of work a registry service runs in, and the checks its use cases share."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    @staticmethod
    def _contact(session: Session, actor: Actor, org: Organisation, username: str
                 ) -> Professional:
        # Unknown, another organisation's and inactive professionals get one answer, which does
        # not repeat the name: the API must not let callers enumerate other organisations' staff.
        # Every such refusal is an audit event, committed with the answer; the name itself is
        # recorded only as the id of an existing professional (a made-up name may be anything).
        # The person's organisation is ``org``, already in the session: no query loads it again.
        person = session.scalar(
            select(Professional).filter_by(username=username, organisation_id=org.id,
                                           active=True, access_role=ACCESS_PROFESSIONAL)
        )
        if person is None:
            named = session.scalar(select(Professional).filter_by(username=username))
            foreign = named is not None and named.organisation_id != org.id
            unit_of(session).refuse(
                ValidationError("The professional must be an active member of your organisation."),
                actor, Event.PROFESSIONAL_ACTING_REFUSED,
                reason="another_organisation" if foreign else "unknown_or_inactive",
                organisation_id=org.id,
                details={"professional_id": named.id} if named is not None else {},
            )
        return person

    def _check_end(self, today: date, ends_on: date | None) -> date:
        """The policy's default end, or ``ends_on`` if it lies within the policy's maximum."""
        retention = self.core.policy().retention
        if ends_on is None:
            return add_months(today, retention.involvement_default_months)
        months = retention.involvement_max_months
        latest = add_months(today, months)
        if ends_on < today or ends_on > latest:
            raise ValidationError(
                "The end date must lie between today and %(months)s months from today "
                "(%(latest)s).",
                months=months, latest=latest.isoformat())
        return ends_on

    def _move_to_history(
        self, involvement: Involvement, reason: str, ended_on: date | None = None
    ) -> None:
        end = ended_on or self.core.today()
        involvement.state = INVOLVEMENT_ENDED
        involvement.ended_at = self.core.now()
        involvement.end_reason = reason
        involvement.ends_on = min(involvement.ends_on, end)
        involvement.history_until = add_years(end, self.core.policy().retention.history_years)

    @staticmethod
    def _require_active(involvement: Involvement) -> None:
        if involvement.state != INVOLVEMENT_ACTIVE:
            raise Conflict("This involvement has already ended; register a new one instead.")

    @staticmethod
    def _check_acting_for(actor: Actor, organisation_id: int) -> None:
        if actor.organisation_id is not None and actor.organisation_id != organisation_id:
            raise Forbidden("You can only act on behalf of your own organisation.")

    @staticmethod
    def _organisation(session: Session, identifier: str) -> Organisation:
        org = session.scalar(select(Organisation).filter_by(identifier=identifier))
        if org is None:
            raise ServiceBase._no_organisation(identifier)
        return org

    @staticmethod
    def _no_organisation(identifier: str) -> NotFound:
        return NotFound(
            "There is no organisation with code %(identifier)s; see: broker org list",
            identifier=repr(identifier))

    @staticmethod
    def _professional(session: Session, username: str) -> Professional:
        person = session.scalar(
            select(Professional).filter_by(username=username)
            .options(selectinload(Professional.organisation))
        )
        if person is None:
            raise NotFound(
                "There is no professional with user name %(username)s; see: broker professional "
                "list",
                username=repr(username))
        return person

    @staticmethod
    def _own_involvement(session: Session, actor: Actor, involvement_id: str, *,
                         operation: str = "access") -> Involvement:
        involvement = session.scalar(
            select(Involvement).filter_by(public_id=involvement_id)
            .options(selectinload(Involvement.organisation),
                     selectinload(Involvement.professional),
                     selectinload(Involvement.matching_keys))
        )
        # Another organisation's involvement is reported as not found: its existence is
        # itself something the caller may not learn. Both refusals are audit events (the unit of
        # work keeps the refusal and nothing else); a made-up id is not recorded.
        foreign = involvement is not None and actor.organisation_id not in (
            None, involvement.organisation_id)
        if involvement is None or foreign:
            details = {"operation": operation}
            if involvement is not None:
                details["involvement_id"] = involvement.public_id
            unit_of(session).refuse(
                NotFound("There is no such involvement of your organisation."),
                actor, Event.INVOLVEMENT_ACCESS_REFUSED,
                reason="another_organisation" if foreign else "unknown", details=details)
        return involvement
