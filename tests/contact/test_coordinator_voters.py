"""Who votes on a coordinator: the household's organisations that may know of the proposer and
that the proposer may know of, decided with the proposal's purpose, under the shipped policy.

The attack this reproduces (issue 10, item 7): voters were chosen by each organisation's own
purpose, so the perpetrator's probation officer could vote on (and block) a coordinator for the
mother, while youth care working with her children was never asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from broker.contact.coordinator import CoordinatorService
from broker.core import Core
from broker.errors import NotFound
from broker.notifications.models import OutboxMessage
from broker.registry.services import RegistryService
from tests.contact.conftest import Story
from tests.contact.test_coordinator import make_org
from tests.contact.test_inform import inbox, involvement_of
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, Member, household, register
from tests.uow import committed

PROPOSAL = "coordinator_proposal"
FATHER_BSN = "222222220"
SECOND_CHILD_BSN = "222222232"


@dataclass
class Family:
    """The mother's neighbourhood team, youth care on the children, probation on the father."""

    wijkteam: Member
    youth_care: Member
    probation: Member
    wijkteam_id: str
    youth_care_id: str
    probation_id: str


def webhooks(core: Core, member: Member) -> list[dict[str, object]]:
    """The webhook bodies queued for ``member``'s organisation."""
    with core.session() as session:
        org_id = member.actor.organisation_id
        return [dict(p) for p in session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.organisation_id == org_id, OutboxMessage.channel == "webhook"))]


@pytest.fixture
def family(story: Story, registry: RegistryService) -> Family:
    """One address: the mother with her children, and the father, who is on probation."""
    core = story.core
    wijkteam = make_org(registry, "wijkteam-zuid", "Wijkteam Zuid", "wijkteam")
    youth_care = make_org(registry, "jeugdhulp-oost", "Jeugdhulp Oost", "jeugdhulp")
    probation = make_org(registry, "reclassering-nl", "Reclassering Nederland", "reclassering")
    for member in (wijkteam, youth_care, probation):
        registry.set_webhook(member.actor, member.org, "https://case.example/hook")
    register(registry, wijkteam, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="safety_assessment")
    register(registry, youth_care,
             household(core, bsn=(CHILD_BSN, SECOND_CHILD_BSN), address=(ADDRESS,)),
             purpose="protection")
    register(registry, probation, household(core, bsn=(FATHER_BSN,), address=(ADDRESS,)),
             purpose="safety_assessment")
    ids = [involvement_of(core, m) for m in (wijkteam, youth_care, probation)]
    return Family(wijkteam, youth_care, probation, *ids)


def test_probation_neither_votes_nor_learns_and_youth_care_is_asked(story: Story,
                                                                    family: Family) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    before = {m.org: len(webhooks(core, m)) for m in (family.youth_care, family.probation)}
    proposed = service.propose(family.wijkteam.actor, professional=family.wijkteam.username,
                               involvement_id=family.wijkteam_id)

    # The perpetrator's probation officer hears nothing: no message, no webhook, no view, and
    # cannot vote (the same "not found" as for a proposal that does not exist).
    assert inbox(core, family.probation, PROPOSAL) == []
    assert len(webhooks(core, family.probation)) == before[family.probation.org]
    assert service.current(family.probation.actor, family.probation_id).open_proposals == []
    with pytest.raises(NotFound, match="no such coordinator proposal"):
        service.vote(family.probation.actor, proposed.id,
                     professional=family.probation.username,
                     involvement_id=family.probation_id, agree=False)

    # Youth care, working with the children, is asked, although its own purpose (protection)
    # would not let it learn of the neighbourhood team.
    assert inbox(core, family.youth_care, PROPOSAL) == [(PROPOSAL, proposed.id)]
    (hook,) = webhooks(core, family.youth_care)[before[family.youth_care.org]:]
    assert (hook["event"], hook["reference"]) == (PROPOSAL, proposed.id)
    (seen,) = service.current(family.youth_care.actor, family.youth_care_id).open_proposals
    assert seen.id == proposed.id
    service.vote(story.vt.actor, proposed.id, professional=story.vt.username,
                 involvement_id=involvement_of(core, story.vt), agree=True)
    agreed = service.vote(family.youth_care.actor, proposed.id,
                          professional=family.youth_care.username,
                          involvement_id=family.youth_care_id, agree=True)
    assert agreed.status == "agreed"
    mine = service.current(family.wijkteam.actor, family.wijkteam_id).coordinator
    assert mine is not None and mine.own_organisation
    assert service.current(family.probation.actor, family.probation_id).coordinator is None


def test_the_proposal_event_counts_the_household_voters(story: Story, family: Family) -> None:
    start = story.last_seq()
    proposed = committed(story.core, CoordinatorService).propose(
        family.wijkteam.actor, professional=family.wijkteam.username,
        involvement_id=family.wijkteam_id)
    (event,) = [e for e in story.events(start) if e.event_type == "coordinator:proposed"]
    # The story's school (the child) and Veilig Thuis (the mother) share the address too.
    # Veilig Thuis and the team may know of each other in a safety assessment; the school may
    # learn of the team, but the team may not learn of the school (its decline would tell).
    assert event.details == {"proposal_id": proposed.id, "involvement_id": family.wijkteam_id,
                             "coordinator_involvement_id": family.wijkteam_id, "voters": 2}
    assert inbox(story.core, story.vt, PROPOSAL) == [(PROPOSAL, proposed.id)]
    assert inbox(story.core, story.school, PROPOSAL) == []


def test_an_earlier_agreement_stands_for_those_outside_the_new_one(story: Story,
                                                                    family: Family) -> None:
    core, service = story.core, committed(story.core, CoordinatorService)
    vt_id, school_id = involvement_of(core, story.vt), involvement_of(core, story.school)
    # Veilig Thuis may know of everyone at the address in a safety assessment, and they of it.
    first = service.propose(story.vt.actor, professional=story.vt.username, involvement_id=vt_id)
    for member, involvement_id in ((story.school, school_id),
                                   (family.wijkteam, family.wijkteam_id),
                                   (family.youth_care, family.youth_care_id),
                                   (family.probation, family.probation_id)):
        service.vote(member.actor, first.id, professional=member.username,
                     involvement_id=involvement_id, agree=True)
    outsiders = ((family.probation, family.probation_id), (story.school, school_id))
    before = [service.current(m.actor, i) for m, i in outsiders]
    told = [len(inbox(core, m, PROPOSAL)) for m, _ in outsiders]
    assert before[0].coordinator is not None
    assert before[0].coordinator.organisation == "Veilig Thuis Midden"
    # The team then proposes itself: the school and probation are not asked, and must not
    # learn of it through their coordinator changing.
    second = service.propose(family.wijkteam.actor, professional=family.wijkteam.username,
                             involvement_id=family.wijkteam_id)
    start = story.last_seq()
    for member, involvement_id in ((story.vt, vt_id), (family.youth_care, family.youth_care_id)):
        service.vote(member.actor, second.id, professional=member.username,
                     involvement_id=involvement_id, agree=True)
    agreed = [e for e in story.events(start) if e.event_type == "coordinator:agreed"]
    assert [e.details["superseded"] for e in agreed] == [[]]
    assert [service.current(m.actor, i) for m, i in outsiders] == before
    assert [len(inbox(core, m, PROPOSAL)) for m, _ in outsiders] == told
    # The participants of the new agreement see the new coordinator, as far as they may.
    vt_sees = service.current(story.vt.actor, vt_id).coordinator
    assert vt_sees is not None and vt_sees.organisation == "Wijkteam Zuid"
    own = service.current(family.wijkteam.actor, family.wijkteam_id).coordinator
    assert own is not None and own.own_organisation
    # When the new coordinator's involvement ends, the earlier agreement does not come back for
    # those who replaced it; it still stands for those outside.
    committed(core, RegistryService).end_involvement(family.wijkteam.actor, family.wijkteam_id)
    assert service.current(story.vt.actor, vt_id).coordinator is None
    assert service.current(family.youth_care.actor, family.youth_care_id).coordinator is None
    assert [service.current(m.actor, i) for m, i in outsiders] == before
