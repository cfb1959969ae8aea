"""The duty to inform (AVG art. 14): informed, postponed with a reason, reminded once when due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from broker.audit.services import Actor
from broker.cli.coordination import inform_group
from broker.contact.inform import InformService
from broker.core import Core
from broker.errors import Conflict, Forbidden, NotFound, ValidationError
from broker.notifications.models import InboxMessage
from broker.registry.models import Involvement, Organisation, Professional
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.contact.conftest import Story
from tests.factories import Member
from tests.uow import committed

REASON = "Informing the father now would endanger the mother and the children."
SYSTEM = Actor.system("inform-reminder")


def involvement_of(core: Core, member: Member) -> str:
    """The public id of the member's organisation's latest involvement."""
    with core.session() as session:
        found = session.scalar(select(Involvement.public_id).join(Involvement.organisation)
                               .where(Organisation.identifier == member.org)
                               .order_by(Involvement.id.desc()))
    assert found is not None
    return found


def inbox(core: Core, member: Member, *kinds: str) -> list[tuple[str, str]]:
    """(kind, reference) of the member's professional's inbox messages of ``kinds``, oldest
    first (registering on a household also brings ``new_match`` messages)."""
    with core.session() as session:
        return [(k, r) for k, r in session.execute(
            select(InboxMessage.kind, InboxMessage.reference)
            .join(Professional, Professional.id == InboxMessage.professional_id)
            .where(Professional.username == member.username,
                   InboxMessage.kind.in_(kinds or ("inform_review_due",)))
            .order_by(InboxMessage.id))]


def _types(story: Story, since: int) -> list[str]:
    return [e.event_type for e in story.events(since)]


def test_informed_is_recorded_and_audited(story: Story, clock: FakeClock) -> None:
    service = committed(story.core, InformService)
    vt_involvement = involvement_of(story.core, story.vt)
    assert service.status(story.vt.actor, vt_involvement).state == "unknown"
    clock.now += timedelta(days=3)
    start = story.last_seq()

    status = service.record_informed(story.vt.actor, vt_involvement,
                                     informed_on=story.core.today() - timedelta(days=1))
    assert (status.state, status.informed_on) == ("informed", date(2026, 3, 4))
    assert service.status(story.vt.actor, vt_involvement) == status
    (event,) = story.events(start)
    assert (event.event_type, event.action, event.purpose) == (
        "involvement:inform_recorded", "U", "safety_assessment")
    assert event.details == {"involvement_id": vt_involvement, "state": "informed",
                             "informed_on": "2026-03-04", "previous_informed_on": None}


def test_a_postponement_is_reminded_once_when_its_date_comes(story: Story,
                                                             clock: FakeClock) -> None:
    core, service = story.core, committed(story.core, InformService)
    vt_involvement = involvement_of(core, story.vt)
    start = story.last_seq()
    until = core.today() + timedelta(days=7)
    status = service.postpone(story.vt.actor, vt_involvement, reason=f"  {REASON}\n",
                              until=until)
    assert (status.state, status.postponed_until, status.postponed_reason) == (
        "postponed", until, REASON)

    # The reason is kept out of the hashed details: it is the event's erasable justification.
    (event,) = story.events(start)
    assert event.details == {"involvement_id": vt_involvement, "state": "postponed",
                             "postponed_until": until.isoformat(),
                             "previous_postponed_until": None}
    assert REASON not in str(event.details) and event.justification == REASON

    clock.now += timedelta(days=6)
    assert service.remind_due(SYSTEM) == 0  # not before the date
    assert inbox(core, story.vt) == []
    clock.now += timedelta(days=1)
    assert service.remind_due(SYSTEM) == 1  # on the date
    assert inbox(core, story.vt) == [("inform_review_due", vt_involvement)]
    assert service.status(story.vt.actor, vt_involvement).reminded_on == until
    assert service.remind_due(SYSTEM) == 0  # once for that date
    clock.now += timedelta(days=5)
    assert service.remind_due(SYSTEM) == 0  # nor on later days
    assert inbox(core, story.school) == []

    # A new postponement is a new date, and is reminded again when it comes.
    later = core.today() + timedelta(days=30)
    service.postpone(story.vt.actor, vt_involvement, reason=REASON, until=later)
    assert service.remind_due(SYSTEM) == 0
    clock.now += timedelta(days=31)
    assert service.remind_due(SYSTEM) == 1
    assert len(inbox(core, story.vt)) == 2

    events = story.events(start)
    assert [e.event_type for e in events] == [
        "involvement:inform_recorded", "involvement:inform_reminded",
        "involvement:inform_recorded", "involvement:inform_reminded"]
    assert events[1].details["postponed_until"] == until.isoformat()
    assert events[1].actor == "inform-reminder"
    assert events[1].organisation_id == story.vt.actor.organisation_id


def test_informed_and_ended_involvements_are_not_reminded(story: Story, clock: FakeClock,
                                                          registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, InformService)
    vt_involvement, school_involvement = (involvement_of(core, story.vt),
                                          involvement_of(core, story.school))
    until = core.today() + timedelta(days=2)
    service.postpone(story.vt.actor, vt_involvement, reason=REASON, until=until)
    service.postpone(story.school.actor, school_involvement, reason=REASON, until=until)
    clock.now += timedelta(days=1)
    informed = service.record_informed(story.vt.actor, vt_involvement,
                                       informed_on=core.today())
    # Informing ends the postponement, and its reason is no longer kept on the involvement.
    assert (informed.state, informed.postponed_until, informed.postponed_reason) == (
        "informed", None, None)
    registry.end_involvement(story.school.actor, school_involvement)
    clock.now += timedelta(days=5)
    start = story.last_seq()
    assert service.remind_due(SYSTEM) == 0
    assert story.events(start) == []
    assert inbox(core, story.vt) == inbox(core, story.school) == []


def test_bad_input_is_refused_and_writes_nothing(story: Story, clock: FakeClock) -> None:
    core, service = story.core, committed(story.core, InformService)
    vt_involvement = involvement_of(core, story.vt)
    today = core.today()
    ends_on = today.replace(year=today.year + 1)  # the policy's default of 12 months
    start = story.last_seq()
    with pytest.raises(ValidationError, match="between the start"):
        service.record_informed(story.vt.actor, vt_involvement,
                                informed_on=today + timedelta(days=1))
    with pytest.raises(ValidationError, match="between the start"):
        service.record_informed(story.vt.actor, vt_involvement,
                                informed_on=today - timedelta(days=1))
    with pytest.raises(ValidationError, match="Write down why") as short:
        service.postpone(story.vt.actor, vt_involvement, reason="  too  short ",
                         until=today + timedelta(days=3))
    assert short.value.code == "reason"
    with pytest.raises(ValidationError):
        service.postpone(story.vt.actor, vt_involvement, reason="x" * 501,
                         until=today + timedelta(days=3))
    for until in (today, today - timedelta(days=1), ends_on + timedelta(days=1)):
        with pytest.raises(ValidationError, match="after today"):
            service.postpone(story.vt.actor, vt_involvement, reason=REASON, until=until)
    assert story.events(start) == []

    # The last day of the involvement is the latest date allowed.
    assert service.postpone(story.vt.actor, vt_involvement, reason=REASON,
                            until=ends_on).postponed_until == ends_on
    service.record_informed(story.vt.actor, vt_involvement, informed_on=today)
    with pytest.raises(Conflict, match="already been informed"):
        service.postpone(story.vt.actor, vt_involvement, reason=REASON,
                         until=today + timedelta(days=3))
    assert _types(story, start) == ["involvement:inform_recorded"] * 2


def test_only_the_own_organisation_records(story: Story, registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, InformService)
    vt_involvement = involvement_of(core, story.vt)
    until = core.today() + timedelta(days=3)
    start = story.last_seq()
    # Another organisation's involvement and one that does not exist look the same.
    for involvement_id in (vt_involvement, "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound, match="no such involvement"):
            service.record_informed(story.school.actor, involvement_id,
                                    informed_on=core.today())
        with pytest.raises(NotFound, match="no such involvement"):
            service.postpone(story.school.actor, involvement_id, reason=REASON, until=until)
        with pytest.raises(NotFound):
            service.status(story.school.actor, involvement_id)
    with pytest.raises(Forbidden):
        service.record_informed(Actor.operator("test"), vt_involvement,
                                informed_on=core.today())
    # Each refused access is audited, and changes nothing else.
    assert [(e.event_type, e.reason) for e in story.events(start)] == [
        ("involvement:access_refused", "another_organisation")] * 3 + [
        ("involvement:access_refused", "unknown")] * 3
    registry.end_involvement(story.vt.actor, vt_involvement)
    start = story.last_seq()
    with pytest.raises(Conflict, match="ended"):
        service.record_informed(story.vt.actor, vt_involvement, informed_on=core.today())
    assert story.events(start) == []


@dataclass
class _Root:
    core: Core
    lang: str = "en"


def test_the_inform_commands(story: Story, clock: FakeClock) -> None:
    core = story.core
    vt_involvement = involvement_of(core, story.vt)
    runner = CliRunner()
    acting = ["--org", story.vt.org, "--professional", story.vt.username]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(inform_group, list(args), obj=_Root(core))
        return result.exit_code, result.output

    assert run("postpone", *acting, vt_involvement, "--reason", "short", "--until",
               "2026-03-20") == (1, "error: Write down why informing is postponed, in 10 to "
                                    "500 characters.\n")
    assert run("postpone", *acting, vt_involvement, "--reason", REASON, "--until",
               "2026-03-20") == (0, f"involvement {vt_involvement}: informing postponed "
                                    "until 2026-03-20\n")
    assert run("remind") == (0, "reminders sent: 0\n")
    clock.now += timedelta(days=18)
    assert run("remind") == (0, "reminders sent: 1\n")
    assert run("informed", *acting, vt_involvement) == (
        0, f"involvement {vt_involvement}: household informed on 2026-03-20\n")
    code, output = run("informed", "--org", story.school.org, "--professional",
                       story.school.username, vt_involvement)
    assert code == 1 and "no such involvement" in output

