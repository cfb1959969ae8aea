"""Rotating ``k`` where the broker cannot read it (issue 15): ``broker keys rotate --which oprf``
asks the pseudonym service for the next epoch of ``k``, pins its public half and the per-epoch
factor ``k_new·k_old⁻¹`` (never ``k``), has the service switch to it, and re-keys in place.

The same tests run embedded (``k`` in the broker's keys) and remote: the stored values, the
epochs accepted and refused, and look-ups across the rotation are the same in both; a crash at
any step of the remote rotation (service unreachable, next epoch prepared but not switched to,
re-keying half done) resumes to the same end, and look-ups keep matching meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker_primitives import oprf
from sqlalchemy import func, select

from broker.audit.models import AuditEvent
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.outages import PseudonymServiceUnavailable
from broker.passwords import Argon2idHasher
from broker.pseudonym_service import home
from broker.pseudonym_service.store import key_events
from broker.pseudonyms.matching import InvalidPseudonymError
from broker.pseudonyms.remote import RemoteEvaluator
from broker.registry.models import MatchingKey
from broker.registry.rotation import remaining_rows, run_rotation, start_or_resume
from broker.registry.services import RegistryService
from broker.setup import initialise
from tests.conftest import broker_cli
from tests.factories import CHILD_BSN, household, lookup_orgs, make_member, register
from tests.pseudonyms.conftest import paired
from tests.pseudonyms.service_process import ServiceProcess, running_service
from tests.registry.test_rotation import (
    OPERATOR,
    _finds_each_other,
    _populate,
    _values,
    make_member_actor,
)
from tests.test_cli import _setup
from tests.uow import committed

pytestmark = pytest.mark.slow
#: k at an epoch, read where it lives (the broker's keys embedded, the service's otherwise).
KeyOf = Callable[[int], bytes]


@pytest.fixture(params=["embedded", "remote"])
def mode(request: pytest.FixtureRequest, settings: Settings, service_dir: Path, tmp_path: Path
         ) -> Iterator[tuple[str, Core, KeyOf]]:
    """The broker embedded, or remote beside a service process; and where its k is read."""
    if request.param == "embedded":
        core = Core(settings, passwords=Argon2idHasher.cheapest(), notices=InboxNotices())
        initialise(core, OPERATOR)
        try:
            yield "embedded", core, lambda epoch: core.keystore.load("oprf", epoch)
        finally:
            core.dispose()
        return
    service_keys = home.keystore(service_dir)
    with paired(settings, service_dir, tmp_path / "service.log") as (remote, _):
        yield "remote", remote, lambda epoch: service_keys.load("oprf", epoch)


def _rotate(core: Core) -> None:
    rotation, _ = start_or_resume(core, OPERATOR, "oprf", grace=0)
    run_rotation(core, OPERATOR, rotation, batch_size=3)


def test_rotating_k_rekeys_in_place_and_accepts_the_old_epoch_as_embedded(
        mode: tuple[str, Core, KeyOf]) -> None:
    name, core, k = mode
    registry = committed(core, RegistryService)
    _populate(core, registry)
    before = _values(core)
    old = household(core, bsn=(CHILD_BSN,))
    assert old[0].oprf_epoch == 1

    _rotate(core)

    factor = oprf.rotation_factor(k(1), k(2))
    assert sorted(_values(core)) == sorted(oprf.scalar_mult(factor, v) for v in before)
    assert household(core, bsn=(CHILD_BSN,))[0].oprf_epoch == 2  # evaluated under the new k
    assert _finds_each_other(core, registry)
    school = make_member_actor(registry)
    # A pseudonym evaluated before the rotation (the previous epoch) still counts.
    assert lookup_orgs(registry, school, old).get("Veilig Thuis Midden") == ("person",)

    _rotate(core)
    assert household(core, bsn=(CHILD_BSN,))[0].oprf_epoch == 3
    assert _finds_each_other(core, registry)
    with pytest.raises(InvalidPseudonymError, match="epoch 1 is not current"):
        lookup_orgs(registry, school, old)  # two epochs back: evaluate again
    with core.session() as session:
        events = session.scalars(select(AuditEvent.event_type).where(
            AuditEvent.event_type.like("keys:rotation_%")).order_by(AuditEvent.id)).all()
    assert events == ["keys:rotation_started", "keys:rotation_finished"] * 2
    if name == "remote":
        pinned = core.settings.keys_dir / "oprf"
        assert not list(pinned.glob("*.key"))  # the broker never held k
        assert sorted(p.name for p in pinned.glob("*.pub")) == \
            ["0001.pub", "0002.pub", "0003.pub"]


def test_the_service_records_each_step_of_a_brokers_rotation(
        paired_core: tuple[Core, ServiceProcess], service_dir: Path) -> None:
    core, _ = paired_core
    _rotate(core)
    with home.open_service(service_dir).engine.connect() as connection:
        rows = connection.execute(select(
            key_events.c.action, key_events.c.from_epoch, key_events.c.to_epoch,
            key_events.c.client_key).order_by(key_events.c.id)).all()
    assert [tuple(row) for row in rows] == [("prepared", 1, 2, "broker-1"),
                                           ("activated", 1, 2, "broker-1")]
    assert isinstance(core.evaluator, RemoteEvaluator)


def test_a_crash_at_any_step_of_a_remote_rotation_resumes_and_keeps_matching(
        paired_core: tuple[Core, ServiceProcess]) -> None:
    core, service = paired_core
    registry = committed(core, RegistryService)
    _populate(core, registry)

    # 1. The service is unreachable: the rotation is recorded, nothing else changed.
    service.stop()
    with pytest.raises(PseudonymServiceUnavailable):
        start_or_resume(core, OPERATOR, "oprf", grace=0)
    service.start()
    assert core.keystore.current_epoch("oprf") == 1
    assert _finds_each_other(core, registry)

    # 2. The next epoch is prepared and pinned, but the service was never told to switch.
    evaluator = core.evaluator
    assert isinstance(evaluator, RemoteEvaluator)
    step = evaluator.next_epoch(1)
    core.keystore.pin_oprf(step.to_epoch, step.public_key, step.factor)
    assert household(core, bsn=(CHILD_BSN,))[0].oprf_epoch == 1  # still evaluated under k1
    assert _finds_each_other(core, registry)

    # 3. Resumed, then stopped after two batches: rows at both epochs, look-ups still match,
    #    and a registration made meanwhile is found afterwards.
    rotation, resumed = start_or_resume(core, OPERATOR, "oprf", grace=0)
    assert resumed and (rotation.from_epoch, rotation.to_epoch) == (1, 2)
    assert household(core, bsn=(CHILD_BSN,))[0].oprf_epoch == 2
    total = remaining_rows(core, rotation)
    assert run_rotation(core, OPERATOR, rotation, batch_size=2, max_batches=2) == 4
    assert remaining_rows(core, rotation) == total - 4
    assert _finds_each_other(core, registry)
    register(registry, make_member(registry, "wijkteam"), household(core, bsn=(CHILD_BSN,)))

    resumed_rotation, resumed = start_or_resume(core, OPERATOR, "oprf", grace=0)
    assert resumed and resumed_rotation == rotation
    run_rotation(core, OPERATOR, resumed_rotation, batch_size=2)
    assert remaining_rows(core, rotation) == 0
    with core.session() as session:
        assert set(session.scalars(select(MatchingKey.oprf_epoch))) == {2}
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event_type == "keys:rotation_finished")) == 1
    found = lookup_orgs(registry, make_member_actor(registry), household(core, bsn=(CHILD_BSN,)))
    assert "Wijkteam Noord" in found and "Veilig Thuis Midden" in found


def test_broker_keys_rotate_which_oprf_from_the_command_line_in_remote_mode(
        tmp_path: Path, service_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker_home = tmp_path / "home"
    run = broker_cli(monkeypatch, broker_home)
    home.pair(service_dir, broker_home / "keys", "broker-1")
    with running_service(service_dir, tmp_path / "service.log") as service:
        monkeypatch.setenv("BROKER_PSEUDONYM_SERVICE_URL", service.base)
        _setup(run)
        assert run("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose",
                   "protection", "--bsn", "123456782").exit_code == 0
        rotated = run("keys", "rotate", "--which", "oprf", "--batch-size", "1")
        assert rotated.exit_code == 0, rotated.output
        assert "epoch 1 -> 2" in rotated.output and "done: 2 stored keys" in rotated.output
        found = run("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                    "care_coordination", "--basis", "legal_task", "--statute",
                    "jeugdwet_7_1_1", "--bsn", "123456782", "--json")
        assert len(json.loads(found.output)["matches"]) == 1
    assert not list((broker_home / "keys" / "oprf").glob("*.key"))
    assert home.keystore(service_dir).current_epoch("oprf") == 2
