"""State of an in-place key rotation, and the daily count of pseudonym evaluations.

Progress itself lives in the rows: each stored matching key carries the epochs it was made under,
so a rotation resumed after a crash simply continues with the rows still at the old epoch.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.clock import utcnow
from broker.db import Base, UTCDateTime


class KeyRotation(Base):
    """One rotation of the ``oprf`` or ``broker`` key, from one epoch to the next."""

    __tablename__ = "key_rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    which: Mapped[str] = mapped_column(String(16))
    from_epoch: Mapped[int] = mapped_column(Integer)
    to_epoch: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EvaluationCount(Base):
    """How many pseudonym evaluations an organisation was granted on one Dutch calendar day
    (see :mod:`broker.pseudonyms.quota`)."""

    __tablename__ = "evaluation_counts"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"),
                                                 primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    evaluations: Mapped[int] = mapped_column(Integer)
