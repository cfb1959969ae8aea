"""Retention of the registry: expired involvements become history, kept for the policy's
``history_years`` and then purged — deleted with their matching keys, not hidden."""

from __future__ import annotations

from sqlalchemy import delete, select

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.registry.common import ServiceBase
from broker.registry.models import (
    INVOLVEMENT_ACTIVE,
    INVOLVEMENT_ENDED,
    Involvement,
    MatchingKey,
)


class Retention(ServiceBase):
    """The registry's retention, run daily by ``broker purge``."""

    def purge(self, actor: Actor) -> dict[str, int]:
        """Move expired involvements to the history; delete history past its retention."""
        today = self.core.today()
        session = self.session
        expired = session.scalars(
            select(Involvement).where(
                Involvement.state == INVOLVEMENT_ACTIVE, Involvement.ends_on < today
            )
        ).all()
        for involvement in expired:
            self._move_to_history(involvement, "expired", ended_on=involvement.ends_on)
            record_event(
                session, actor, Event.INVOLVEMENT_EXPIRED,
                organisation_id=involvement.organisation_id, purpose=involvement.purpose,
                details={"involvement_id": involvement.public_id},
            )
        old = session.execute(
            select(Involvement.id, Involvement.public_id, Involvement.organisation_id).where(
                Involvement.state == INVOLVEMENT_ENDED, Involvement.history_until < today
            )
        ).all()
        for _, public_id, organisation_id in old:
            record_event(
                session, actor, Event.INVOLVEMENT_PURGED, organisation_id=organisation_id,
                details={"involvement_id": public_id},
            )
        ids = [row[0] for row in old]
        if ids:
            session.execute(delete(MatchingKey).where(MatchingKey.involvement_id.in_(ids)))
            session.execute(delete(Involvement).where(Involvement.id.in_(ids)))
        return {"expired": len(expired), "purged": len(ids)}
