"""Stored answers of idempotent API requests, kept for :data:`KEEP_DAYS` and then purged
(``broker purge``); the door that stores and replays them is :mod:`broker.api.idempotency`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete

from broker.audit.events import Event
from broker.audit.services import Actor
from broker.callers.models import IdempotencyRecord
from broker.core import UnitOfWork

# Long enough for a case system to retry a whole interrupted sync the next working day.
KEEP_DAYS = 7


def purge_records(uow: UnitOfWork, actor: Actor) -> int:
    """Delete stored answers older than :data:`KEEP_DAYS`; returns how many."""
    cutoff = uow.now() - timedelta(days=KEEP_DAYS)
    result = uow.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    deleted = cast(CursorResult[Any], result).rowcount
    if deleted:
        uow.record(actor, Event.API_IDEMPOTENCY_PURGED,
                   details={"records": deleted, "older_than_days": KEEP_DAYS})
    return int(deleted or 0)
