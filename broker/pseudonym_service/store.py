"""The pseudonym service's own database: daily counts, its trail of evaluations, used nonces.

Rules this module guarantees:

- The service stores no element, blinded or evaluated, and no identifier: its trail is one row
  per organisation and Dutch calendar day (``evaluations``, the day's granted total, and
  ``refused``, the refused batches' total) and, per batch, when, which organisation, which
  client key, how many, which key epoch and whether it was granted.
- The quota is counted and checked in one statement (a conditional upsert, as the broker's
  :mod:`broker.pseudonyms.quota` does), so concurrent workers share it, a batch is granted whole
  or not at all, and a restart resets nothing. The grant, its trail row and the request's nonce
  commit together, before the evaluated elements leave.
- Each step of a rotation of ``k`` (the next key prepared, then made current) is a row of
  ``key_events`` (when, which client key, which step, from and to which epoch), written before
  the step changes a key file, so no step happens unrecorded.
- A nonce is accepted once per client key while its signature could be accepted (the table's
  primary key decides; a row whose signature expired is taken over).
- A database that cannot answer raises, and the caller answers 503 (fail closed).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
)

from broker.db import UTCDateTime, make_engine
from broker.pseudonyms.quota import INSERTS, quota_upsert

metadata = MetaData()

daily_counts = Table(
    "evaluation_days", metadata,
    Column("organisation", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("evaluations", Integer, nullable=False, default=0),
    Column("refused", Integer, nullable=False, default=0),
)

trail = Table(
    "evaluation_trail", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("organisation", String(64), nullable=False),
    Column("client_key", String(128), nullable=False),
    Column("count", Integer, nullable=False),
    Column("key_epoch", Integer, nullable=True),
    Column("granted", Boolean, nullable=False),
)

key_events = Table(
    "key_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("client_key", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_epoch", Integer, nullable=False),
    Column("to_epoch", Integer, nullable=False),
)

nonces = Table(
    "used_nonces", metadata,
    Column("client_key", String(128), primary_key=True),
    Column("nonce", String(256), primary_key=True),
    Column("expires_at", Integer, nullable=False),
)


def open_database(url: str) -> Engine:
    """The service's engine, its tables created when missing."""
    engine = make_engine(url)
    metadata.create_all(engine)
    return engine


def _insert(connection: Connection) -> Any:
    return INSERTS[connection.dialect.name]


# The broker's own conditional upsert (broker.pseudonyms.quota), on the service's table.
_CHARGE = {dialect: quota_upsert(insert, daily_counts, [("organisation", String(64)),
                                                        ("day", Date())],
                                 "evaluations", {"refused": 0})
           for dialect, insert in INSERTS.items()}


def charge(connection: Connection, organisation: str, day: date, count: int, quota: int
           ) -> int | None:
    """Add ``count`` to the organisation's day when the total stays within ``quota``: the new
    total, or None (nothing charged)."""
    rows = _CHARGE[connection.dialect.name].all(
        connection, {"organisation": organisation, "day": day, "count": count, "quota": quota})
    return int(rows[0][0]) if rows else None


def count_refusal(connection: Connection, organisation: str, day: date, count: int) -> int:
    """Add a refused batch to the day's refused total; the day's granted total."""
    statement = _insert(connection)(daily_counts).values(
        organisation=organisation, day=day, evaluations=0, refused=count)
    connection.execute(statement.on_conflict_do_update(
        index_elements=[daily_counts.c.organisation, daily_counts.c.day],
        set_={"refused": daily_counts.c.refused + count}))
    used: int = connection.execute(select(daily_counts.c.evaluations).where(
        daily_counts.c.organisation == organisation, daily_counts.c.day == day)).scalar_one()
    return used


def record(connection: Connection, *, at: datetime, organisation: str, client_key: str,
           count: int, key_epoch: int | None, granted: bool) -> None:
    """One row of the trail: a batch granted or refused (counts only)."""
    connection.execute(trail.insert().values(
        at=at, organisation=organisation, client_key=client_key, count=count,
        key_epoch=key_epoch, granted=granted))


def record_key_event(connection: Connection, *, at: datetime, client_key: str, action: str,
                     from_epoch: int, to_epoch: int) -> None:
    """One row of the key trail: the next ``k`` ``prepared`` or ``activated``, or a step
    ``refused`` to a key that may not take it; for which key."""
    connection.execute(key_events.insert().values(
        at=at, client_key=client_key, action=action, from_epoch=from_epoch, to_epoch=to_epoch))


def seen_before(connection: Connection, client_key: str, nonce: str, expires_at: int,
                now: int) -> bool:
    """Record the nonce until ``expires_at``; True when it is still recorded from before."""
    statement = _insert(connection)(nonces).values(
        client_key=client_key, nonce=nonce, expires_at=expires_at)
    written = connection.execute(statement.on_conflict_do_update(
        index_elements=[nonces.c.client_key, nonces.c.nonce],
        set_={"expires_at": expires_at}, where=nonces.c.expires_at <= now)).rowcount
    return written == 0


def purge_nonces(connection: Connection, now: int) -> None:
    """Forget nonces whose signatures can no longer be accepted."""
    connection.execute(delete(nonces).where(nonces.c.expires_at <= now))


def day_totals(connection: Connection, day: date) -> dict[str, tuple[int, int]]:
    """Per organisation: (granted, refused) evaluations on ``day`` (for operators and tests)."""
    rows = connection.execute(select(daily_counts.c.organisation, daily_counts.c.evaluations,
                                     daily_counts.c.refused).where(daily_counts.c.day == day))
    return {organisation: (granted, refused) for organisation, granted, refused in rows}


__all__ = ["charge", "count_refusal", "day_totals", "key_events", "open_database",
           "purge_nonces", "record", "record_key_event", "seen_before"]
