"""Misuse seen the same day, under the shipped policy (fishing: 10 look-ups in 60 minutes;
volume: 20 per professional, 500 per organisation in 60 minutes): the attack of issue 10 and
the reports that show today's flags."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.demo import ORGANISATIONS, SHOWCASE
from broker.notifications.models import InboxMessage
from broker.oversight import misuse
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import ACCESS_AUDITOR
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, FakeClock, broker_cli
from tests.oversight.test_search import AUDITOR, follow_clock, last_event
from tests.uow import committed, in_uow

OPERATOR = Actor.operator("test")  # evaluations charged to no organisation

A, B = SHOWCASE
STATUTE = Evidence(statute="wmo2015_5_2_6")


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy's thresholds are the ones under test."""
    return SHIPPED_POLICY


def professional(registry: RegistryService, code: str, number: int = 1) -> Actor:
    """A demo professional of ``code``, signed in on the web."""
    org = registry.get_organisation(code)
    return Actor(actor=f"professional:{code}-{number}", channel="web", organisation_id=org.id)


def look_up(core: Core, actor: Actor, keys: list[Pseudonym]) -> str:
    """One look-up for a safety assessment; its audit event id."""
    return committed(core, LookupService).lookup(
            actor, pseudonyms=keys, purpose="safety_assessment",
                                      basis="legal_task", evidence=STATUTE).lookup_id


def flag_messages(core: Core) -> list[str]:
    """The references of the misuse flags in every inbox."""
    with core.session() as session:
        return list(session.scalars(select(InboxMessage.reference).where(
            InboxMessage.kind == "misuse_flag").order_by(InboxMessage.id)))


def flag_events(core: Core) -> list[AuditEvent]:
    """Every ``audit:misuse_flagged`` event, oldest first (detached)."""
    with core.session() as session:
        events = list(session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == "audit:misuse_flagged").order_by(AuditEvent.seq)))
        session.expunge_all()
        return events


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """Three of the demo's organisations with two professionals each (no passwords: quick),
    the neighbourhood team registered on A's address, the GP on B's person; one auditor."""
    for code, name, org_type in ORGANISATIONS:
        if code in ("wijkteam-noord", "huisartsen-oost", "ggz-centraal"):
            registry.create_organisation(AUDITOR, identifier=code, name=name, org_type=org_type)
            for number in (1, 2):
                registry.add_professional(AUDITOR, organisation=code, username=f"{code}-{number}",
                                          name=f"{name} {number}", role="contactpersoon")
    for code, keys in (("wijkteam-noord", A.identifiers()[2:]),
                       ("huisartsen-oost", B.identifiers()[1:2])):
        registry.register_involvement(professional(registry, code), organisation=code,
                                      professional=f"{code}-1", purpose="protection",
                                      pseudonyms=core.pseudonymise(OPERATOR, keys))
    registry.add_professional(AUDITOR, organisation="wijkteam-noord", username="auditor-1",
                              name="Auditor", role="auditor", access_role=ACCESS_AUDITOR)


@pytest.mark.usefixtures("world")
def test_twenty_lookups_in_ten_minutes_are_flagged_at_the_twentieth(
        core: Core, registry: RegistryService, clock: FakeClock) -> None:
    # Issue 10, attack 9: the daily volume report flagged strictly more than 20 a day, and
    # only afterwards. The neighbourhood team is registered on A's address: no fishing here.
    actor = professional(registry, "wijkteam-noord")
    address = core.pseudonymise(OPERATOR, A.identifiers()[2:])
    for _ in range(19):
        look_up(core, actor, address)
        clock.now += timedelta(seconds=30)
    assert flag_messages(core) == [] and flag_events(core) == []
    twentieth = look_up(core, actor, address)
    (event,) = flag_events(core)
    assert (event.action, event.actor, event.channel) == ("E", "system:misuse", "system")
    assert event.organisation_id == actor.organisation_id
    assert event.details == {"kind": "volume_professional",
                             "actor": "professional:wijkteam-noord-1", "lookups": 20,
                             "threshold": 20, "window_minutes": 60, "lookup_event": twentieth}
    assert flag_messages(core) == [event.event_id]  # the one auditor, at once
    clock.now += timedelta(seconds=30)
    look_up(core, actor, address)  # the 21st: no second flag within the window
    assert flag_messages(core) == [event.event_id] and len(flag_events(core)) == 1


@pytest.mark.usefixtures("world")
def test_fishing_is_flagged_at_the_tenth_lookup_without_a_registration(
        core: Core, registry: RegistryService, clock: FakeClock) -> None:
    gp = professional(registry, "huisartsen-oost")  # registered on B (a person), not on A
    own = core.pseudonymise(OPERATOR, B.identifiers()[1:2])
    others = core.pseudonymise(OPERATOR, A.identifiers())
    for _ in range(5):
        look_up(core, gp, own)  # its own household: never fishing
    for _ in range(9):
        look_up(core, gp, others)
        clock.now += timedelta(minutes=5)
    assert flag_events(core) == []
    tenth = look_up(core, gp, others)
    (event,) = flag_events(core)
    assert event.details == {"kind": "fishing", "actor": "professional:huisartsen-oost-1",
                             "lookups": 10, "threshold": 10, "window_minutes": 60,
                             "lookup_event": tenth}
    assert flag_messages(core) == [event.event_id]
    look_up(core, gp, others)
    assert len(flag_events(core)) == 1


@pytest.mark.usefixtures("world")
def test_a_rolled_back_lookup_raises_no_flag_and_tells_no_auditor(
        core: Core, registry: RegistryService) -> None:
    # The flag, its event and the auditors' messages are written in the look-up's transaction:
    # a look-up whose answer then fails leaves none of them, nor its count.
    gp = professional(registry, "huisartsen-oost")
    others = core.pseudonymise(OPERATOR, A.identifiers())
    for _ in range(9):
        look_up(core, gp, others)
    with pytest.raises(RuntimeError, match="answer"), core.unit_of_work() as uow:
        LookupService(uow).lookup(gp, pseudonyms=others, purpose="safety_assessment",
                                  basis="legal_task", evidence=STATUTE)
        assert uow.session.scalars(select(InboxMessage.reference).where(
            InboxMessage.kind == "misuse_flag")).all()  # told, in this transaction
        raise RuntimeError("the answer could not be sent")
    assert flag_messages(core) == [] and flag_events(core) == []
    tenth = look_up(core, gp, others)  # the tenth after all
    (event,) = flag_events(core)
    assert event.details["lookup_event"] == tenth and flag_messages(core) == [event.event_id]


@pytest.mark.usefixtures("world")
def test_a_case_system_is_counted_for_the_professional_it_acts_for(
        core: Core, registry: RegistryService) -> None:
    org = registry.get_organisation("ggz-centraal")
    system = Actor(actor="key:ggz-cms", channel="api", organisation_id=org.id)
    keys = core.pseudonymise(OPERATOR, A.identifiers()[:1])
    for number in (1, 2):
        for _ in range(9):
            look_up(core, system.acting_for(f"ggz-centraal-{number}"), keys)
    assert flag_events(core) == []  # 18 unregistered look-ups, 9 per professional
    look_up(core, system.acting_for("ggz-centraal-2"), keys)
    (event,) = flag_events(core)
    assert (event.details["kind"], event.details["actor"]) == (
        "fishing", "professional:ggz-centraal-2")


@pytest.mark.usefixtures("world")
def test_reports_show_todays_flags(core: Core, registry: RegistryService, clock: FakeClock,
                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    follow_clock(monkeypatch, clock)
    gp = professional(registry, "huisartsen-oost")
    others = core.pseudonymise(OPERATOR, A.identifiers())
    for _ in range(10):
        look_up(core, gp, others)  # yesterday: a fishing flag
    clock.now += timedelta(days=1)
    for _ in range(20):
        look_up(core, gp, others)  # today: fishing again, and the volume
    fishing = in_uow(core, misuse.misuse_flags, AUDITOR, misuse.FISHING_KINDS,
                                  clock.now - timedelta(hours=1))
    assert [(f.kind, f.organisation, f.actor, f.lookups) for f in fishing] == [
        ("fishing", "huisartsen-oost", "professional:huisartsen-oost-1", 10)]
    reported = last_event(core)
    assert (reported.event_type, reported.details["report"], reported.details["kinds"],
            reported.details["rows"], reported.details["to"]) == (
        "audit:reported", "misuse_flags", ["fishing"], 1, None)
    every = in_uow(
            core, misuse.misuse_flags, AUDITOR, (*misuse.FISHING_KINDS, *misuse.VOLUME_KINDS))
    assert [f.kind for f in every] == ["fishing", "fishing", "volume_professional"]
    assert {f.event_id for f in every} == set(flag_messages(core))


def test_cli_reports_default_to_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = broker_cli(monkeypatch, tmp_path, SHIPPED_POLICY)
    assert run("init").exit_code == 0
    assert run("demo", "--households", "2").exit_code == 0
    for _ in range(20):  # the neighbourhood team, registered on A's address: volume only
        done = run("lookup", "--org", "wijkteam-noord", "--professional", "wijkteam-noord-1",
                   "--purpose", "safety_assessment", "--basis", "legal_task", "--statute",
                   "wmo2015_5_2_6", "--address", A.address)
        assert done.exit_code == 0, done.output
    volumes = json.loads(run("audit", "report", "volumes", "--format", "json").stdout)
    assert [(v["kind"], v["actor"], v["lookups"], v["threshold"]) for v in volumes] == [
        ("volume_professional", "professional:wijkteam-noord-1", 20, 20)]
    table = run("audit", "report", "volumes").stdout
    assert "volume_professional" in table and volumes[0]["event_id"] in table
    assert json.loads(run("audit", "report", "fishing", "--format", "json").stdout) == []
    long_ago = run("audit", "report", "volumes", "--format", "json", "--from", "2001-01-01",
                   "--to", "2001-01-02")
    assert json.loads(long_ago.stdout) == []
    unfollowed = run("audit", "report", "unfollowed", "--format", "json")
    assert unfollowed.exit_code == 0 and json.loads(unfollowed.stdout) == []  # none 14 days old
