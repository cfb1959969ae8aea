"""Auditor's reports on the log, each run itself audited (``audit:reported``).

- **Vital interest awaiting review** (:func:`vital_interest_pending`): every event on the
  ``vital_interest`` basis ("zwaarwegend belang", break the glass), allowed or refused, that no
  ``audit:reviewed`` event references yet. :func:`review` records the auditor's verdict, once.
- **Look-ups never followed up** (:func:`unfollowed_lookups`): a look-up (``lookup:performed``)
  after which its organisation neither registered an involvement nor requested contact on the
  household within ``days`` (default 14). An organisation that registered on any of the
  looked-up keys earlier, or up to ``days`` after, followed it up. Look-ups younger than
  ``days`` are not judged yet. Keys are compared at one key epoch (rows in the middle of a
  rotation are brought to the newest epoch first), so a rotation neither hides nor invents a
  follow-up.
- Fishing and unusual volumes *on the day* are flagged as look-ups happen, over the policy's
  sliding windows; their report is :func:`broker.oversight.misuse.misuse_flags`.
- **Refused requests** (:func:`refused_requests`): events with outcome ``refused``, counted per
  organisation, event type and reason; the counted refusals of unauthenticated requests
  (``auth:unauthenticated_refused``, one event per network and minute) count with the numbers
  they carry, per door and reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from broker_primitives import oprf
from sqlalchemy import Connection, func, or_, select, true

from broker.audit.chain import timestamp
from broker.audit.events import Event
from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor, Subject, record_event
from broker.core import Core, UnitOfWork
from broker.errors import Conflict, NotFound, ValidationError, required
from broker.oversight.refusals import EVENT_TYPE as COUNTED
from broker.oversight.search import AuditRow, check_period, period, query_rows
from broker.pseudonyms.matching import RotationState
from broker.registry.models import Organisation
from broker.registry.validation import require_text

VERDICTS = ("justified", "unjustified")
FOLLOW_UP_TYPES = (Event.INVOLVEMENT_REGISTERED, Event.CONTACT_REQUESTED)
MAX_NOTE_LENGTH = 2000
_CHUNK = 500


@dataclass(frozen=True)
class PendingReview(AuditRow):
    """A vital-interest event awaiting review, with the written justification to judge (None
    once retention erased it)."""

    justification: str | None


@dataclass(frozen=True)
class UnfollowedLookup(AuditRow):
    """A look-up its organisation never followed up, with how many matches it disclosed."""

    match_count: int | None


@dataclass(frozen=True)
class RefusedGroup:
    """Refused requests of one organisation, event type and reason."""

    organisation: str | None
    organisation_name: str | None
    event_type: str
    reason: str | None
    count: int
    first_at: datetime
    last_at: datetime


def _reported(connection: Connection, actor: Actor, report: str, start: datetime | None,
              end: datetime | None, rows: int, **parameters: int | str | None) -> None:
    record_event(connection, actor, Event.AUDIT_REPORTED, details={
        "report": report, "from": timestamp(start) if start else None,
        "to": timestamp(end) if end else None, "rows": rows, **parameters})


def _reviewed(connection: Connection, event_id: str | None = None) -> list[str]:
    """The event ids ``audit:reviewed`` events reference (only ``event_id``'s, when given)."""
    reviewed = AuditEvent.details["reviewed_event"].as_string()
    statement = select(reviewed).where(AuditEvent.event_type == Event.AUDIT_REVIEWED)
    if event_id is not None:
        statement = statement.where(reviewed == event_id)
    return [value for value in connection.scalars(statement) if value is not None]


def vital_interest_pending(uow: UnitOfWork, actor: Actor, start: datetime | None = None,
                           end: datetime | None = None) -> list[PendingReview]:
    """Vital-interest events in the period that no review references yet, oldest first."""
    check_period(start, end)
    connection = uow.connection
    done = set(_reviewed(connection))
    rows = query_rows(connection, AuditEvent.vital_interest.is_(True), *period(start, end))
    texts = dict(connection.execute(
        select(AuditEvent.event_id, AuditEvent.justification)
        .where(AuditEvent.vital_interest.is_(True), *period(start, end))).all())
    result = [PendingReview(**asdict(row), justification=texts.get(row.event_id))
              for row in rows if row.event_id not in done]
    _reported(connection, actor, "vital_interest", start, end, len(result))
    return result


def review(uow: UnitOfWork, actor: Actor, event_id: str, verdict: str, note: str) -> str:
    """Record the auditor's verdict on a vital-interest event (``audit:reviewed``); returns the
    review's event id. Each event is reviewed once; the review carries the event's subjects,
    so a search by the household finds it too."""
    if verdict not in VERDICTS:
        raise ValidationError("The verdict must be justified or unjustified.")
    note = require_text(note, "The review note",
                        MAX_NOTE_LENGTH)
    connection = uow.connection
    found = connection.execute(
        select(AuditEvent.id, AuditEvent.vital_interest)
        .where(AuditEvent.event_id == event_id)).first() if len(event_id) <= 36 else None
    if found is None:
        raise NotFound(
            "There is no audit event with this id; see: broker audit report vital-interest")
    if not found.vital_interest:
        raise ValidationError("Only events on the vital-interest basis are reviewed.")
    if _reviewed(connection, event_id):
        raise _already_reviewed()
    subjects = [Subject(*row) for row in connection.execute(
        select(AuditSubject.category, AuditSubject.value, AuditSubject.oprf_epoch,
               AuditSubject.broker_epoch).where(AuditSubject.event_id == found.id))]
    # The note is free text about a case: a personal detail, erasable like a justification.
    recorded = record_event(connection, actor, Event.AUDIT_REVIEWED, subjects=subjects,
                            justification=note,
                            details={"reviewed_event": event_id, "verdict": verdict})
    # Appending locked the log's head, so a concurrent review of the same event has
    # committed by now or waits for us: counting again closes the race.
    if len(_reviewed(connection, event_id)) > 1:
        raise _already_reviewed()
    return recorded.event_id


def _already_reviewed() -> Conflict:
    return Conflict("This event has been reviewed already; a review cannot be changed.")


class _EpochAligner:
    """Brings a stored value to the newest key epochs among the rows it is compared with
    (only rows written or left behind during a rotation differ)."""

    def __init__(self, core: Core, epochs: Iterable[tuple[int, int]]) -> None:
        pairs = set(epochs)
        self.core = core
        self.target = (max((o for o, _ in pairs), default=0),
                       max((b for _, b in pairs), default=0))
        self._factors: dict[tuple[str, int], bytes] = {}

    def _factor(self, which: str, from_epoch: int) -> bytes:
        key = (which, from_epoch)
        if key not in self._factors:
            to_epoch = self.target[0] if which == "oprf" else self.target[1]
            self._factors[key] = self.core.matching.rotation_factor(
                RotationState("oprf" if which == "oprf" else "broker", from_epoch, to_epoch))
        return self._factors[key]

    def __call__(self, value: bytes, oprf_epoch: int, broker_epoch: int) -> bytes:
        if oprf_epoch != self.target[0]:
            value = oprf.scalar_mult(self._factor("oprf", oprf_epoch), value)
        if broker_epoch != self.target[1]:
            value = oprf.scalar_mult(self._factor("broker", broker_epoch), value)
        return value


def unfollowed_lookups(uow: UnitOfWork, actor: Actor, *, days: int = 14,
                       start: datetime | None = None, end: datetime | None = None
                       ) -> list[UnfollowedLookup]:
    """Look-ups in the period that were at least ``days`` old and never followed up by their
    organisation (see the module docstring for the rule)."""
    core = uow.core
    if not 1 <= days <= 366:
        raise ValidationError("The number of days must lie between 1 and 366.")
    check_period(start, end)
    window = timedelta(days=days)
    judged_until = core.now() - window
    end_of_lookups = judged_until if end is None else min(end, judged_until)
    connection = uow.connection
    # One statement, so every row is read in the same state of any running rotation.
    found = connection.execute(
        select(AuditEvent.id, AuditEvent.event_type, AuditEvent.organisation_id,
               AuditEvent.occurred_at, AuditSubject.value, AuditSubject.oprf_epoch,
               AuditSubject.broker_epoch)
        .join(AuditSubject, AuditSubject.event_id == AuditEvent.id)
        .where(AuditEvent.event_type.in_((Event.LOOKUP_PERFORMED, *FOLLOW_UP_TYPES)),
               AuditEvent.organisation_id.is_not(None),
               AuditEvent.occurred_at < end_of_lookups + window,
               or_(AuditEvent.event_type != Event.LOOKUP_PERFORMED,
                   AuditEvent.occurred_at >= start) if start is not None else true())
    ).all()
    align = _EpochAligner(core, ((o, b) for *_, o, b in found))
    first_follow_up: dict[tuple[int, bytes], datetime] = {}
    lookups: dict[int, tuple[int, datetime, set[bytes]]] = {}
    for row_id, event_type, row_org, at, value, oprf_epoch, broker_epoch in found:
        org_id = required(row_org, "a look-up's organisation")  # filtered above
        key = align(value, oprf_epoch, broker_epoch)
        if event_type != Event.LOOKUP_PERFORMED:
            earliest = first_follow_up.get((org_id, key))
            if earliest is None or at < earliest:
                first_follow_up[(org_id, key)] = at
        elif (start is None or at >= start) and at < end_of_lookups:
            lookups.setdefault(row_id, (org_id, at, set()))[2].add(key)

    def followed_up(org_id: int, at: datetime, keys: set[bytes]) -> bool:
        firsts = (first_follow_up.get((org_id, key)) for key in keys)
        return any(first is not None and first <= at + window for first in firsts)

    unfollowed = [row_id for row_id, (org_id, at, keys) in lookups.items()
                  if not followed_up(org_id, at, keys)]
    result = []
    for chunk in (unfollowed[i:i + _CHUNK] for i in range(0, len(unfollowed), _CHUNK)):
        counts = AuditEvent.details["match_count"].as_integer()
        matched: dict[int, int | None] = dict(connection.execute(
            select(AuditEvent.seq, counts).where(AuditEvent.id.in_(chunk))).all())
        result += [UnfollowedLookup(**asdict(row), match_count=matched.get(row.seq))
                   for row in query_rows(connection, AuditEvent.id.in_(chunk))]
    result.sort(key=lambda row: row.seq)
    _reported(connection, actor, "unfollowed", start, end, len(result), days=days)
    return result


def refused_requests(uow: UnitOfWork, actor: Actor, *, start: datetime | None = None,
                     end: datetime | None = None) -> list[RefusedGroup]:
    """Refused requests in the period, per organisation, event type and reason; most first."""
    check_period(start, end)
    connection = uow.connection
    groups = connection.execute(
        select(Organisation.identifier, Organisation.name, AuditEvent.event_type,
               AuditEvent.reason, func.count(), func.min(AuditEvent.occurred_at),
               func.max(AuditEvent.occurred_at))
        .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.outcome == "refused", AuditEvent.event_type != COUNTED,
               *period(start, end))
        .group_by(Organisation.identifier, Organisation.name, AuditEvent.event_type,
                  AuditEvent.reason)
    ).all()
    counted = _counted_refusals(connection, start, end)
    result = sorted([*(RefusedGroup(*row) for row in groups), *counted], key=_refused_order)
    _reported(connection, actor, "refused", start, end, len(result))
    return result


def _counted_refusals(connection: Connection, start: datetime | None, end: datetime | None
                      ) -> list[RefusedGroup]:
    """The counted refusals, per door and reason, with the numbers their events carry."""
    totals: dict[str, list[Any]] = {}
    for occurred_at, details in connection.execute(
            select(AuditEvent.occurred_at, AuditEvent.details)
            .where(AuditEvent.event_type == COUNTED, *period(start, end))
            .order_by(AuditEvent.seq)):
        for reason, count in cast(dict[str, int], details["reasons"]).items():
            total = totals.setdefault(reason, [0, occurred_at, occurred_at])
            total[0] += count
            total[2] = occurred_at
    return [RefusedGroup(None, None, COUNTED, reason, count, first, last)
            for reason, (count, first, last) in totals.items()]


def _refused_order(group: RefusedGroup) -> tuple[Any, ...]:
    return (-group.count, group.organisation or "", group.event_type, group.reason or "")

