"""``broker worker`` (broker.cli.worker, broker.cli.jobs): every background job runs in the
worker's process on its schedule, none in a web process; a failing job is logged without its
message and runs again; SIGTERM stops the process cleanly after a last checkpoint."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from broker.app import create_app
from broker.audit.models import AuditCheckpoint, AuditEvent
from broker.audit.services import Actor
from broker.cli.jobs import Counts, Job, schedule
from broker.cli.worker import RETRY_AFTER, Worker
from broker.config import Settings
from broker.core import Core
from broker.notifications.models import OutboxMessage
from broker.registry.models import Involvement, Organisation
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import CHILD_BSN, household, make_member, register
from tests.notifications.helpers import Receiver
from tests.uow import committed

ROOT = Path(__file__).resolve().parents[1]


def _checkpoints(core: Core) -> int:
    with core.transaction() as connection:
        return int(connection.execute(select(func.count()).select_from(AuditCheckpoint))
                   .scalar_one())


def test_one_tick_runs_every_job(core: Core, clock: FakeClock) -> None:
    registry = committed(core, RegistryService)
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    receiver = Receiver()
    try:
        with core.transaction() as connection:
            connection.execute(update(Organisation).where(Organisation.identifier == school.org)
                               .values(webhook_url=receiver.url))
        child = household(core, bsn=(CHILD_BSN,))
        ending = committed(core, RegistryService).register_involvement(
            school.actor, organisation=school.org, professional=school.username,
            pseudonyms=child, purpose="care_coordination", ends_on=core.today()).id
        register(registry, vt, child)  # the school's webhook: a new match
        clock.now += timedelta(days=1)  # the school's involvement has ended
        before = _checkpoints(core)

        ran = {r.job: r for r in Worker(core, schedule(core)).tick()}

        wal = {"sqlite-wal"} if core.settings.is_sqlite else set()
        assert set(ran) == {"housekeeping", "notifications", "contact-expiry",
                            "inform-reminders", "retention", "audit-checkpoint"} | wal
        assert not [r.job for r in ran.values() if r.failure]
        assert len(receiver.wait_for(1, timeout=5)) == 1
        assert ran["notifications"].counts == {"delivered": 1, "retried": 0, "given_up": 0}
        with core.session() as session:
            assert session.scalars(select(OutboxMessage.delivered_at)).one() is not None
            state = session.scalars(select(Involvement.state)
                                    .where(Involvement.public_id == ending)).one()
        assert ran["retention"].counts is not None and ran["retention"].counts["expired"] == 1
        assert state != "active"
        assert ran["audit-checkpoint"].counts == {
            "signed": 1, "cosigned": 0, "witnesses_unreachable": 0, "witnesses_refused": 0}
        assert _checkpoints(core) == before + 1
    finally:
        receiver.close()


def test_a_failing_job_is_logged_without_its_message_and_runs_again(
        core: Core, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def failing(_core: Core) -> Counts:
        calls.append(1)
        raise ValueError(f"no row for BSN {CHILD_BSN}")

    now = [0.0]
    worker = Worker(core, [Job("flaky", 5.0, failing), Job("hourly", 3600.0, failing)],
                    monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="broker.worker"):
        assert [r.failure for r in worker.tick()] == ["ValueError", "ValueError"]
        assert worker.tick() == []  # not due again yet
        now[0] = 5.0
        assert [r.job for r in worker.tick()] == ["flaky"]  # its next tick retries it
        now[0] = RETRY_AFTER
        assert [r.job for r in worker.tick()] == ["flaky", "hourly"]  # not an hour later
    assert len(calls) == 5
    assert "flaky failed (ValueError)" in caplog.text
    assert CHILD_BSN not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


def test_building_the_web_app_starts_no_thread(settings: Settings, core: Core) -> None:
    before = {thread.name for thread in threading.enumerate()}
    count = threading.active_count()
    create_app(core=core, TESTING=True)
    built = create_app(settings, TESTING=True)  # a core of its own, as gunicorn's workers build
    assert threading.active_count() == count
    assert {thread.name for thread in threading.enumerate()} == before
    assert "notifications" not in before and "audit-checkpoints" not in before
    del built


def test_sigterm_stops_the_worker_after_a_last_checkpoint(core: Core) -> None:
    settings = core.settings
    env = {**os.environ, "BROKER_HOME": str(settings.home),
           "BROKER_DATABASE_URL": settings.database_url,
           "BROKER_POLICY_DIR": str(settings.policy_dir), "BROKER_LOG_FORMAT": "text"}
    registry = committed(core, RegistryService)
    make_member(registry, "school")  # events since the last checkpoint
    process = subprocess.Popen(
        [sys.executable, "-c", "from broker.cli import main; main()", "--lang", "en", "worker"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        started = process.stderr.readline()
        assert "worker started" in started, started
        deadline = time.monotonic() + 20
        while _checkpoints(core) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        committed(core, RegistryService).create_organisation(
            Actor.operator("test"), identifier="late", name="Late", org_type="school")
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "worker stopped" in err
    with core.transaction() as connection:
        newest = connection.execute(select(func.max(AuditCheckpoint.tree_size))).scalar_one()
        size = connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    assert newest == size  # the last checkpoint covers what was written before the stop

