"""An organisation's own involvements, as its professionals see them on the web's "My
involvements" page: active and not yet ended, soonest end first. Nothing of another
organisation; no matching key leaves the registry (InvolvementInfo carries only their count)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from broker.audit.services import Actor
from broker.core import UnitOfWork
from broker.errors import Forbidden
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement
from broker.registry.results import InvolvementInfo


def own_involvements(uow: UnitOfWork, actor: Actor) -> list[InvolvementInfo]:
    """The actor's organisation's active involvements that have not passed their end date."""
    if actor.organisation_id is None:
        raise Forbidden("Only an organisation has involvements.")
    rows = uow.session.scalars(
        select(Involvement)
        .filter(Involvement.organisation_id == actor.organisation_id,
                Involvement.state == INVOLVEMENT_ACTIVE,
                Involvement.ends_on >= uow.core.today())
        .order_by(Involvement.ends_on, Involvement.id)
        .options(selectinload(Involvement.organisation), selectinload(Involvement.professional),
                 selectinload(Involvement.matching_keys)))
    return [InvolvementInfo.of(row) for row in rows]
