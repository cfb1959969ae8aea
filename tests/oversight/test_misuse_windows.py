"""The sliding windows of misuse detection, under small thresholds: counts leave the window,
one flag per window, organisations' volumes, concurrent look-ups, pruning."""

from __future__ import annotations

import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from sqlalchemy import func, select

from broker.audit.models import AuditEvent, MisuseCount
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import ValidationError
from broker.notifications.models import InboxMessage
from broker.oversight import misuse
from broker.registry.misuse import count_lookup, prune_counts
from broker.registry.models import ACCESS_AUDITOR
from broker.registry.services import RegistryService
from tests.conftest import OPEN_POLICY, FakeClock
from tests.factories import ADDRESS, MOTHER_BSN, Member, household, make_member, register
from tests.oversight.test_search import AUDITOR, last_event, look_up
from tests.uow import in_uow

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from bench_audit import counted_statements  # scripts/ is not a package

SMALL = """
misuse:
  fishing_window_minutes: 10
  fishing_lookups: 3
  volume_window_minutes: 30
  volume_lookups_per_professional: 5
  volume_lookups_per_organisation: 8
"""


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open test policy with small misuse thresholds."""
    directory = tmp_path / "policy"
    directory.mkdir()
    (directory / "policy.yaml").write_text(OPEN_POLICY.read_text() + SMALL)
    return directory


@pytest.fixture
def members(core: Core, registry: RegistryService) -> dict[str, Member]:
    """Veilig Thuis (registered on the mother) and a school; an auditor."""
    found = {key: make_member(registry, key) for key in ("vt", "school")}
    register(registry, found["vt"], household(core, bsn=(MOTHER_BSN,)))
    registry.add_professional(AUDITOR, organisation="basisschool", username="auditor-1",
                              name="Auditor", role="auditor", access_role=ACCESS_AUDITOR)
    return found


def flags(core: Core) -> list[tuple[str, str, int]]:
    """(kind, actor, look-ups) of every flag raised, oldest first."""
    with core.session() as session:
        return [(d["kind"], d["actor"], d["lookups"]) for d in session.scalars(
            select(AuditEvent.details).where(AuditEvent.event_type == "audit:misuse_flagged")
            .order_by(AuditEvent.seq))]


def inbox_count(core: Core) -> int:
    """Misuse flags in the auditors' inboxes."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(InboxMessage)
                              .where(InboxMessage.kind == "misuse_flag")) or 0


def times(core: Core, member: Member, keys: list[Pseudonym], count: int, clock: FakeClock,
          every: timedelta) -> None:
    """``count`` look-ups by ``member``, ``every`` apart."""
    for _ in range(count):
        look_up(core, member, keys)
        clock.now += every


def test_lookups_leave_the_window(core: Core, members: dict[str, Member],
                                  clock: FakeClock) -> None:
    own = household(core, bsn=(MOTHER_BSN,))
    times(core, members["vt"], own, 4, clock, timedelta(minutes=1))
    clock.now += timedelta(minutes=26)  # the first look-up is 30 minutes old: out
    look_up(core, members["vt"], own)
    assert flags(core) == []
    look_up(core, members["vt"], own)  # 5 within the last 30 minutes
    assert flags(core) == [("volume_professional", "professional:veilig-thuis-1", 5)]


def test_one_flag_per_window_however_long_it_goes_on(core: Core, members: dict[str, Member],
                                                     clock: FakeClock) -> None:
    own = household(core, bsn=(MOTHER_BSN,))
    # One look-up every 4 minutes: 8 within every 30 minutes, for two hours.
    times(core, members["vt"], own, 30, clock, timedelta(minutes=4))
    professional = [f for f in flags(core) if f[0] == "volume_professional"]
    # Flagged at the 5th (minute 16), again once that flag left the window (minute 48, 80,
    # 112): never twice within 30 minutes.
    assert professional == [("volume_professional", "professional:veilig-thuis-1", 5),
                            ("volume_professional", "professional:veilig-thuis-1", 8),
                            ("volume_professional", "professional:veilig-thuis-1", 8),
                            ("volume_professional", "professional:veilig-thuis-1", 8)]
    assert inbox_count(core) == len(flags(core))


def test_fishing_counts_only_households_the_organisation_is_not_on(
        core: Core, members: dict[str, Member], clock: FakeClock) -> None:
    own, other = household(core, bsn=(MOTHER_BSN,)), household(core, address=(ADDRESS,))
    for keys in (own, other, own, other, own):
        look_up(core, members["vt"], keys)
    assert flags(core) == [("volume_professional", "professional:veilig-thuis-1", 5)]
    clock.now += timedelta(minutes=5)
    look_up(core, members["vt"], other)  # the third without a registration, in 10 min.
    assert flags(core)[1:] == [("fishing", "professional:veilig-thuis-1", 3)]
    clock.now += timedelta(minutes=6)  # the first two left the fishing window
    look_up(core, members["vt"], other)
    assert len(flags(core)) == 2


def test_a_case_system_naming_no_professional_is_counted_by_its_key(
        core: Core, members: dict[str, Member]) -> None:
    vt = members["vt"]
    system = Member(vt.org, "", Actor(actor="key:vt-cms", channel="api",
                                      organisation_id=vt.actor.organisation_id))
    times(core, system, household(core, bsn=(MOTHER_BSN,)), 5, FakeClock(core.now()),
          timedelta(0))
    assert flags(core) == [("volume_professional", "key:vt-cms", 5)]


def test_an_organisations_volume_across_its_professionals(
        core: Core, registry: RegistryService, members: dict[str, Member]) -> None:
    school = members["school"]
    registry.add_professional(AUDITOR, organisation="basisschool", username="basisschool-2",
                              name="Tweede", role="leerkracht")
    second = Member(school.org, "basisschool-2", Actor(
        actor="professional:basisschool-2", channel="web",
        organisation_id=school.actor.organisation_id))
    keys = household(core, bsn=(MOTHER_BSN,))  # registered by VT, not by the school: fishing
    for _ in range(4):
        look_up(core, school, keys)
        look_up(core, second, keys)
    assert [f[0] for f in flags(core)] == ["fishing", "fishing", "volume_organisation"]
    with core.session() as session:
        organisation = session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == "audit:misuse_flagged").order_by(AuditEvent.seq.desc())
        ).first()
        assert organisation is not None
        assert organisation.organisation_id == school.actor.organisation_id
        assert organisation.details["lookups"] == 8


def test_concurrent_lookups_raise_one_flag(core: Core, registry: RegistryService,
                                           members: dict[str, Member]) -> None:
    keys = household(core, bsn=(MOTHER_BSN,))
    school = members["school"]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                look_up(core, school, keys)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 12 look-ups by one professional: one fishing flag, one volume flag each, however the
    # threads interleaved.
    assert sorted(f[0] for f in flags(core)) == [
        "fishing", "volume_organisation", "volume_professional"]
    assert inbox_count(core) == 3


def test_prune_counts_keeps_only_what_a_window_reaches(core: Core, members: dict[str, Member],
                                                      clock: FakeClock) -> None:
    own = household(core, bsn=(MOTHER_BSN,))
    look_up(core, members["vt"], own)
    clock.now += timedelta(minutes=31)
    look_up(core, members["vt"], own)
    assert in_uow(
            core, prune_counts, Actor.system("purge")) == 2  # the first minute's two rows
    event = last_event(core)
    assert (event.event_type, event.action, event.details["rows"]) == (
        "audit:misuse_counts_pruned", "D", 2)
    with core.session() as session:
        assert session.scalar(select(func.count()).select_from(MisuseCount)) == 2
    assert in_uow(core, prune_counts, Actor.system("purge")) == 0


def test_flag_reports_refuse_unknown_kinds_and_periods(core: Core) -> None:
    for kinds in ((), ("nonsense",)):
        with pytest.raises(ValidationError) as refused:
            in_uow(core, misuse.misuse_flags, AUDITOR, kinds)
        assert refused.value.message("nl") != refused.value.message("en")
    with pytest.raises(ValidationError):
        in_uow(core, misuse.misuse_flags, AUDITOR, misuse.FISHING_KINDS, core.now(),
                            core.now() - timedelta(days=1))


# Statements of counting one look-up: SQLite the upsert and the sums; PostgreSQL one.
COUNT_STATEMENTS = {"sqlite": 2, "postgresql": 1}


def test_a_look_up_is_counted_in_its_pinned_number_of_statements(
        core: Core, members: dict[str, Member]) -> None:
    """Issue 13: on PostgreSQL the upsert rides with the sums in one statement; the sums it
    reads are those before it, plus the one it adds (the flags above hold on both dialects).
    Three look-ups stay under every threshold: no flag adds statements of its own."""
    vt = members["vt"]
    with core.transaction() as connection:
        count_lookup(connection, core, vt.actor, vt.actor.organisation_id or 0, "e-0",
                     fishing=False)  # the transaction has begun (BEGIN), the policy is read
        for expected in (2, 3):
            with counted_statements(connection) as counted:
                count_lookup(connection, core, vt.actor, vt.actor.organisation_id or 0, "e-1",
                             fishing=False)
            assert counted.statements == COUNT_STATEMENTS[core.engine.dialect.name]
            assert connection.execute(select(func.sum(MisuseCount.lookups)).where(
                MisuseCount.scope == "professional")).scalar() == expected
    assert flags(core) == []
