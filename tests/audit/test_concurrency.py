"""Several processes append to the log at once: one linear chain, no gaps, and it verifies."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import threading

import pytest
from sqlalchemy import func, select

from broker.audit.checkpoints import sign_checkpoint
from broker.audit.models import AuditCheckpoint, AuditEvent
from broker.audit.services import Actor, Subject, record_event
from broker.audit.verification import verify_log
from broker.core import Core
from broker.db import make_engine

WRITERS = 4
EVENTS_EACH = 60


def _append(url: str, writer: int, start: multiprocessing.synchronize.Barrier) -> None:
    """One writer process: its own engine, one transaction per event, as a server worker."""
    engine = make_engine(url)
    actor = Actor(actor=f"key:writer-{writer}", channel="api", organisation_id=writer)
    subject = Subject("person", bytes([writer]) * 32, 1, 1)
    start.wait()
    for number in range(EVENTS_EACH):
        with engine.begin() as connection:
            record_event(connection, actor, "lookup:performed", subjects=[subject],
                         details={"writer": writer, "number": number})
    engine.dispose()


def test_concurrent_writers_make_one_chain(core: Core, database_url: str) -> None:
    with core.transaction() as connection:
        before = connection.scalar(select(func.count()).select_from(AuditEvent)) or 0
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(WRITERS)
    writers = [spawn.Process(target=_append, args=(database_url, n, start))
               for n in range(1, WRITERS + 1)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    with core.transaction() as connection:
        seqs = list(connection.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        writers_seen = {
            row[0] for row in connection.execute(
                select(AuditEvent.actor).where(AuditEvent.actor.like("key:writer-%")))
        }
        report = verify_log(connection, core.audit_key())
    assert seqs == list(range(1, before + WRITERS * EVENTS_EACH + 1))
    assert writers_seen == {f"key:writer-{n}" for n in range(1, WRITERS + 1)}
    assert report.ok, report.problem
    assert report.events == len(seqs)


def test_two_workers_signing_at_once_make_one_checkpoint(core: Core) -> None:
    """Two ``broker worker`` processes may tick together: of a log that grew, one checkpoint."""
    if core.settings.is_sqlite:
        pytest.skip("SQLite has one writer at a time; the race needs PostgreSQL's row locks")
    signed: list[object] = []
    for round_ in range(20):
        with core.transaction() as connection:
            record_event(connection, Actor.operator("test"), "keys:created",
                         details={"round": round_})
        start = threading.Barrier(2)

        def sign(start: threading.Barrier) -> None:
            start.wait()
            signed.append(sign_checkpoint(core))

        threads = [threading.Thread(target=sign, args=(start,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with core.session() as session:
        sizes = list(session.scalars(select(AuditCheckpoint.tree_size)))
    assert len(sizes) == len(set(sizes)) == 20
    assert sum(1 for s in signed if s is not None) == 20
