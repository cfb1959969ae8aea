"""Refusals nobody answers for, counted: one audit event per source network and minute.

Anyone can send the broker a request without a valid signature, or a form without its CSRF token.
Writing an event for each would let strangers grow the permanent, hash-chained log at will. So a
refusal *before* the caller is authenticated is counted instead (issue 11); a refusal of an
authenticated caller stays an event of its own, written by the code that refuses.

Rules this module guarantees:

1. :func:`count_refusal` adds one to a counter row (minute, source network, door, reason, and
   the key id only when that key's signature verified, e.g. a replay) with one statement; it
   never appends an event. Every part of that row key is bounded: the minute, a network cut to
   /24 or /48 (``truncate_address``), the door (``api`` or ``web``), one of the broker's reason
   codes and a key id the broker issued. Nothing the caller chose in free text is kept.
2. :func:`flush_tallies` (the housekeeping job of ``broker worker``, every ten seconds) turns the
   counters of each minute that is over into one event ``auth:unauthenticated_refused`` per
   minute and network: actor ``unauthenticated``, outcome ``refused``, the network as the
   event's source address (a personal detail: outside the hash, erased by retention), and in its
   details the minute, the total and the count per door and reason (and per verified key id).
3. Taking the counters (DELETE … RETURNING) and appending their events is one transaction: of
   two processes flushing at once, one gets the rows and writes the events, the other gets
   nothing; a count is neither lost nor written twice. A counter added late to a minute already
   written (clocks of two hosts differ) becomes a second event for that minute, not a lost count.
4. On PostgreSQL a count commits without waiting for its WAL flush (``synchronous_commit off``
   for that one transaction), so a flood of refusals from one network cannot queue the workers
   behind one row's lock; a database crash can lose the last fraction of a second of counts,
   never an event of the log.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, String, Table, UniqueConstraint, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.core import Core, UnitOfWork
from broker.db import Base, UTCDateTime

EVENT_TYPE = Event.AUTH_UNAUTHENTICATED_REFUSED
UNKNOWN_NETWORK = "unknown"
DOORS = ("api", "web")


class RefusalTally(Base):
    """How many requests from one network were refused for one reason in one minute."""

    __tablename__ = "refusal_tallies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime)  # first in the unique key
    network: Mapped[str] = mapped_column(String(64))
    door: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(100))  # "" unless the key's signature verified
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("minute", "network", "door", "reason", "key_id"),)


_TALLIES = cast(Table, RefusalTally.__table__)
_KEY = [_TALLIES.c.minute, _TALLIES.c.network, _TALLIES.c.door, _TALLIES.c.reason,
        _TALLIES.c.key_id]


def _count_statement(insert: Any) -> Any:
    statement = insert(_TALLIES)
    return statement.on_conflict_do_update(index_elements=_KEY,
                                           set_={"count": _TALLIES.c.count + 1})


_COUNT = {"postgresql": _count_statement(postgresql.insert),
          "sqlite": _count_statement(sqlite.insert)}


def minute_of(moment: datetime) -> datetime:
    """The start of the minute ``moment`` falls in."""
    return moment.replace(second=0, microsecond=0)


def count_refusal(uow: UnitOfWork, *, network: str | None, door: str, reason: str,
                  key_id: str | None = None) -> None:
    """Count one refusal of an unauthenticated request (rule 1) in the request's unit of work,
    as its refusal's record (everything else the request wrote is undone); no event."""
    if door not in DOORS:
        raise ValueError(f"unknown door {door!r}")
    row = {"minute": minute_of(uow.now()), "network": network or UNKNOWN_NETWORK, "door": door,
           "reason": reason[:64], "key_id": key_id or "", "count": 1}
    uow.undo()
    connection = uow.connection
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")  # rule 4
    connection.execute(_COUNT[connection.dialect.name].values(**row))


def flush_tallies(core: Core) -> int:
    """Write one event per network for every minute that is over (rules 2 and 3); how many."""
    cutoff = minute_of(core.now())
    with core.engine.begin() as connection:
        taken = connection.execute(
            delete(_TALLIES).where(_TALLIES.c.minute < cutoff)
            .returning(_TALLIES.c.minute, _TALLIES.c.network, _TALLIES.c.door,
                       _TALLIES.c.reason, _TALLIES.c.key_id, _TALLIES.c.count)
        ).all()
        groups: dict[tuple[datetime, str], list[Any]] = defaultdict(list)
        for row in taken:
            groups[(row.minute, row.network)].append(row)
        for (minute, network), rows in sorted(groups.items()):
            reasons: dict[str, int] = defaultdict(int)
            keys: dict[str, int] = defaultdict(int)
            for row in rows:
                reasons[f"{row.door} {row.reason}"] += row.count
                if row.key_id:
                    keys[row.key_id] += row.count
            details: dict[str, object] = {
                "minute": minute.strftime("%Y-%m-%dT%H:%MZ"),
                "count": sum(reasons.values()),
                "reasons": dict(sorted(reasons.items())),
            }
            if keys:
                details["verified_keys"] = dict(sorted(keys.items()))
            actor = Actor(actor="unauthenticated", channel="system",
                          source_address=None if network == UNKNOWN_NETWORK else network)
            record_event(connection, actor, EVENT_TYPE, outcome="refused",
                         reason="counted per source network and minute", details=details)
    return len(groups)

