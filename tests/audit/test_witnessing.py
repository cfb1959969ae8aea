"""Checkpoints leave the database: a witness co-signs them and keeps its own copy, and a log cut
back or rewritten behind the witness's back is caught by ``broker audit verify``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from broker.audit.checkpoints import sign_checkpoint
from broker.audit.models import AuditCheckpoint, AuditCosignature
from broker.audit.notes import CosignerKey
from broker.audit.services import Actor, record_event
from broker.audit.verification import VerifyReport, verify_log
from broker.audit.witnessing import (
    configured_witnesses,
    frontier_at,
    gather_copies,
    hand_to_witnesses,
    quorum,
)
from broker.cli.jobs import schedule
from broker.cli.worker import Worker
from broker.config import Settings
from broker.core import Core
from broker.errors import ConfigurationError
from tests.audit.attacks import cut_back, drop_guards
from tests.witness.running import RunningWitness

WEB = Actor(actor="professional:anna", channel="web", organisation_id=1)


@pytest.fixture
def witness(core: Core, tmp_path: Path) -> Iterator[RunningWitness]:
    running = RunningWitness(tmp_path / "witness", core)
    running.start()
    running.configure(core)
    yield running
    if running.service is not None and running._server is not None:
        running.stop()


def append(core: Core, count: int) -> None:
    for _ in range(count):
        with core.transaction() as connection:
            record_event(connection, WEB, "lookup:performed")


def verify(core: Core, *, ask: bool = True) -> VerifyReport:
    settings = core.settings
    gathered = gather_copies(settings, core.audit_key(), [], ask=ask)
    with core.transaction() as connection:
        return verify_log(connection, core.audit_key(),
                          witnesses=[w.key for w in configured_witnesses(settings)],
                          quorum=quorum(settings), copies=gathered.copies)


def cosignatures(core: Core) -> int:
    with core.transaction() as connection:
        return connection.execute(select(func.count()).select_from(AuditCosignature)).scalar_one()


def test_each_new_checkpoint_is_cosigned_and_the_cosignature_kept(
        core: Core, witness: RunningWitness) -> None:
    append(core, 3)
    first = sign_checkpoint(core)
    assert first is not None
    assert [h.status for h in hand_to_witnesses(core)] == ["cosigned"]
    assert [h.status for h in hand_to_witnesses(core)] == ["current"]  # nothing new
    append(core, 300)  # a proof across a stored compact range of more than 256 leaves
    sign_checkpoint(core)
    assert [h.status for h in hand_to_witnesses(core)] == ["cosigned"]
    assert cosignatures(core) == 2
    report = verify(core)
    assert report.ok, report.problem
    assert (report.cosignatures, report.copies, report.awaiting_cosignatures) == (2, 1, False)
    assert report.witnessed_size == report.newest_checkpoint


def test_the_log_goes_on_while_the_witness_is_down_and_catches_up(
        core: Core, witness: RunningWitness) -> None:
    append(core, 2)
    sign_checkpoint(core)
    assert hand_to_witnesses(core)[0].status == "cosigned"
    witness.stop()
    for _ in range(3):
        append(core, 5)
        sign_checkpoint(core)
        handed = hand_to_witnesses(core)
        assert [h.status for h in handed] == ["unreachable"]
    report = verify(core)  # the witness cannot be asked: only the stored cosignatures count
    assert report.ok and report.copies == 0
    assert report.awaiting_cosignatures and report.witnessed_size is not None
    witness.start()
    assert hand_to_witnesses(core)[0].status == "cosigned"  # from the size it held, in one
    report = verify(core)
    assert report.ok and not report.awaiting_cosignatures and report.copies == 1


def test_the_worker_hands_its_last_checkpoint_over_when_it_stops(
        core: Core, witness: RunningWitness) -> None:
    core.settings = core.settings.with_overrides(audit_checkpoint_interval=3600.0)
    worker = Worker(core, schedule(core))
    append(core, 3)
    worker.stop()
    worker.run()  # no tick: the jobs run at stop sign a last checkpoint and hand it over
    with core.transaction() as connection:
        newest = connection.execute(select(func.max(AuditCheckpoint.tree_size))).scalar_one()
    assert witness_size(witness, core) == newest
    assert cosignatures(core) == 1


def test_an_answer_lost_on_the_way_back_is_recovered_from_the_409_size(
        core: Core, witness: RunningWitness) -> None:
    """The witness co-signed, the broker never heard: it proves on from the size it is told."""
    append(core, 4)
    lost = sign_checkpoint(core)
    assert lost is not None
    httpx.post(f"{witness.url}/add-checkpoint",
               content=f"old 0\n\n{lost.note}".encode()).raise_for_status()
    append(core, 3)
    sign_checkpoint(core)
    assert hand_to_witnesses(core)[0].status == "cosigned"
    assert cosignatures(core) == 1


def test_a_log_cut_back_to_an_old_checkpoint_is_caught_with_the_witness_copy(
        core: Core, witness: RunningWitness, caplog: pytest.LogCaptureFixture) -> None:
    """Events, checkpoints, cosignatures and the state row rewound with the triggers off: the
    database alone is consistent again, the witness's copy is not."""
    append(core, 5)
    old = sign_checkpoint(core)
    assert old is not None
    hand_to_witnesses(core)
    append(core, 6)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    cut_back(core, old.tree_size)
    assert verify(core, ask=False).ok  # without the witness's copy the cut does not show
    report = verify(core)
    assert report.problem is not None and report.problem.kind == "cut back"
    assert f"but the log holds {old.tree_size}: the log was cut back" in report.problem.message
    append(core, 1)  # the broker goes on on the cut log
    sign_checkpoint(core)
    with caplog.at_level(logging.CRITICAL, logger="broker.audit"):
        handed = hand_to_witnesses(core)
    assert handed[0].status == "refused" and "cut back" in caplog.text


def test_a_rewritten_log_is_caught_and_its_checkpoint_refused_by_the_witness(
        core: Core, witness: RunningWitness) -> None:
    append(core, 5)
    old = sign_checkpoint(core)
    assert old is not None
    append(core, 6)
    sign_checkpoint(core)
    hand_to_witnesses(core)  # the witness holds 11 events (12 with the key event)
    held = witness_size(witness, core)
    cut_back(core, old.tree_size)
    append(core, held - old.tree_size + 4)  # other events, more than before
    sign_checkpoint(core)
    handed = hand_to_witnesses(core)
    assert handed[0].status == "refused"  # 422: no consistency from the size it holds
    report = verify(core)
    assert report.problem is not None and report.problem.kind == "witness"
    assert f"the events up to {held} do not give the root" in report.problem.message


def witness_size(witness: RunningWitness, core: Core) -> int:
    assert witness.service is not None
    with witness.service.store.transaction() as session:
        latest = session.latest(core.audit_key().name)
    assert latest is not None
    return latest.size


def test_an_altered_cosignature_or_compact_range_is_caught(core: Core,
                                                           witness: RunningWitness) -> None:
    append(core, 3)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    drop_guards(core)
    with core.transaction() as connection:
        line = connection.execute(select(AuditCosignature.signature)).scalar_one()
        connection.execute(text("UPDATE audit_cosignatures SET signature = :line"),
                           {"line": line[:-6] + "AAAA" + line[-2:]})
    report = verify(core)
    assert report.problem is not None and report.problem.kind == "cosignature"
    with core.transaction() as connection:
        connection.execute(text("DELETE FROM audit_cosignatures"))
        connection.execute(text("UPDATE audit_checkpoints SET frontier = :f"),
                           {"f": bytes(32) * 2})
    report = verify(core)
    assert report.problem is not None and report.problem.kind == "checkpoint"


def test_cosignatures_and_checkpoints_cannot_be_changed_or_deleted(
        core: Core, witness: RunningWitness) -> None:
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    append(core, 2)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    for statement in ("UPDATE audit_cosignatures SET witness = 'x'",
                      "DELETE FROM audit_cosignatures",
                      "UPDATE audit_checkpoints SET frontier = NULL"):
        with pytest.raises(DBAPIError, match="append-only"), core.transaction() as connection:
            connection.execute(text(statement))


def test_a_compact_range_is_rebuilt_for_checkpoints_without_one(core: Core) -> None:
    append(core, 20)
    signed = sign_checkpoint(core)
    assert signed is not None
    drop_guards(core)
    with core.transaction() as connection:
        connection.execute(text("UPDATE audit_checkpoints SET frontier = NULL"))
        assert frontier_at(connection, signed.tree_size).root() == signed.root_hash
        assert connection.execute(select(AuditCheckpoint.frontier)).scalar() is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"witness_urls": ("http://127.0.0.1:1",), "witness_keys": ()}, "one verifier key per URL"),
    ({"witness_urls": ("ftp://127.0.0.1:1",), "witness_keys": ("x",)}, "not an http"),
    ({"witness_urls": ("http://127.0.0.1:1",), "witness_keys": ("nonsense",)},
     "not a witness's verifier key"),
])
def test_witness_settings_that_do_not_fit_are_refused(core: Core, changes: dict[str, object],
                                                      message: str) -> None:
    core.settings = core.settings.with_overrides(**changes)
    with pytest.raises(ConfigurationError, match=message):
        hand_to_witnesses(core)


def test_a_log_key_is_not_a_witness_key_and_the_quorum_is_bounded(
        core: Core, witness: RunningWitness) -> None:
    with pytest.raises(ConfigurationError, match="cosigning key"):
        configured_witnesses(core.settings.with_overrides(
            witness_keys=(core.audit_key().verifier(),)))
    with pytest.raises(ConfigurationError, match="QUORUM is 2"):
        quorum(core.settings.with_overrides(witness_quorum=2))
    assert CosignerKey.from_verifier(witness.verifier).verifier() == witness.verifier


def test_witness_settings_that_do_not_fit_stop_the_start(core: Core) -> None:
    core.settings = core.settings.with_overrides(witness_urls=("http://127.0.0.1:1",))
    with pytest.raises(ConfigurationError, match="BROKER_WITNESS_KEYS"):
        schedule(core)


@pytest.mark.parametrize("raw", ["0", "1.5", "two", "-1"])
def test_the_quorum_setting_is_a_whole_number(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="BROKER_WITNESS_QUORUM"):
        Settings.from_env({"BROKER_WITNESS_QUORUM": raw})
    assert Settings.from_env({"BROKER_WITNESS_QUORUM": "2", "BROKER_WITNESS_URLS": "a, b,",
                              }).witness_urls == ("a", "b")
