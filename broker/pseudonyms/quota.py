"""The daily quota of pseudonym evaluations per organisation, kept in the database.

Each evaluation is a possible guess at an identifier (a leaked ``k`` aside, enumerating BSNs
takes one evaluation per guess), so the quota bounds how fast an organisation can enumerate.
Rules this module guarantees:

- Every evaluation made for an organisation counts against that organisation's quota for the
  day, ``policy.quota_for(org_type)``, whatever door it came through: the API's
  ``POST /v1/pseudonyms/evaluate``, the web form and the command line acting for one of its
  professionals (:meth:`broker.core.Core.evaluate` is the one way in).
- The day is the Dutch calendar day (Europe/Amsterdam) of the core's clock; the quota renews at
  Dutch midnight.
- Counting and checking are one statement, an atomic conditional upsert on one row per
  organisation and day (``INSERT … SELECT … WHERE n <= quota ON CONFLICT DO UPDATE SET
  evaluations = evaluations + n WHERE evaluations + n <= quota RETURNING evaluations``), on
  SQLite and PostgreSQL alike. Concurrent requests, a restart and any number of workers share
  that row, so the quota is neither reset nor multiplied. A batch is granted whole or not at
  all.
- A granted batch is recorded as ``pseudonym:evaluated`` (count, key epoch, quota, used) in the
  transaction of its charge; a refusal is recorded as ``pseudonym:quota_refused`` in a
  transaction that writes nothing else. Nothing evaluated leaves before its charge is
  committed, and a database that cannot answer refuses (fail closed).
- An evaluation made for no organisation — an operator's or auditor's command such as the
  auditor's search by household or a subject access report, or loading demo data — is charged
  to no organisation and not recorded on its own: the command it serves is audited. (Key
  rotation evaluates nothing: it multiplies stored keys in place.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, Engine, Integer, Table, bindparam, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.db import Prepared
from broker.errors import BrokerError
from broker.pseudonyms.models import EvaluationCount


@dataclass(frozen=True)
class QuotaUse:
    """An organisation's quota for the day after a charge (or a refused one)."""

    granted: bool
    limit: int
    used: int
    resets_at: datetime  # the next Dutch midnight, aware

    @property
    def remaining(self) -> int:
        """Evaluations left today."""
        return max(0, self.limit - self.used)


class QuotaExceeded(BrokerError):
    """The organisation's daily quota of pseudonym evaluations cannot take this batch."""

    # The API published this problem type for the quota before it was kept in the database.
    code = "rate-limited"
    status = 429

    def __init__(self, use: QuotaUse, asked: int) -> None:
        super().__init__(
            "Your organisation's daily quota of %(limit)s pseudonym evaluations cannot take "
            "%(asked)s more (%(remaining)s left today; every identifier checked counts). "
            "Try again after midnight (Dutch time).",
            limit=use.limit, asked=asked, remaining=use.remaining)
        self.use = use


def charge(connection: Connection, *, organisation_id: int, day: date, count: int,
           quota: int) -> int | None:
    """Charge ``count`` evaluations to the organisation for ``day`` in the caller's
    transaction: the day's new total, or None (and nothing charged) when the quota cannot take
    the whole batch."""
    rows = _UPSERT[connection.dialect.name].all(
        connection, {"organisation_id": organisation_id, "day": day, "count": count,
                     "quota": quota})
    return int(rows[0][0]) if rows else None


def used_on(connection: Connection, organisation_id: int, day: date) -> int:
    """Evaluations charged to the organisation on ``day``."""
    return connection.execute(
        select(EvaluationCount.evaluations).where(
            EvaluationCount.organisation_id == organisation_id, EvaluationCount.day == day)
    ).scalar() or 0


def record_evaluation(connection: Connection, actor: Actor, use: QuotaUse, count: int,
                      key_epoch: int) -> None:
    """``pseudonym:evaluated``, in the transaction of the charge."""
    record_event(connection, actor, Event.PSEUDONYM_EVALUATED,
                 details={"count": count, "key_epoch": key_epoch, "quota": use.limit,
                          "used": use.used})


def record_refusal(connection: Connection, actor: Actor, use: QuotaUse, count: int,
                   day: date) -> None:
    """``pseudonym:quota_refused``, in a transaction that writes nothing else."""
    record_event(connection, actor, Event.PSEUDONYM_QUOTA_REFUSED, outcome="refused",
                 reason="daily evaluation quota used up",
                 details={"count": count, "quota": use.limit, "used": use.used,
                          "day": day.isoformat()})


def quota_upsert(insert: Any, table: Table, keys: Sequence[tuple[str, TypeEngine[Any]]],
                 counter: str, fixed: Mapping[str, int] | None = None) -> Prepared:
    """The one statement that counts and checks, for any table of daily counts (the broker's
    :class:`EvaluationCount`, the pseudonym service's own): a row keyed by ``keys`` is written,
    or its ``counter`` added to, only when the total stays within ``:quota``; it returns the new
    total, or no row when refused. Its parameters are the keys', ``count`` and ``quota``;
    ``fixed`` gives other columns of a new row their value."""
    wanted = bindparam("count", type_=Integer)
    quota = bindparam("quota", type_=Integer)
    extra = dict(fixed or {})
    # SQLite needs the WHERE of an INSERT … SELECT before ON CONFLICT (its parsing rule); here
    # it also refuses a first batch of the day that is larger than the whole quota.
    statement = insert(table).from_select(
        [name for name, _ in keys] + [counter, *extra],
        select(*(bindparam(name, type_=kind) for name, kind in keys), wanted,
               *(literal(value, Integer) for value in extra.values())).where(wanted <= quota),
    )
    total = table.c[counter] + statement.excluded[counter]
    return Prepared(statement.on_conflict_do_update(
        index_elements=[table.c[name] for name, _ in keys],
        set_={counter: total},
        where=total <= quota,
    ).returning(table.c[counter]))


#: Insert statements with ON CONFLICT, per dialect.
INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_COUNTS: Table = EvaluationCount.__table__  # type: ignore[assignment]
# Compiled once per dialect: every evaluation runs it (building it per call cost more than the
# statement itself).
_UPSERT = {dialect: quota_upsert(insert, _COUNTS, [("organisation_id", Integer()),
                                                   ("day", Date())], "evaluations")
           for dialect, insert in INSERTS.items()}


def purge_days(engine: Engine, today: date) -> int:
    """Delete the counts of days before yesterday (housekeeping); how many rows. Yesterday's
    stays: a request that began just before midnight may still be charged to it."""
    with engine.begin() as connection:
        result = connection.execute(delete(EvaluationCount).where(
            EvaluationCount.day < today - timedelta(days=1)))
    return int(result.rowcount)
