"""A new registration is announced only to organisations the policy lets discover it: the
notification must not disclose what a look-up would withhold."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.notifications.services import may_learn_of
from tests.conftest import OPEN_POLICY
from tests.factories import register
from tests.notifications.conftest import World

# The open test policy, except that a school may never discover Veilig Thuis on a statute (or a
# vital interest); on consent it still may.
GATED = OPEN_POLICY.read_text() + """
  - id: school-not-vt-without-consent
    ground: test only
    effect: forbid
    requester: school
    holder: veilig_thuis
    purpose: any
    basis: [legal_task, vital_interest]
"""


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The gated policy."""
    path = tmp_path / "gated.yaml"
    path.write_text(GATED)
    return path


def test_only_organisations_the_policy_lets_discover_the_newcomer_are_told(world: World) -> None:
    # care_coordination accepts consent (allowed); protection only legal_task and vital_interest
    # (both forbidden for a school discovering Veilig Thuis).
    coordinating = register(world.registry, world.school, world.child, purpose="care_coordination")
    protecting = register(world.registry, world.school, world.mother, purpose="protection")
    wijkteam = register(world.registry, world.wijkteam, world.mother, purpose="protection")
    before = len(world.inbox())

    register(world.registry, world.vt, world.mother)

    told = sorted(m.reference for m in world.inbox()[before:])
    assert told == sorted([coordinating, wijkteam])
    assert protecting not in told
    registered = world.events("involvement:registered")[-1]
    assert protecting not in str(registered.details)


def test_the_gate_asks_every_basis_the_purpose_accepts(world: World) -> None:
    policy = world.core.policy()
    assert may_learn_of(policy, "school", "veilig_thuis", "care_coordination")  # via consent
    assert not may_learn_of(policy, "school", "veilig_thuis", "protection")
    assert may_learn_of(policy, "veilig_thuis", "school", "protection")
    assert may_learn_of(policy, "school", "wijkteam", "protection")
    assert not may_learn_of(policy, "school", "wijkteam", "no_such_purpose")
