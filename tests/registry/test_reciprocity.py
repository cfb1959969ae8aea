"""Reciprocity per household (issue 10, item 4).

The attack: an organisation registered on identifier X (any household) looks up [X, Y], where Y
is another household's; when reciprocity was judged over all identifiers of one look-up, the
holders on Y were disclosed. Now a match is disclosed under a reciprocity rule only when the
asker's organisation holds an active involvement sharing a matching key with that match's
involvement.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym

from broker.audit.services import Actor
from broker.core import Core
from broker.registry.lookups import Evidence, LookupService
from broker.registry.results import LookupResult
from broker.registry.rotation import run_rotation, start_or_resume
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, Member, household, register
from tests.registry.world import add_member, event
from tests.uow import committed

OTHER_BSN = "999999990"  # a third person, of another household


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship: reciprocity on, except where a rule waives it."""
    return SHIPPED_POLICY


def _ask(core: Core, member: Member, keys: list[Pseudonym]) -> LookupResult:
    # professionals-inform-veilig-thuis: a GGZ professional finds Veilig Thuis, reciprocally.
    return committed(core, LookupService).lookup(
            member.actor, pseudonyms=keys, purpose="safety_assessment",
                                      basis="legal_task",
                                      evidence=Evidence(statute="wmo2015_5_2_6"))


@pytest.fixture
def vt(registry: RegistryService) -> Member:
    """Veilig Thuis."""
    return add_member(registry, "vt", "veilig_thuis")


@pytest.fixture
def ggz(registry: RegistryService) -> Member:
    """A mental health organisation: the asker."""
    return add_member(registry, "ggz", "ggz")


def test_own_registration_on_another_household_unlocks_nothing(
    core: Core, registry: RegistryService, vt: Member, ggz: Member
) -> None:
    register(registry, vt, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)),
             purpose="protection")
    register(registry, ggz, household(core, bsn=(OTHER_BSN,)), purpose="safety_assessment")
    # The attack: mix one's own identifier into the question.
    result = _ask(core, ggz, household(core, bsn=(OTHER_BSN, CHILD_BSN)))
    assert result.matches == []
    details = event(core, result.lookup_id).details
    assert details["withheld_for_reciprocity"] == 1 and details["match_count"] == 0
    # Once the organisation registers on the household itself, it is shown.
    register(registry, ggz, household(core, bsn=(CHILD_BSN,)), purpose="safety_assessment")
    shown = _ask(core, ggz, household(core, bsn=(OTHER_BSN, CHILD_BSN)))
    assert [m.organisation for m in shown.matches] == ["VT"]


def test_a_shared_key_outside_the_question_counts(core: Core, registry: RegistryService,
                                                  vt: Member, ggz: Member) -> None:
    """Registered on the mother, asking about the address: Veilig Thuis, on both, is shown."""
    register(registry, vt, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="protection")
    register(registry, ggz, household(core, bsn=(MOTHER_BSN,)), purpose="safety_assessment")
    result = _ask(core, ggz, household(core, address=(ADDRESS,)))
    assert [(m.organisation, m.matched_on) for m in result.matches] == [("VT", ("address",))]


def test_only_the_askers_own_active_involvements_count(core: Core, registry: RegistryService,
                                                       vt: Member, ggz: Member,
                                                       clock: FakeClock) -> None:
    keys = household(core, address=(ADDRESS,))
    register(registry, vt, keys, purpose="protection")
    other_ggz = add_member(registry, "ggz-2", "ggz")
    register(registry, other_ggz, keys, purpose="safety_assessment")
    assert _ask(core, ggz, keys).matches == []  # another organisation's registration: no
    own = register(registry, ggz, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
                   purpose="safety_assessment")
    assert [m.organisation for m in _ask(core, ggz, keys).matches] == ["VT"]
    registry.end_involvement(ggz.actor, own)
    assert _ask(core, ggz, keys).matches == []
    # An involvement past its end date no longer counts either.
    register(registry, ggz, keys, purpose="safety_assessment")
    assert [m.organisation for m in _ask(core, ggz, keys).matches] == ["VT"]
    clock.now += timedelta(days=400)
    register(registry, vt, keys, purpose="protection")  # Veilig Thuis still there; ggz expired
    assert _ask(core, ggz, keys).matches == []


def test_registration_required_is_no_oracle(core: Core, registry: RegistryService, vt: Member,
                                            ggz: Member) -> None:
    """``registration_required``: reciprocity applies and the asker's organisation is not
    registered on every identifier of the question. It is the same whether others are
    registered (and withheld) or no one is."""
    register(registry, vt, household(core, address=(ADDRESS,)), purpose="protection")
    hidden = _ask(core, ggz, household(core, address=(ADDRESS,)))
    empty = _ask(core, ggz, household(core, address=("9999 ZZ 1",)))
    assert (hidden.matches, hidden.registration_required) == ([], True)
    assert (empty.matches, empty.registration_required) == ([], True)
    register(registry, ggz, household(core, address=(ADDRESS, "9999 ZZ 1")),
             purpose="safety_assessment")
    assert _ask(core, ggz, household(core, address=(ADDRESS,))).registration_required is False
    assert _ask(core, ggz, household(core, address=("9999 ZZ 1",))).registration_required is False
    # Registered on one identifier of the question but not the other: registering would help.
    both = _ask(core, ggz, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    assert both.registration_required is True
    assert [m.organisation for m in both.matches] == ["VT"]


def test_a_rule_without_reciprocity_needs_no_registration(core: Core,
                                                          registry: RegistryService) -> None:
    police, wijkteam = add_member(registry, "politie", "politie"), add_member(registry, "wt",
                                                                            "wijkteam")
    register(registry, wijkteam, household(core, address=(ADDRESS,)))
    result = committed(core, LookupService).lookup(
        police.actor, pseudonyms=household(core, address=(ADDRESS,)), purpose="protection",
        basis="legal_task", evidence=Evidence(statute="politiewet_3"))
    assert [m.rule_id for m in result.matches] == ["police-finds-chain"]
    # Registering would still help the police: Veilig Thuis is shown to them reciprocally
    # (professionals-inform-veilig-thuis).
    assert result.registration_required is True


def test_during_a_key_rotation(core: Core, registry: RegistryService, vt: Member,
                               ggz: Member) -> None:
    """Mid-rotation the asker's and the holder's rows may sit at different epochs. A key of the
    question both share still counts (it is found at both epochs); a shared key outside the
    question is compared as stored, so until the rotation finishes such a match is withheld
    (fail closed)."""
    operator = Actor.operator("test")
    register(registry, ggz, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="safety_assessment")  # the first rows: re-keyed by the first batch
    register(registry, vt, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="protection")
    rotation, _ = start_or_resume(core, operator, "broker", grace=0)
    run_rotation(core, operator, rotation, batch_size=2, max_batches=1)
    assert [m.organisation for m in _ask(core, ggz, household(core, address=(ADDRESS,))
                                         ).matches] == ["VT"]
    # Registered on the child only: shares the mother's key with Veilig Thuis, but the
    # mother's key of each sits at another epoch now.
    other = add_member(registry, "ggz-2", "ggz")
    register(registry, other, household(core, bsn=(MOTHER_BSN,)), purpose="safety_assessment")
    assert _ask(core, other, household(core, address=(ADDRESS,))).matches == []
    run_rotation(core, operator, rotation)
    assert [m.organisation for m in _ask(core, other, household(core, address=(ADDRESS,))
                                         ).matches] == ["VT"]
