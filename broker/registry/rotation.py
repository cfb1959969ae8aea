"""In-place rotation of the OPRF key ``k`` or the broker key ``b``.

Because stored matching keys are group elements ``T = b·k·H(identifier)`` rather than the
RFC 9497 Finalize hash, either key rotates without re-registration: ``T ← (x_new·x_old⁻¹)·T``.

Rules this module guarantees:

- One rotation at a time. Starting one records it (``KeyRotation``) *before* the new key file is
  made, so a crash at any point leaves a state that ``broker keys rotate`` resumes.
- Progress is the rows themselves: a batch re-keys only rows still at the old epoch and moves them
  to the new epoch in one transaction, so a batch is applied once or not at all, and resuming
  never re-keys a row twice. Each batch carries on after the last id of the one before, so a
  batch costs the same at the end of a table as at its start; finishing looks at every id
  again (see :func:`_finish`).
- ``k`` lives with the pseudonym service in remote mode: the service makes the next epoch and
  hands over its public half and the factor ``k_new·k_old⁻¹``, which the broker pins (never
  ``k``) before the service evaluates under it (:func:`_next_epoch_at_service`).
- While it runs, look-ups search both epochs (:meth:`MatchingKeys.search_values`), so
  registrations made before the rotation are still found.
- Every table that stores matching keys (registry, consent records and audit subjects) is
  rotated.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from broker_primitives import oprf
from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from broker.audit.events import Event
from broker.audit.models import AuditSubject
from broker.audit.services import Actor, record_event
from broker.core import Core
from broker.errors import ConfigurationError, Conflict
from broker.pseudonyms.keys import KeyName
from broker.pseudonyms.matching import RotationState, read_rotation
from broker.pseudonyms.models import KeyRotation
from broker.pseudonyms.remote import RemoteEvaluator
from broker.registry.models import ConsentKey, MatchingKey

KeyTable = type[MatchingKey] | type[ConsentKey] | type[AuditSubject]
PSEUDONYM_TABLES: tuple[KeyTable, ...] = (MatchingKey, ConsentKey, AuditSubject)
DEFAULT_BATCH = 2000
GRACE_SECONDS = 1.0

Progress = Callable[[int], None]


def active_rotation(session: Session) -> RotationState | None:
    """The unfinished rotation, if any (read from the database, uncached)."""
    return read_rotation(session)


def _epoch_column(table: KeyTable, which: KeyName) -> InstrumentedAttribute[int]:
    return table.oprf_epoch if which == "oprf" else table.broker_epoch


def start_or_resume(core: Core, actor: Actor, which: KeyName, *, grace: float = GRACE_SECONDS
                    ) -> tuple[RotationState, bool]:
    """Begin a rotation of ``which``, or pick up the unfinished one; ``True`` when resumed.

    After writing a new key file it waits ``grace`` seconds before returning, so that look-ups
    and registrations that read the epochs just before the file appeared finish before the
    first row is re-keyed.
    """
    with core.session() as session:
        running = active_rotation(session)
        if running is not None and running.which != which:
            raise Conflict(
                "A rotation of the %(which)s key is unfinished; finish it first with: broker "
                "keys rotate --which %(which)s",
                which=running.which)
        resumed = running is not None
        at_service = which == "oprf" and core.keystore.oprf_public
        if running is None:
            current = core.keystore.current_epoch(which)
            running = RotationState(which, current, current + 1)
            session.add(KeyRotation(which=which, from_epoch=current, to_epoch=current + 1))
            details: dict[str, object] = {"which": which, "from_epoch": current,
                                          "to_epoch": current + 1}
            if at_service:
                details["made_by"] = "pseudonym-service"
            record_event(session, actor, Event.KEYS_ROTATION_STARTED, details=details)
    if at_service:
        _next_epoch_at_service(core, running)
        time.sleep(grace)
    elif not core.keystore.has(which, running.to_epoch):
        core.keystore.create(which, running.to_epoch)
        time.sleep(grace)
    return running, resumed


def _next_epoch_at_service(core: Core, rotation: RotationState) -> None:
    """``k`` lives with the pseudonym service: it prepares the next epoch and hands over its
    public half and the factor; the broker pins both (the factor checked against the public
    halves) and only then has the service evaluate under it. Each step is idempotent, so a
    resumed rotation repeats them all (broker.pseudonym_service.rotation)."""
    evaluator = core.evaluator
    if not isinstance(evaluator, RemoteEvaluator):
        raise ConfigurationError(
            "The OPRF key k is not in this broker's keys, and no pseudonym service is set to "
            "rotate it (BROKER_PSEUDONYM_SERVICE_URL).")
    step = evaluator.next_epoch(rotation.from_epoch)
    core.keystore.pin_oprf(step.to_epoch, step.public_key, step.factor)
    evaluator.activate_epoch(step.to_epoch)


def remaining_rows(core: Core, rotation: RotationState) -> int:
    """How many stored values are still at the old epoch."""
    with core.session() as session:
        total = 0
        for table in PSEUDONYM_TABLES:
            column = _epoch_column(table, rotation.which)
            total += session.scalar(
                select(func.count()).select_from(table).where(column == rotation.from_epoch)
            ) or 0
        return total


def _rotate_batch(
    session: Session,
    table: KeyTable,
    rotation: RotationState,
    factor: bytes,
    batch_size: int,
    after: int = 0,
) -> tuple[int, int]:
    """Re-key the next ``batch_size`` rows still at the old epoch with an id above ``after``:
    how many, and the last id (so the next batch starts there instead of walking the rows
    re-keyed already)."""
    column = _epoch_column(table, rotation.which)
    rows = session.execute(
        select(table.id, table.value)
        .where(column == rotation.from_epoch, table.id > after)
        .order_by(table.id)
        .limit(batch_size)
        .with_for_update()
    ).all()
    if not rows:
        return 0, after
    epoch_field = "oprf_epoch" if rotation.which == "oprf" else "broker_epoch"
    session.execute(
        update(table),
        [
            {"id": row_id, "value": oprf.scalar_mult(factor, value),
             epoch_field: rotation.to_epoch}
            for row_id, value in rows
        ],
    )
    return len(rows), rows[-1][0]


def run_rotation(
    core: Core,
    actor: Actor,
    rotation: RotationState,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> int:
    """Re-key every row still at the old epoch, batch by batch; finish the rotation at the end.

    ``max_batches`` stops early (tests use it to simulate a crash halfway). Returns the rows done.
    """
    factor = core.matching.rotation_factor(rotation)
    done = batches = 0
    for table in PSEUDONYM_TABLES:
        last = 0
        while max_batches is None or batches < max_batches:
            with core.session() as session:
                count, last = _rotate_batch(session, table, rotation, factor, batch_size, last)
                if count:
                    session.execute(
                        update(KeyRotation)
                        .where(KeyRotation.finished_at.is_(None))
                        .values(rows_done=KeyRotation.rows_done + count)
                    )
            if not count:
                break
            done += count
            batches += 1
            if progress is not None:
                progress(count)
    if max_batches is None or batches < max_batches:
        done += _finish(core, actor, rotation, factor, batch_size)
    return done


def _finish(core: Core, actor: Actor, rotation: RotationState, factor: bytes,
            batch_size: int) -> int:
    """Mark the rotation finished, re-keying in the same transaction any row that a writer
    committed at the old epoch after the last batch (so none is ever stranded)."""
    late = 0
    with core.session() as session:
        row = session.scalar(select(KeyRotation).where(KeyRotation.finished_at.is_(None)))
        if row is None:
            return 0
        for table in PSEUDONYM_TABLES:
            count, last = _rotate_batch(session, table, rotation, factor, batch_size)
            while count:
                late += count
                count, last = _rotate_batch(session, table, rotation, factor, batch_size, last)
        row.rows_done += late
        row.finished_at = core.now()
        record_event(
            session, actor, Event.KEYS_ROTATION_FINISHED,
            details={"which": rotation.which, "from_epoch": rotation.from_epoch,
                     "to_epoch": rotation.to_epoch, "rows": row.rows_done},
        )
    return late
