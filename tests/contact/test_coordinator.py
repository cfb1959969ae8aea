"""The coordinator (regievoerder): proposed, agreed by all or declined by one, superseded, and
shown to each involved organisation as the policy allows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.audit.services import Actor
from broker.cli.coordination import coordinator_group
from broker.contact.coordinator import Coordinator, CoordinatorService, MatchRef
from broker.core import Core
from broker.errors import Conflict, NotFound, ValidationError
from broker.registry.lookups import LookupService
from broker.registry.services import RegistryService
from tests.conftest import OPEN_POLICY
from tests.contact.conftest import VT_STATUTE, Story
from tests.contact.test_inform import inbox, involvement_of
from tests.factories import Member, household, make_member, register
from tests.uow import committed

PROPOSAL = "coordinator_proposal"


@pytest.fixture
def wijkteam(story: Story, registry: RegistryService) -> Member:
    """The neighbourhood team, registered on the child for care coordination."""
    member = make_member(registry, "wijkteam")
    register(registry, member, story.child)
    return member


def make_org(registry: RegistryService, identifier: str, name: str, org_type: str) -> Member:
    """An organisation of any type of the policy, with one professional."""
    org = registry.create_organisation(Actor.operator("test"), identifier=identifier,
                                       name=name, org_type=org_type)
    person = registry.add_professional(Actor.operator("test"), organisation=identifier,
                                       username=f"{identifier}-1", name=f"Contact {name}",
                                       role="hulpverlener")
    return Member(identifier, person.username,
                  Actor(actor=f"professional:{person.username}", channel="web",
                        organisation_id=org.id, role=person.role))


def _ids(core: Core, *members: Member) -> list[str]:
    return [involvement_of(core, m) for m in members]


def _types(story: Story, since: int) -> list[str]:
    return [e.event_type for e in story.events(since)]


def _agree_all(service: CoordinatorService, proposal_id: str,
               voters: list[tuple[Member, str]]) -> None:
    for member, involvement_id in voters:
        service.vote(member.actor, proposal_id, professional=member.username,
                     involvement_id=involvement_id, agree=True)


def _vt_proposes(story: Story, service: CoordinatorService, vt_id: str, organisation: str
                 ) -> str:
    """Veilig Thuis looks up the mother and proposes the match of ``organisation``."""
    result = committed(story.core, LookupService).lookup(story.vt.actor, pseudonyms=story.mother,
                                              purpose="safety_assessment", basis="legal_task",
                                              evidence=VT_STATUTE)
    match = next(m for m in result.matches if m.organisation == organisation)
    return service.propose(story.vt.actor, professional=story.vt.username, involvement_id=vt_id,
                           coordinator=MatchRef(result.lookup_id, match.match_id)).id


def test_the_household_agrees_on_a_coordinator(story: Story, wijkteam: Member) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    start = story.last_seq()

    # Veilig Thuis finds the neighbourhood team and proposes it as the coordinator.
    result = committed(core, LookupService).lookup(story.vt.actor, pseudonyms=story.mother,
                                        purpose="safety_assessment", basis="legal_task",
                                        evidence=VT_STATUTE)
    match = next(m for m in result.matches if m.organisation == "Wijkteam Noord")
    proposed = service.propose(story.vt.actor, professional=story.vt.username,
                               involvement_id=vt_id,
                               coordinator=MatchRef(result.lookup_id, match.match_id))
    named = Coordinator("organisation", False, "wijkteam", "Wijkteam Noord",
                        "Contact Wijkteam Noord", "contactpersoon")
    assert (proposed.status, proposed.proposed_by_you, proposed.your_vote,
            proposed.coordinator) == ("proposed", True, None, named)
    for voter in (story.school, wijkteam):
        assert inbox(core, voter, PROPOSAL) == [(PROPOSAL, proposed.id)]

    # The nominee sees the open proposal, naming its own organisation.
    seen = service.current(wijkteam.actor, wijkteam_id)
    (open_proposal,) = seen.open_proposals
    assert seen.coordinator is None
    assert (open_proposal.id, open_proposal.coordinator.own_organisation,
            open_proposal.proposed_by_you) == (proposed.id, True, False)

    half = service.vote(story.school.actor, proposed.id, professional=story.school.username,
                        involvement_id=school_id, agree=True)
    assert (half.status, half.your_vote) == ("proposed", "agree")
    agreed = service.vote(wijkteam.actor, proposed.id, professional=wijkteam.username,
                          involvement_id=wijkteam_id, agree=True)
    assert (agreed.status, agreed.your_vote) == ("agreed", "agree")

    # Each organisation sees the coordinator as far as the shipped policy lets it know.
    vt_view = service.current(story.vt.actor, vt_id)
    assert vt_view.coordinator == named and vt_view.open_proposals == []
    assert service.current(story.school.actor, school_id).coordinator == Coordinator(
        "nothing", False)  # the school learns only that someone coordinates
    own = service.current(wijkteam.actor, wijkteam_id).coordinator
    assert own is not None and (own.own_organisation, own.name) == (True,
                                                                      "Contact Wijkteam Noord")
    # Everyone but the professional who voted last hears of the outcome.
    assert inbox(core, story.vt, PROPOSAL) == [(PROPOSAL, proposed.id)]
    assert len(inbox(core, story.school, PROPOSAL)) == 2
    assert len(inbox(core, wijkteam, PROPOSAL)) == 1

    events = story.events(start)
    assert [e.event_type for e in events] == [
        "lookup:performed", "coordinator:proposed", "coordinator:viewed", "coordinator:voted",
        "coordinator:voted", "coordinator:agreed", "coordinator:viewed", "coordinator:viewed",
        "coordinator:viewed"]
    proposal_event, agreed_event = events[1], events[5]
    assert proposal_event.details == {"proposal_id": proposed.id, "involvement_id": vt_id,
                                      "coordinator_involvement_id": wijkteam_id, "voters": 2}
    assert proposal_event.subject_categories  # findable by household in the auditor's search
    assert agreed_event.details == {"proposal_id": proposed.id, "superseded": [],
                                    "coordinator_involvement_id": wijkteam_id}
    assert [e.details["vote"] for e in events[3:5]] == ["agree", "agree"]
    assert [e.rule_id for e in events[6:]] == ["veilig-thuis-investigates",
                                               "school-learns-presence", None]


def test_each_organisation_sees_the_coordinator_as_the_policy_allows(
        story: Story, wijkteam: Member, registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)

    # The school coordinates: Veilig Thuis sees who, the neighbourhood team the type only.
    mine = _vt_proposes(story, service, vt_id, "Basisschool De Linde")
    _agree_all(service, mine, [(story.school, school_id), (wijkteam, wijkteam_id)])
    assert service.current(story.vt.actor, vt_id).coordinator == Coordinator(
        "organisation", False, "school", "Basisschool De Linde", "Contact Basisschool De Linde",
        "contactpersoon")
    assert service.current(wijkteam.actor, wijkteam_id).coordinator == Coordinator(
        "organisation_type", False, "school")

    # A mental health service coordinates: medical confidentiality forbids the others in care
    # coordination to know of it on a legal task, so they learn only that someone coordinates.
    ggz = make_org(registry, "ggz-west", "GGZ West", "ggz")
    register(registry, ggz, story.child)
    (ggz_id,) = _ids(core, ggz)
    theirs = _vt_proposes(story, service, vt_id, "GGZ West")
    _agree_all(service, theirs, [(story.school, school_id), (ggz, ggz_id),
                                 (wijkteam, wijkteam_id)])
    start = story.last_seq()
    assert service.current(wijkteam.actor, wijkteam_id).coordinator == Coordinator(
        "nothing", False)
    assert service.current(story.school.actor, school_id).coordinator == Coordinator(
        "nothing", False)
    vt_sees = service.current(story.vt.actor, vt_id).coordinator
    assert vt_sees is not None and (vt_sees.reveal, vt_sees.organisation) == ("organisation",
                                                                              "GGZ West")
    assert [(e.rule_id, e.details["reveal"]) for e in story.events(start)] == [
        (None, "nothing"), (None, "nothing"), ("veilig-thuis-investigates", "organisation")]


def test_a_proposal_reaches_only_those_who_may_know_of_the_proposer(
        story: Story, wijkteam: Member, registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    police = make_org(registry, "politie-midden", "Politie Midden", "politie")
    register(registry, police, story.child, purpose="safety_assessment")
    (police_id,) = _ids(core, police)
    # The school proposes itself for care coordination. Veilig Thuis's own purpose (a safety
    # assessment) would let it learn of the school, but in care coordination no rule does: it
    # is not asked. The school may learn that the police are involved, but the police may not
    # learn of the school: not asked either. The neighbourhood team and the school may know of
    # each other in care coordination: it votes.
    proposed = service.propose(story.school.actor, professional=story.school.username,
                               involvement_id=school_id)
    for outsider, involvement_id in ((story.vt, vt_id), (police, police_id)):
        assert inbox(core, outsider, PROPOSAL) == []
        assert service.current(outsider.actor, involvement_id).open_proposals == []
        with pytest.raises(NotFound):
            service.vote(outsider.actor, proposed.id, professional=outsider.username,
                         involvement_id=involvement_id, agree=False)
    assert inbox(core, wijkteam, PROPOSAL) == [(PROPOSAL, proposed.id)]
    _agree_all(service, proposed.id, [(wijkteam, wijkteam_id)])
    assert service.current(story.vt.actor, vt_id).coordinator is None
    assert service.current(police.actor, police_id).coordinator is None
    assert service.current(wijkteam.actor, wijkteam_id).coordinator == Coordinator(
        "organisation_type", False, "school")


@pytest.mark.parametrize("policy_path", [OPEN_POLICY])
def test_under_the_open_policy_everyone_sees_the_organisation(
        story: Story, wijkteam: Member, policy_path: Path) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    proposed = service.propose(story.vt.actor, professional=story.vt.username,
                               involvement_id=vt_id)
    assert (proposed.coordinator.own_organisation, proposed.coordinator.name) == (
        True, "Contact Veilig Thuis Midden")
    _agree_all(service, proposed.id, [(story.school, school_id), (wijkteam, wijkteam_id)])
    expected = Coordinator("organisation", False, "veilig_thuis", "Veilig Thuis Midden",
                           "Contact Veilig Thuis Midden", "contactpersoon")
    assert service.current(story.school.actor, school_id).coordinator == expected
    assert service.current(wijkteam.actor, wijkteam_id).coordinator == expected


def test_one_decline_declines(story: Story, wijkteam: Member) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    start = story.last_seq()
    proposed = service.propose(story.vt.actor, professional=story.vt.username,
                               involvement_id=vt_id)
    declined = service.vote(story.school.actor, proposed.id, professional=story.school.username,
                            involvement_id=school_id, agree=False)
    assert (declined.status, declined.your_vote) == ("declined", "decline")
    with pytest.raises(Conflict, match="answered already"):
        service.vote(wijkteam.actor, proposed.id, professional=wijkteam.username,
                     involvement_id=wijkteam_id, agree=True)
    seen = service.current(story.vt.actor, vt_id)
    assert (seen.coordinator, seen.open_proposals) == (None, [])
    assert inbox(core, story.vt, PROPOSAL) == [(PROPOSAL, proposed.id)]  # the outcome
    assert _types(story, start) == ["coordinator:proposed", "coordinator:voted",
                                    "coordinator:declined", "coordinator:viewed"]
    # A declined proposal is closed: the household can try again.
    again = service.propose(wijkteam.actor, professional=wijkteam.username,
                            involvement_id=wijkteam_id)
    assert again.status == "proposed"


def test_a_later_agreement_supersedes_the_earlier_one(story: Story, wijkteam: Member,
                                                      registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    first = service.propose(story.vt.actor, professional=story.vt.username,
                            involvement_id=vt_id)
    _agree_all(service, first.id, [(story.school, school_id), (wijkteam, wijkteam_id)])
    # In care coordination Veilig Thuis may not learn of the team: the school alone votes.
    second = service.propose(wijkteam.actor, professional=wijkteam.username,
                             involvement_id=wijkteam_id)
    # One open proposal at a time for each participant.
    with pytest.raises(Conflict, match="still open"):
        service.propose(story.school.actor, professional=story.school.username,
                        involvement_id=school_id)
    # While the new one is open the agreed one stands.
    meanwhile = service.current(story.school.actor, school_id)
    assert meanwhile.coordinator is not None and meanwhile.coordinator.reveal == "nothing"
    assert [p.id for p in meanwhile.open_proposals] == [second.id]

    # Veilig Thuis's involvement ends: every still active participant of the first agreement
    # takes part in the second, which therefore replaces it.
    registry.end_involvement(story.vt.actor, vt_id)
    start = story.last_seq()
    agreed = service.vote(story.school.actor, second.id, professional=story.school.username,
                          involvement_id=school_id, agree=True)
    assert agreed.status == "agreed"
    (event,) = story.events(start)[1:]
    assert (event.event_type, event.details["superseded"]) == ("coordinator:agreed",
                                                               [first.id])
    now = service.current(story.school.actor, school_id).coordinator
    assert now is not None and now.reveal == "nothing"  # the team, which the school can't name
    own = service.current(wijkteam.actor, wijkteam_id).coordinator
    assert own is not None and own.own_organisation


def test_refusals_write_nothing(story: Story, wijkteam: Member,
                                registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    # Veilig Thuis looks up another household, where the neighbourhood team is involved too.
    elsewhere = household(core, address=("2511 CV 1",))
    register(registry, wijkteam, elsewhere)
    register(registry, story.vt, elsewhere, purpose="safety_assessment")
    other = committed(core, LookupService).lookup(story.vt.actor, pseudonyms=elsewhere,
                                       purpose="safety_assessment", basis="legal_task",
                                       evidence=VT_STATUTE)
    start = story.last_seq()

    with pytest.raises(NotFound, match="no such involvement"):  # another organisation's
        service.propose(story.school.actor, professional=story.school.username,
                        involvement_id=vt_id)
    with pytest.raises(ValidationError, match="active member"):
        service.propose(story.vt.actor, professional=story.school.username,
                        involvement_id=vt_id)
    with pytest.raises(NotFound, match="recent look-ups"):
        service.propose(story.vt.actor, professional=story.vt.username, involvement_id=vt_id,
                        coordinator=MatchRef(other.lookup_id, "not-a-match"))
    with pytest.raises(NotFound, match="not on the household"):
        service.propose(story.vt.actor, professional=story.vt.username, involvement_id=vt_id,
                        coordinator=MatchRef(other.lookup_id, other.matches[0].match_id))
    assert _types(story, start) == ["involvement:access_refused"]  # the refused access only
    proposed = service.propose(story.vt.actor, professional=story.vt.username,
                               involvement_id=vt_id)
    start = story.last_seq()
    with pytest.raises(NotFound, match="no such coordinator proposal"):  # not a voter
        service.vote(story.vt.actor, proposed.id, professional=story.vt.username,
                     involvement_id=vt_id, agree=True)
    with pytest.raises(NotFound, match="no such involvement"):
        service.vote(story.vt.actor, proposed.id, professional=story.vt.username,
                     involvement_id=school_id, agree=True)
    with pytest.raises(NotFound):
        service.current(story.school.actor, wijkteam_id)
    service.vote(story.school.actor, proposed.id, professional=story.school.username,
                 involvement_id=school_id, agree=True)
    with pytest.raises(Conflict, match="answered already"):
        service.vote(story.school.actor, proposed.id, professional=story.school.username,
                     involvement_id=school_id, agree=False)
    assert _types(story, start) == ["involvement:access_refused"] * 2 + ["coordinator:voted"]


def test_nobody_to_agree_with_looks_the_same_as_only_hidden_ones(
        story: Story, registry: RegistryService) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    flat = household(core, address=("3511 AA 5",))
    register(registry, story.school, flat)
    (school_id,) = _ids(core, story.school)
    with pytest.raises(Conflict, match="nobody to agree with") as alone:
        service.propose(story.school.actor, professional=story.school.username,
                        involvement_id=school_id)
    # A women's shelter on the household may never be known to a school (nor know of it):
    # the school's answer is the very same, and the shelter hears nothing.
    shelter = make_org(registry, "opvang", "Blijf van m'n Lijf", "vrouwenopvang")
    register(registry, shelter, flat)
    start = story.last_seq()
    with pytest.raises(Conflict) as hidden:
        service.propose(story.school.actor, professional=story.school.username,
                        involvement_id=school_id)
    assert hidden.value.message("en") == alone.value.message("en")
    assert hidden.value.message("nl") == alone.value.message("nl")
    assert inbox(core, shelter, PROPOSAL) == []
    assert story.events(start) == []


@dataclass
class _Root:
    core: Core
    lang: str = "en"


def test_the_coordinator_commands(story: Story, wijkteam: Member) -> None:
    core = story.core
    school_id, vt_id, wijkteam_id = _ids(core, story.school, story.vt, wijkteam)
    runner = CliRunner()

    def run(member: Member, *args: str) -> tuple[int, str]:
        command, *rest = args
        result = runner.invoke(coordinator_group, [command, "--org", member.org,
                                                   "--professional", member.username, *rest],
                               obj=_Root(core))
        return result.exit_code, result.output

    assert run(story.school, "propose", school_id, "--lookup", "x") == (
        1, "error: Give --lookup and --match together, or neither.\n")
    code, output = run(story.school, "propose", school_id)
    assert code == 0 and output.endswith(
        "proposed; proposed by you; proposed coordinator: Contact Basisschool De Linde "
        "(contactpersoon), Basisschool De Linde (your organisation)\n")
    proposal_id = output.split()[1].rstrip(":")
    code, output = run(wijkteam, "show", wijkteam_id)
    assert output == (f"involvement {wijkteam_id}: no coordinator agreed on\n"
                      f"proposal {proposal_id}: proposed; proposed coordinator: someone of a "
                      "school\n")
    assert run(wijkteam, "vote", proposal_id, "--involvement", wijkteam_id, "--agree")[0] == 0
    assert run(wijkteam, "show", wijkteam_id) == (
        0, f"involvement {wijkteam_id}: coordinator someone of a school, agreed 2026-03-02\n")
    # Veilig Thuis may not learn of the school in care coordination: it was not asked.
    assert run(story.vt, "show", vt_id) == (
        0, f"involvement {vt_id}: no coordinator agreed on\n")
    assert run(story.school, "show", school_id)[0] == 0
    code, output = run(story.school, "vote", proposal_id, "--involvement", vt_id, "--decline")
    assert code == 1 and "no such involvement" in output
