"""Counting look-ups for misuse: fishing and unusual volumes, judged over sliding windows with
the thresholds of the policy's ``misuse:`` section, flagged to the auditors at once.

Rules this module guarantees:

- Every look-up (:meth:`broker.registry.lookups.LookupService._lookup`) is counted in its own
  transaction, after its audit event: once for the professional it was made for (or, without
  one, for the acting key or account), once for their organisation, and once more for the
  professional's *fishing* count when their organisation holds no active involvement sharing a
  key with the household.
- Counts are kept per minute (:class:`~broker.audit.models.MisuseCount`). A window of W
  minutes is the look-up's own minute and the W - 1 before it. The work per look-up is two
  statements on the counters' primary key, on the look-up's connection: one upsert of its
  counters, one sum over the windows. The audit log is never read for it.
- A count that *reaches* its threshold (``fishing_lookups``, ``volume_lookups_per_professional``,
  ``volume_lookups_per_organisation``) within its window raises a flag in the same transaction:
  an ``audit:misuse_flagged`` event (what, whose, how many, the threshold and window, the
  look-up that reached it) and a message in every active auditor's inbox, referring to that
  event (handed to the core's notices, :class:`broker.interfaces.Notices`). Only a count this
  look-up raised can be flagged.
- One flag per professional or organisation and kind per window: the minute of a flag is
  marked, and no new flag is raised while a marked minute lies within the window. A count that
  stays high raises a new flag once the previous one has left the window.
- Look-ups are serialised by the audit log's head, which the look-up's own event has locked by
  the time they are counted, so two concurrent look-ups never both raise one flag.
- :func:`prune_counts` (``broker purge``) deletes minutes older than the longest window: the
  counters hold no more of the professionals' activity than the judgement needs.

The auditors' report of the flags raised is :func:`broker.oversight.misuse.misuse_flags`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from broker.audit.events import Event
from broker.audit.models import MisuseCount
from broker.audit.services import Actor, record_event
from broker.core import Core, UnitOfWork
from broker.db import Prepared
from broker.policy.model import Misuse

FISHING = "fishing"
PROFESSIONAL = "professional"
ORGANISATION = "organisation"
# The kind of flag each counter raises (the ``kind`` in the flag event's details).
KINDS = {FISHING: "fishing", PROFESSIONAL: "volume_professional",
         ORGANISATION: "volume_organisation"}

_COUNTS = cast(Table, MisuseCount.__table__)


def _scopes(fishing: bool) -> tuple[str, ...]:
    """The counters a look-up adds 1 to."""
    return (FISHING, PROFESSIONAL, ORGANISATION) if fishing else (PROFESSIONAL, ORGANISATION)


def _upsert(dialect: Any, scopes: tuple[str, ...]) -> Any:
    """One INSERT … ON CONFLICT DO UPDATE adding 1 to each of ``scopes``' counters of the
    minute (SQLite and PostgreSQL spell it alike)."""
    rows = [{"scope": scope, "who": bindparam(ORGANISATION if scope == ORGANISATION
                                              else PROFESSIONAL),
             "minute": bindparam("minute"), "lookups": 1, "flagged": False}
            for scope in scopes]
    statement = dialect.insert(_COUNTS).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[_COUNTS.c.scope, _COUNTS.c.who, _COUNTS.c.minute],
        set_={"lookups": _COUNTS.c.lookups + 1})


def _window(scope: str, who: str, start: str) -> Any:
    return and_(_COUNTS.c.scope == scope, _COUNTS.c.who == bindparam(who),
                _COUNTS.c.minute >= bindparam(start))


# Per counter: the look-ups within its window, and whether a flag was raised within it.
_SUMS = (
    select(_COUNTS.c.scope, func.sum(_COUNTS.c.lookups),
           func.max(case((_COUNTS.c.flagged, 1), else_=0)))
    .where(or_(_window(FISHING, PROFESSIONAL, "fishing_from"),
               _window(PROFESSIONAL, PROFESSIONAL, "volume_from"),
               _window(ORGANISATION, ORGANISATION, "volume_from")))
    .group_by(_COUNTS.c.scope))
_WINDOWS = Prepared(_SUMS)

# SQLite: the upsert, then the sums (two statements). PostgreSQL: one statement, the upsert as a
# data-modifying WITH beside the sums; its parts share the snapshot taken before it, so the sums
# are the counts before this look-up, and 1 is added to each of its counters here.
_UPSERTS = {fishing: Prepared(_upsert(sqlite, _scopes(fishing))) for fishing in (True, False)}
_COUNT_AND_SUM = {fishing: Prepared(_SUMS.add_cte(_upsert(postgresql, _scopes(fishing))
                                                  .cte("counted")))
                  for fishing in (True, False)}


def _count(connection: Connection, fishing: bool, params: dict[str, Any]
           ) -> list[tuple[str, int, int]]:
    """Add 1 to the look-up's counters of the minute; per counter (in :func:`_scopes`' order),
    the look-ups within its window (this one included) and whether a flag was raised within
    it."""
    if connection.dialect.name == "postgresql":
        before = {scope: (int(lookups), int(flagged)) for scope, lookups, flagged
                  in _COUNT_AND_SUM[fishing].all(connection, params)}
        return [(scope, before.get(scope, (0, 0))[0] + 1, before.get(scope, (0, 0))[1])
                for scope in _scopes(fishing)]
    _UPSERTS[fishing].execute(connection, params)
    found = {scope: (int(lookups), int(flagged))
             for scope, lookups, flagged in _WINDOWS.all(connection, params)}
    # In the same order as on PostgreSQL: flags raised together are recorded alike.
    return [(scope, *found[scope]) for scope in _scopes(fishing)]


def minute_of(moment: datetime) -> int:
    """Whole minutes since the Unix epoch: the counters' bucket of ``moment``."""
    return int(moment.timestamp() // 60)


def counted_actor(actor: Actor) -> str:
    """Whose look-up it is: the professional a system acted for, else the actor itself."""
    return actor.on_behalf_of or actor.actor


@dataclass(frozen=True)
class _Threshold:
    lookups: int
    window_minutes: int


def _thresholds(misuse: Misuse) -> dict[str, _Threshold]:
    return {
        FISHING: _Threshold(misuse.fishing_lookups, misuse.fishing_window_minutes),
        PROFESSIONAL: _Threshold(misuse.volume_lookups_per_professional,
                                 misuse.volume_window_minutes),
        ORGANISATION: _Threshold(misuse.volume_lookups_per_organisation,
                                 misuse.volume_window_minutes),
    }


def count_lookup(connection: Connection, core: Core, actor: Actor, organisation_id: int,
                 lookup_id: str, *, fishing: bool) -> list[str]:
    """Count one look-up (``fishing``: the organisation is not registered on the household)
    and raise the flags it makes reach a threshold; returns their audit event ids."""
    misuse = core.policy().misuse
    notices = core.notices  # none wired: the look-up fails rather than flag no one
    minute = minute_of(core.now())
    who = counted_actor(actor)
    params = {PROFESSIONAL: who, ORGANISATION: str(organisation_id), "minute": minute}
    rows = _count(connection, fishing, {
        **params, "fishing_from": minute - misuse.fishing_window_minutes + 1,
        "volume_from": minute - misuse.volume_window_minutes + 1})
    thresholds = _thresholds(misuse)
    raised = []
    for scope, lookups, flagged in rows:
        threshold = thresholds[scope]
        if flagged or lookups < threshold.lookups:  # rows hold only this look-up's scopes
            continue
        subject = params[ORGANISATION if scope == ORGANISATION else PROFESSIONAL]
        connection.execute(update(_COUNTS).where(
            _COUNTS.c.scope == scope, _COUNTS.c.who == subject, _COUNTS.c.minute == minute)
            .values(flagged=True))
        event = record_event(
            connection, Actor(actor="system:misuse", channel="system",
                              request_id=actor.request_id),
            Event.AUDIT_MISUSE_FLAGGED, organisation_id=organisation_id, details={
                "kind": KINDS[scope], "actor": who, "lookups": int(lookups),
                "threshold": threshold.lookups, "window_minutes": threshold.window_minutes,
                "lookup_event": lookup_id})
        notices.notify_auditors(connection, kind="misuse_flag", reference=event.event_id)
        raised.append(event.event_id)
    return raised


def prune_counts(uow: UnitOfWork, actor: Actor) -> int:
    """Delete the counters' minutes that no window of the policy in force reaches any more
    (audited as ``audit:misuse_counts_pruned``); returns how many were deleted."""
    core = uow.core
    misuse = core.policy().misuse
    longest = max(misuse.fishing_window_minutes, misuse.volume_window_minutes)
    before = minute_of(core.now() - timedelta(minutes=longest))
    connection = uow.connection
    deleted = connection.execute(delete(_COUNTS).where(_COUNTS.c.minute < before)).rowcount
    record_event(connection, actor, Event.AUDIT_MISUSE_COUNTS_PRUNED,
                 details={"rows": int(deleted), "before_minute": before})
    return int(deleted)
