"""Look-ups under the shipped policy: each disclosure level shows exactly what its rule allows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import ValidationError
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import Involvement
from broker.registry.services import NewInvolvement, RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, Member, household, make_member, register
from tests.uow import committed

LEGAL_TASK = Evidence(statute="wmo2015_5_2_6")
COORDINATION = Evidence(statute="jeugdwet_7_4_0")


@pytest.fixture
def policy_path() -> Path:
    """These tests run under the policy we ship."""
    return SHIPPED_POLICY


@pytest.fixture
def members(core: Core, registry: RegistryService) -> dict[str, Member]:
    """School, Veilig Thuis and the neighbourhood team, all registered on household A."""
    found = {key: make_member(registry, key) for key in ("school", "vt", "wijkteam")}
    register(registry, found["school"], household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, found["vt"], household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="protection")
    register(registry, found["wijkteam"], household(core, address=(ADDRESS,)))
    return found


def ask(core: Core, member: Member, purpose: str, basis: str = "legal_task",
        evidence: Evidence = LEGAL_TASK) -> list[tuple[str | None, str | None, str, str, str]]:
    """(org type, organisation, reveal, contact, rule) of each disclosed match."""
    keys = household(core, address=(ADDRESS,))
    result = committed(core, LookupService).lookup(member.actor, pseudonyms=keys, purpose=purpose,
                                        basis=basis, evidence=evidence)
    return sorted((m.org_type, m.organisation, m.reveal, m.contact, m.rule_id)
                  for m in result.matches)


def test_reveal_organisation(core: Core, members: dict[str, Member]) -> None:
    assert ask(core, members["wijkteam"], "safety_assessment") == [
        ("veilig_thuis", "Veilig Thuis Midden", "organisation", "direct",
         "professionals-inform-veilig-thuis"),
    ]


def test_reveal_organisation_type_only(core: Core, members: dict[str, Member]) -> None:
    found = ask(core, members["wijkteam"], "care_coordination", evidence=COORDINATION)
    assert [(t, o, r) for t, o, r, _, _ in found] == [("school", None, "organisation_type")]


def test_reveal_nothing_but_presence(core: Core, members: dict[str, Member]) -> None:
    found = ask(core, members["school"], "care_coordination", evidence=COORDINATION)
    assert len(found) == 2
    assert all((t, o, r, c) == (None, None, "nothing", "approval") for t, o, r, c, _ in found)


def test_denied_holder_is_not_disclosed_and_the_event_says_why(
    core: Core, members: dict[str, Member]
) -> None:
    assert ask(core, members["school"], "protection") == []
    with core.session() as session:
        event = session.scalars(select(AuditEvent).filter_by(event_type="lookup:performed")
                                .order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert event.details["match_count"] == 0
    assert event.details["withheld_by_policy"] == 2
    assert event.policy_version == core.policy().version


def test_reciprocity_hides_matches_until_registered(core: Core, registry: RegistryService,
                                                    members: dict[str, Member]) -> None:
    newcomer = _member(registry, "ggz-x", "ggz")
    keys = household(core, address=(ADDRESS,))
    service = committed(core, LookupService)
    before = service.lookup(newcomer.actor, pseudonyms=keys, purpose="safety_assessment",
                            basis="legal_task", evidence=LEGAL_TASK)
    assert before.matches == [] and before.registration_required
    register(registry, newcomer, keys, purpose="safety_assessment")
    after = service.lookup(newcomer.actor, pseudonyms=keys, purpose="safety_assessment",
                           basis="legal_task", evidence=LEGAL_TASK)
    assert [m.organisation for m in after.matches] == ["Veilig Thuis Midden"]
    assert not after.registration_required
    # The flag depends on the policy, not on the data: a household nobody is registered on
    # gives the same answer to an unregistered asker.
    empty = service.lookup(newcomer.actor, pseudonyms=household(core, address=("9999 ZZ 1",)),
                           purpose="safety_assessment", basis="legal_task", evidence=LEGAL_TASK)
    assert empty.matches == [] and empty.registration_required


def test_basis_without_its_evidence_is_refused_and_audited(
    core: Core, members: dict[str, Member]
) -> None:
    for basis, evidence, words in [
        ("legal_task", Evidence(), "statute"),
        ("consent", Evidence(), "consent"),
        ("vital_interest", Evidence(justification="too short"), "justification"),
    ]:
        with pytest.raises(ValidationError, match=words):
            ask(core, members["wijkteam"], "safety_assessment", basis, evidence)
    with core.session() as session:
        refused = session.scalars(select(AuditEvent).filter_by(event_type="lookup:refused")).all()
    assert len(refused) == 3
    assert refused[-1].details["flag_for_review"] is True


def test_vital_interest_is_flagged_for_review(core: Core, members: dict[str, Member]) -> None:
    why = ("Het kind vertelde op school over geweld thuis; de moeder is onbereikbaar en er is "
           "acuut gevaar, dus afstemming met Veilig Thuis kan niet wachten op toestemming.")
    result = committed(core, LookupService).lookup(
        members["wijkteam"].actor, pseudonyms=household(core, address=(ADDRESS,)),
        purpose="safety_assessment", basis="vital_interest", evidence=Evidence(justification=why))
    assert result.flagged_for_review
    with core.session() as session:
        event = session.scalar(select(AuditEvent).filter_by(event_id=result.lookup_id))
    assert event is not None and event.details["flag_for_review"] is True
    assert event.justification == why and "justification" not in event.details


def test_unknown_codes_are_refused_with_a_suggestion(core: Core, registry: RegistryService,
                                                     members: dict[str, Member]) -> None:
    with pytest.raises(ValidationError, match='did you mean "safety_assessment"'):
        ask(core, members["wijkteam"], "safety_assesment")
    with pytest.raises(ValidationError, match='did you mean "veilig_thuis"'):
        registry.create_organisation(members["vt"].actor, identifier="vt-2", name="VT 2",
                                     org_type="veilig-thuis")


def _member(registry: RegistryService, identifier: str, org_type: str) -> Member:
    org = registry.create_organisation(Actor.operator("test"), identifier=identifier,
                                       name=identifier.upper(), org_type=org_type)
    registry.add_professional(Actor.operator("test"), organisation=identifier,
                              username=f"{identifier}-1", name="P", role="r")
    actor = Actor(actor=f"professional:{identifier}-1", channel="web", organisation_id=org.id)
    return Member(identifier, f"{identifier}-1", actor)


def test_a_refused_lookup_registers_nothing(core: Core, registry: RegistryService,
                                            members: dict[str, Member]) -> None:
    newcomer = _member(registry, "ggz-y", "ggz")
    with core.session() as session:
        before = session.scalar(select(func.count()).select_from(Involvement))
    with pytest.raises(ValidationError, match="justification"):
        committed(core, LookupService).lookup(
            newcomer.actor, pseudonyms=household(core, address=(ADDRESS,)),
            purpose="safety_assessment", basis="vital_interest",
            evidence=Evidence(justification="short"),
            register=NewInvolvement(newcomer.username, household(core, address=(ADDRESS,)),
                                    "safety_assessment"))
    with core.session() as session:
        assert session.scalar(select(func.count()).select_from(Involvement)) == before


def test_on_behalf_of_must_be_a_member_of_the_asking_organisation(
    core: Core, members: dict[str, Member]
) -> None:
    for who in ("veilig-thuis-1", "nobody-at-all"):
        with pytest.raises(ValidationError) as caught:
            committed(core, LookupService).lookup(
                members["wijkteam"].actor, pseudonyms=household(core, address=(ADDRESS,)),
                purpose="safety_assessment", basis="legal_task", evidence=LEGAL_TASK,
                on_behalf_of=who)
        assert who not in str(caught.value)
