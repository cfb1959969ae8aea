"""Comparing policy versions over the whole finite space, and against current involvements."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.policy import Policy, load_policy
from broker.policy.diff import InvolvementPair, diff_policies, visibility_impact
from tests.policy.conftest import BASE, SHIPPED, WritePolicy


def without_rule(rule_id: str, tmp_path: Path) -> Path:
    """A copy of the shipped policy with the rule ``rule_id`` cut out of sharing.yaml."""
    copy = tmp_path / "policies"
    shutil.copytree(SHIPPED, copy)
    sharing = copy / "sharing.yaml"
    lines = sharing.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(f"  - id: {rule_id}\n")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("  - id:", "  # "))),
        len(lines),
    )
    sharing.write_text("".join(lines[:start] + lines[end:]), encoding="utf-8")
    return copy


@pytest.mark.parametrize(
    "rule_id", ["reclassering-finds-police", "wijkteam-coordinates-youth-care", "raad-investigates"]
)
def test_removing_an_allow_rule_changes_exactly_its_decisions(
    shipped: Policy, tmp_path: Path, rule_id: str
) -> None:
    smaller = load_policy(without_rule(rule_id, tmp_path))
    assert smaller.rule(rule_id) is None
    decided = {
        request
        for request in shipped.requests()
        if shipped.decide(request).decided_by == "allow"
        and rule_id in shipped.decide(request).rule_ids
    }
    changes = diff_policies(shipped, smaller)
    assert decided
    assert {change.request for change in changes} == decided
    assert all(c.old.allowed and not c.new.allowed for c in changes)
    assert f"allowed by {rule_id} (" in changes[0].describe()
    assert "=>  denied (default_deny)" in changes[0].describe()


def test_removing_a_forbid_rule_only_opens_what_it_closed(shipped: Policy, tmp_path: Path) -> None:
    smaller = load_policy(without_rule("shelter-stays-hidden", tmp_path))
    changes = diff_policies(shipped, smaller)
    assert changes
    for change in changes:
        assert change.old.rule_ids == ("shelter-stays-hidden",)
        assert change.new.allowed
        assert change.request.holder_type == "vrouwenopvang"


def test_same_policy_has_no_changes(shipped: Policy) -> None:
    assert diff_policies(shipped, shipped) == []


def test_types_in_one_version_only_are_compared(write_policy: WritePolicy, small: Policy) -> None:
    base = BASE.replace(
        "  veilig_thuis: {nl: Veilig Thuis, en: Veilig Thuis}\n",
        "  veilig_thuis: {nl: Veilig Thuis, en: Veilig Thuis}\n"
        "  jeugdhulp: {nl: Jeugdhulp, en: Youth care}\n",
    )
    bigger = load_policy(write_policy(base=base, name="bigger.yaml"))
    changes = diff_policies(small, bigger)
    # "anyone-finds-wijkteam" (requester: any) now also covers the new type: two purposes with
    # two accepted bases each. Nothing else changes.
    assert sorted((c.request.purpose, c.request.basis) for c in changes) == [
        ("care_coordination", "consent"),
        ("care_coordination", "legal_task"),
        ("protection", "legal_task"),
        ("protection", "vital_interest"),
    ]
    assert {(c.request.requester_type, c.request.holder_type) for c in changes} == {
        ("jeugdhulp", "wijkteam")
    }
    assert all(c.old.decided_by == "unknown_code" and c.new.allowed for c in changes)
    reverse = diff_policies(bigger, small)
    assert {c.request for c in reverse} == {c.request for c in changes}


def test_visibility_impact_counts_pairs(shipped: Policy, tmp_path: Path) -> None:
    smaller = load_policy(without_rule("wijkteam-coordinates-youth-care", tmp_path))
    pairs = [
        # Still visible: the wijkteam can also find youth care with consent.
        InvolvementPair("wijkteam", "jeugdhulp", "care_coordination", 7),
        # Loses: only the removed rule let the wijkteam find the school.
        InvolvementPair("wijkteam", "school", "care_coordination", 3),
        InvolvementPair("school", "wijkteam", "care_coordination", 5),
        InvolvementPair("politie", "huisarts", "safety_assessment", 2),
    ]
    impact = visibility_impact(shipped, smaller, pairs)
    assert (impact.gained, impact.lost, impact.unchanged) == (0, 3, 14)
    assert impact.changed == ((pairs[1], False),)
    assert impact.describe() == (
        "0 pair(s) of current involvements would gain visibility, 3 would lose it, 14 unchanged"
    )
    back = visibility_impact(smaller, shipped, pairs)
    assert (back.gained, back.lost) == (3, 0)
