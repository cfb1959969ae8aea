"""Daily quotas in the broker's database: the policy's pseudonym-evaluation quota per organisation.

Rules this module guarantees:

- A charge is one statement: it adds ``cost`` to the organisation's use on that day only if the
  sum stays within the limit, and the row it returns says whether it did. Two concurrent charges
  cannot together pass the limit: the database orders the writes to one row.
- A refused charge changes nothing: a request refused for the quota uses none of it.
- The count lives in the database, as durable as the registry: a restart of a worker, of the
  broker or of Redis does not give an organisation a fresh quota (issue 11). Redis holds only the
  per-minute request limits.
- :func:`purge_days` (the housekeeping) deletes the counts of days before yesterday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from broker.api.models import QuotaUsage
from broker.db import Prepared

_USAGE = cast(Table, QuotaUsage.__table__)


def _charge_statement(insert: Any) -> Prepared:
    statement = insert(_USAGE).values(organisation_id=bindparam("organisation_id"),
                                      scope=bindparam("scope"), day=bindparam("day"),
                                      used=bindparam("cost"))
    return Prepared(statement.on_conflict_do_update(
        index_elements=[_USAGE.c.organisation_id, _USAGE.c.scope, _USAGE.c.day],
        set_={"used": _USAGE.c.used + statement.excluded.used},
        where=_USAGE.c.used + statement.excluded.used <= bindparam("limit"),
    ).returning(_USAGE.c.used))


_CHARGE = {"postgresql": _charge_statement(postgresql.insert),
           "sqlite": _charge_statement(sqlite.insert)}


@dataclass(frozen=True)
class Charge:
    """The outcome of a charge: allowed or not, and how much of the day's quota is used."""

    allowed: bool
    used: int


def charge(engine: Engine, *, organisation_id: int, scope: str, day: date, cost: int,
           limit: int) -> Charge:
    """Count ``cost`` against ``limit`` for the organisation on ``day``, if it fits.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database did not answer (the caller refuses).
    """
    if cost > limit:  # never fits; the INSERT branch of the statement would not check it
        return Charge(False, _used(engine, organisation_id, scope, day))
    params = {"organisation_id": organisation_id, "scope": scope, "day": day, "cost": cost,
              "limit": limit}
    with engine.begin() as connection:
        rows = _CHARGE[engine.dialect.name].all(connection, params)
    if rows:
        return Charge(True, int(rows[0][0]))
    return Charge(False, _used(engine, organisation_id, scope, day))


def _used(engine: Engine, organisation_id: int, scope: str, day: date) -> int:
    with engine.connect() as connection:
        used = connection.scalar(select(_USAGE.c.used).where(
            _USAGE.c.organisation_id == organisation_id, _USAGE.c.scope == scope,
            _USAGE.c.day == day))
    return int(used or 0)


def purge_days(engine: Engine, today: date) -> int:
    """Delete the counts of days before yesterday; how many rows."""
    with engine.begin() as connection:
        result = connection.execute(delete(_USAGE).where(_USAGE.c.day < today - timedelta(days=1)))
    return int(result.rowcount)
