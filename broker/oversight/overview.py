"""The auditor's overview reads: one event's detail, activity per day and organisation type,
the newest checkpoint with its witnesses' cosignatures, and a verification run of the log.

Each read is itself an audit event in the caller's unit of work (services take ``uow`` and
never commit): ``audit:event_viewed``, ``audit:reported`` (reports ``activity`` and
``checkpoint``) and ``audit:verified`` (with the outcome and the first problem's kind). Like
:mod:`broker.oversight.search`, nothing here returns a key's bytes, a raw identifier, a
justification or a source address.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from broker.audit.chain import timestamp
from broker.audit.checkpoints import current_tree
from broker.audit.events import Event
from broker.audit.models import AuditCheckpoint, AuditCosignature, AuditEvent
from broker.audit.services import Actor, record_event
from broker.audit.verification import VerifyReport, verify_log
from broker.audit.witnessing import configured_witnesses, quorum
from broker.clock import local_date
from broker.core import UnitOfWork
from broker.errors import NotFound, ValidationError
from broker.oversight.search import AuditRow, period, query_rows
from broker.registry.models import Organisation

ACTIVITY_TYPES = (Event.LOOKUP_PERFORMED, Event.INVOLVEMENT_REGISTERED)
MAX_ACTIVITY_DAYS = 366


def event_detail(uow: UnitOfWork, actor: Actor, event_id: str) -> AuditRow:
    """One event as an auditor sees it; audited as ``audit:event_viewed``."""
    connection = uow.connection
    rows = query_rows(connection, AuditEvent.event_id == event_id) if len(event_id) <= 36 else []
    if not rows:
        raise NotFound("There is no audit event with this id.")
    record_event(connection, actor, Event.AUDIT_EVENT_VIEWED, details={"viewed_event": event_id})
    return rows[0]


@dataclass(frozen=True)
class Activity:
    """Events of ``ACTIVITY_TYPES`` per Dutch day and organisation type, over ``days``."""

    days: tuple[date, ...]
    org_types: tuple[str, ...]
    counts: dict[str, Counter[tuple[date, str]]] = field(default_factory=dict)

    def count(self, event_type: str, day: date, org_type: str) -> int:
        """How many events of ``event_type`` organisations of ``org_type`` had on ``day``."""
        return self.counts[event_type][(day, org_type)]

    def day_total(self, event_type: str, day: date) -> int:
        """How many events of ``event_type`` on ``day``, all types together."""
        return sum(self.counts[event_type][(day, t)] for t in self.org_types)


def activity(uow: UnitOfWork, actor: Actor, first: date, last: date,
             start: datetime, end: datetime) -> Activity:
    """Look-ups and registrations per day (``first``..``last``, Dutch days, the half-open
    ``start``..``end``) and organisation type; audited as ``audit:reported``."""
    if last < first or (last - first).days >= MAX_ACTIVITY_DAYS:
        raise ValidationError(
            "Choose a period of 1 to %(max_activity_days)s days.",
            max_activity_days=MAX_ACTIVITY_DAYS)
    connection = uow.connection
    rows = connection.execute(
        select(AuditEvent.occurred_at, AuditEvent.event_type, Organisation.org_type)
        .join(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.event_type.in_(ACTIVITY_TYPES), *period(start, end))).all()
    counts: dict[str, Counter[tuple[date, str]]] = {kind: Counter() for kind in ACTIVITY_TYPES}
    for at, kind, org_type in rows:
        counts[kind][(local_date(at), org_type)] += 1
    days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
    types = tuple(uow.policy().org_types)
    seen = sorted({t for c in counts.values() for _day, t in c} - set(types))
    record_event(connection, actor, Event.AUDIT_REPORTED, details={
        "report": "activity", "from": timestamp(start), "to": timestamp(end), "rows": len(rows)})
    return Activity(days, (*types, *seen), counts)


@dataclass(frozen=True)
class Cosignature:
    """A witness's cosignature on a checkpoint."""

    witness: str
    key_id: str
    cosigned_at: datetime


@dataclass(frozen=True)
class LatestCheckpoint:
    """The newest signed checkpoint, its cosignatures, and the log's size now."""

    tree_size: int
    signed_at: datetime
    note: str
    cosignatures: tuple[Cosignature, ...]
    log_size: int
    witnesses: tuple[str, ...]
    quorum: int


def latest_checkpoint(uow: UnitOfWork, actor: Actor) -> LatestCheckpoint | None:
    """The newest checkpoint (None before the first); audited as ``audit:reported``."""
    connection = uow.connection
    newest = connection.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.tree_size, AuditCheckpoint.signed_at,
               AuditCheckpoint.note)
        .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1)).first()
    settings = uow.core.settings
    record_event(connection, actor, Event.AUDIT_REPORTED, details={
        "report": "checkpoint", "rows": 0 if newest is None else 1})
    if newest is None:
        return None
    cosigned = tuple(Cosignature(w, k, at) for w, k, at in connection.execute(
        select(AuditCosignature.witness, AuditCosignature.key_id, AuditCosignature.cosigned_at)
        .where(AuditCosignature.checkpoint_id == newest.id).order_by(AuditCosignature.id)))
    size, _root, _head = current_tree(connection)
    return LatestCheckpoint(newest.tree_size, newest.signed_at, newest.note, cosigned, size,
                            tuple(w.name for w in configured_witnesses(settings)),
                            quorum(settings))


def run_verification(uow: UnitOfWork, actor: Actor) -> VerifyReport:
    """Verify the whole log with the audit key and the configured witnesses' keys (their
    stored cosignatures); audited as ``audit:verified`` with the outcome."""
    core = uow.core
    settings = core.settings
    connection = uow.connection
    report = verify_log(connection, core.audit_key(),
                        witnesses=[w.key for w in configured_witnesses(settings)],
                        quorum=quorum(settings))
    problem = report.problem
    record_event(connection, actor, Event.AUDIT_VERIFIED,
                 outcome="success" if problem is None else "failure",
                 details={"events": report.events, "checkpoints": report.checkpoints,
                          "cosignatures": report.cosignatures,
                          "problem": problem.kind if problem else None,
                          "problem_seq": problem.seq if problem else None})
    return report
