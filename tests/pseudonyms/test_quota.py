"""The daily evaluation quota in the database: one statement counts and checks, a batch whole
or not at all, shared by every core on the database, the Dutch day, and who is charged."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from broker_primitives import oprf
from sqlalchemy import Connection, func, select, text

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core, UnitOfWork
from broker.demo import load_demo
from broker.errors import ValidationError
from broker.pseudonyms.models import EvaluationCount
from broker.pseudonyms.quota import QuotaExceeded, charge
from broker.registry.services import RegistryService
from tests.conftest import OPEN_POLICY, SHIPPED_POLICY, FakeClock
from tests.uow import in_uow

QUOTA, SCHOOL_QUOTA = 5, 2
ELEMENT = oprf.blind(b"bsn|123456782")[1]


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open test policy with a small daily quota, smaller still for schools."""
    path = tmp_path / "quota-policy.yaml"
    path.write_text(OPEN_POLICY.read_text() + (
        f"quotas:\n  pseudonym_evaluations_per_day: {QUOTA}\n"
        f"  per_organisation_type:\n    school: {SCHOOL_QUOTA}\n"))
    return path


def organisation(registry: RegistryService, code: str, org_type: str) -> Actor:
    """A new organisation, and an actor acting for it."""
    org = registry.create_organisation(Actor.operator("test"), identifier=code, name=code,
                                       org_type=org_type)
    return Actor(actor=f"key:{code}-1", channel="api", organisation_id=org.id)


@pytest.fixture
def vt(registry: RegistryService) -> Actor:
    """Veilig Thuis, under the default quota."""
    return organisation(registry, "vt", "veilig_thuis")


def events(core: Core, event_type: str) -> list[AuditEvent]:
    """Audit events of ``event_type``, oldest first."""
    with core.session() as session:
        found = list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                     .order_by(AuditEvent.seq)))
        session.expunge_all()
    return found


def counted(core: Core) -> list[tuple[int, str, int]]:
    """Every stored count: (organisation id, day, evaluations)."""
    with core.session() as session:
        return [(o, d.isoformat(), n) for o, d, n in session.execute(
            select(EvaluationCount.organisation_id, EvaluationCount.day,
                   EvaluationCount.evaluations).order_by(EvaluationCount.organisation_id))]


def test_a_batch_is_charged_whole_or_not_at_all(core: Core, vt: Actor) -> None:
    first = in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * 3)
    assert first.quota is not None and (first.quota.used, first.quota.remaining) == (3, 2)
    assert len(first.evaluation.elements) == 3
    with pytest.raises(QuotaExceeded) as refused:
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * 3)
    assert (refused.value.use.used, refused.value.use.remaining) == (3, 2)
    assert refused.value.status == 429 and "5" in refused.value.message("en")
    assert "dagquotum" in refused.value.message("nl")
    last = in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * 2)
    assert last.quota is not None and last.quota.remaining == 0
    with pytest.raises(QuotaExceeded):
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT])
    assert [e.details for e in events(core, "pseudonym:evaluated")] == [
        {"count": 3, "key_epoch": 1, "quota": QUOTA, "used": 3},
        {"count": 2, "key_epoch": 1, "quota": QUOTA, "used": 5}]
    refusals = events(core, "pseudonym:quota_refused")
    assert [(e.outcome, e.details["count"], e.details["used"]) for e in refusals] == [
        ("refused", 3, 3), ("refused", 1, 5)]
    assert {e.organisation_id for e in refusals} == {vt.organisation_id}
    assert counted(core) == [(vt.organisation_id, "2026-03-02", 5)]


def test_a_first_batch_larger_than_the_quota_is_refused(core: Core, vt: Actor) -> None:
    with pytest.raises(QuotaExceeded):
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * (QUOTA + 1))
    assert counted(core) == []
    assert in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA).quota is not None


def test_the_quota_per_organisation_type_and_per_organisation(
        core: Core, vt: Actor, registry: RegistryService) -> None:
    school = organisation(registry, "school", "school")
    other_school = organisation(registry, "school-2", "school")
    in_uow(core, UnitOfWork.evaluate, school, [ELEMENT] * SCHOOL_QUOTA)
    with pytest.raises(QuotaExceeded):
        in_uow(core, UnitOfWork.evaluate, school, [ELEMENT])
    # Each organisation has its own quota; the type's limit is per organisation of the type.
    other = in_uow(core, UnitOfWork.evaluate, other_school, [ELEMENT] * SCHOOL_QUOTA)
    assert other.quota is not None
    assert in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA).quota is not None


def test_a_restart_and_a_second_core_share_the_count(core: Core, vt: Actor,
                                                     clock: FakeClock) -> None:
    in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * 3)
    restarted = Core(core.settings, clock=clock)  # a new process or worker on one database
    try:
        with pytest.raises(QuotaExceeded):
            in_uow(restarted, UnitOfWork.evaluate, vt, [ELEMENT] * 3)
        in_uow(restarted, UnitOfWork.evaluate, vt, [ELEMENT])
        with pytest.raises(QuotaExceeded):
            in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * 2)
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT])
        for either in (core, restarted):
            with pytest.raises(QuotaExceeded):
                in_uow(either, UnitOfWork.evaluate, vt, [ELEMENT])
    finally:
        restarted.dispose()
    assert counted(core) == [(vt.organisation_id, "2026-03-02", QUOTA)]


def test_requests_at_once_never_exceed_the_quota(core: Core, vt: Actor,
                                                 clock: FakeClock) -> None:
    other = Core(core.settings, clock=clock)
    granted: list[int] = []
    refused: list[int] = []
    failed: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(which: Core) -> None:
        start.wait()
        for _ in range(4):
            try:
                in_uow(which, UnitOfWork.evaluate, vt, [ELEMENT])
                granted.append(1)
            except QuotaExceeded:
                refused.append(1)
            except BaseException as exc:  # reported below, not swallowed
                failed.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in (core, other) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert failed == []
    assert (len(granted), len(refused)) == (QUOTA, 24 - QUOTA)
    assert counted(core) == [(vt.organisation_id, "2026-03-02", QUOTA)]
    assert len(events(core, "pseudonym:evaluated")) == QUOTA


def test_the_quota_renews_at_dutch_midnight(core: Core, vt: Actor, clock: FakeClock) -> None:
    # 23:59 in Amsterdam in winter (CET, UTC+1) is 22:59 UTC.
    clock.now = datetime(2026, 3, 2, 22, 59, tzinfo=UTC)
    spent = in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA).quota
    assert spent is not None and spent.resets_at == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    with pytest.raises(QuotaExceeded):
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT])
    clock.now = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # midnight in Amsterdam
    assert in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT]).quota is not None
    # In summer (CEST, UTC+2) the Dutch day begins at 22:00 UTC.
    clock.now = datetime(2026, 7, 1, 21, 59, tzinfo=UTC)
    in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA)
    clock.now = datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
    assert in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA).quota is not None
    assert [day for _, day, _ in counted(core)] == [
        "2026-03-02", "2026-03-03", "2026-07-01", "2026-07-02"]


def test_an_operator_is_charged_to_no_organisation(core: Core, vt: Actor) -> None:
    in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT] * QUOTA)
    charged = in_uow(core, UnitOfWork.evaluate, Actor.operator("auditor"), [ELEMENT] * 10)
    assert charged.quota is None and len(charged.evaluation.elements) == 10
    assert counted(core) == [(vt.organisation_id, "2026-03-02", QUOTA)]
    assert len(events(core, "pseudonym:evaluated")) == 1


@pytest.mark.parametrize("policy_path", [SHIPPED_POLICY])
def test_loading_the_demo_is_charged_to_no_organisation(core: Core, policy_path: Path) -> None:
    summary = load_demo(core, households=3, seed=7)
    assert summary.involvements > 0
    assert counted(core) == []
    assert events(core, "pseudonym:evaluated") == []


def test_a_bad_batch_is_neither_charged_nor_recorded(core: Core, vt: Actor) -> None:
    with pytest.raises(ValidationError):
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT, b"\x00" * 32])
    with pytest.raises(ValidationError):
        in_uow(core, UnitOfWork.evaluate, vt, [])
    assert counted(core) == []
    assert events(core, "pseudonym:evaluated") == events(core, "pseudonym:quota_refused") == []


def test_no_count_no_evaluation(core: Core, vt: Actor) -> None:
    # The quota cannot be read or written (here: its table is gone): nothing is evaluated, and
    # nothing is recorded as evaluated.
    before = all_events(core)
    with core.transaction() as connection:
        connection.execute(text("DROP TABLE evaluation_counts"))
    with pytest.raises(Exception, match="evaluation_counts"):
        in_uow(core, UnitOfWork.evaluate, vt, [ELEMENT])
    assert all_events(core) == before


def all_events(core: Core) -> int:
    """The log's size."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_an_evaluation_made_stays_charged_when_its_request_is_refused_after_it(
        core: Core, vt: Actor) -> None:
    """A request that evaluated and is then refused is undone, but its evaluation is paid for:
    even when other requests filled the quota while it was being undone (here: a write kept
    before it that fills the quota only on the replay after the refusal)."""
    replayed: list[bool] = []

    def fill_on_replay(connection: Connection) -> None:
        if replayed:  # the first run is the request's own; the second follows the undo
            charge(connection, organisation_id=vt.organisation_id or 0, day=core.today(),
                   count=QUOTA, quota=QUOTA)
        replayed.append(True)

    with pytest.raises(ValidationError), core.unit_of_work() as uow:
        fill_on_replay(uow.connection)
        uow.keep(fill_on_replay)
        uow.evaluate(vt, [ELEMENT])
        uow.refuse(ValidationError("refused after the evaluation"), vt,
                   "lookup:refused")
    assert counted(core) == [(vt.organisation_id, core.today().isoformat(), QUOTA + 1)]
    (evaluated,) = events(core, "pseudonym:evaluated")
    assert evaluated.details["used"] == QUOTA + 1
