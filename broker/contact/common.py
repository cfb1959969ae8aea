"""What the contact services share."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, select
from sqlalchemy.orm import Session

from broker.audit.services import Actor
from broker.errors import ValidationError
from broker.registry.models import ACCESS_PROFESSIONAL, Professional


def member(session: Session, actor: Actor, username: str) -> Professional:
    """The active professional ``username`` of the actor's organisation, or a refusal that
    does not say whether the name exists elsewhere."""
    person = session.scalar(select(Professional).filter_by(
        username=username, organisation_id=actor.organisation_id, active=True,
        access_role=ACCESS_PROFESSIONAL))
    if person is None:
        raise ValidationError(
            "The professional must be an active member of your organisation.",
            "De professional moet een actieve medewerker van uw organisatie zijn.")
    return person


def changed(session: Session, statement: Executable) -> int:
    """Run a conditional UPDATE; the number of rows it changed (0: the condition no longer
    held, someone else got there first)."""
    result = cast(CursorResult[Any], session.execute(
        statement, execution_options={"synchronize_session": False}))
    return int(result.rowcount)
