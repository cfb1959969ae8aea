"""The state of the outbox, per channel, for the operator (``broker notify status``).

A read: it counts messages and names no one. "Due" is measured by the wall clock, the clock
:func:`broker.notifications.services.notify` queues by and
:func:`broker.notifications.delivery.deliver_due` delivers by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from broker.core import UnitOfWork
from broker.notifications.models import OutboxMessage


@dataclass(frozen=True)
class ChannelStatus:
    """How many messages of one channel wait (and how many of those are due now), were
    delivered or were given up, and since when the oldest waits (None: none waits)."""

    channel: str
    waiting: int
    due: int
    delivered: int
    given_up: int
    oldest_waiting_since: datetime | None


def outbox_status(uow: UnitOfWork) -> list[ChannelStatus]:
    """The outbox's state per channel, in the order of the channels' names (none: empty)."""
    outbox = OutboxMessage
    waiting = outbox.delivered_at.is_(None) & outbox.failed_at.is_(None)
    now = uow.now()
    rows = uow.session.execute(
        select(outbox.channel,
               func.count(case((waiting, 1))),
               func.count(case((waiting & (outbox.next_attempt_at <= now), 1))),
               func.count(outbox.delivered_at), func.count(outbox.failed_at),
               func.min(case((waiting, outbox.created_at))))
        .group_by(outbox.channel).order_by(outbox.channel)).all()
    return [ChannelStatus(*row) for row in rows]
