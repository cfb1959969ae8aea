"""The policy in force as a privacy officer reads it: its rules as rows, its load history, its
tests, and a proposed file compared with it (nothing applied).

What the web pages and the command line share (``broker policy test`` and ``diff`` call the same
functions), so neither door holds policy logic of its own:

- :func:`rule_rows`: each rule on the four axes (requester, holder, purpose, basis; ``None`` is
  *any*) with what it reveals, the contact mode, link fields and direction, obligations and
  reciprocity (the policy-wide default filled in), in written order.
- :func:`load_history`: the ``policy:loaded`` and ``policy:load_failed`` events, newest first.
- :func:`tests_dir` and :func:`run_tests_beside`: the policy tests beside the policy (``tests/``).
- :func:`compare_proposed`: a proposed policy (files in a directory of their own) loaded and
  compared with the policy in force, with the current pairs of involvements that would gain or
  lose visibility. It reads; it never replaces the policy in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from broker.audit.events import Event
from broker.audit.models import AuditEvent
from broker.policy.diff import (
    DecisionChange,
    InvolvementPair,
    VisibilityImpact,
    diff_policies,
    visibility_impact,
)
from broker.policy.engine import Policy
from broker.policy.loader import load_policy
from broker.policy.testing import PolicyTestReport, run_policy_tests

HISTORY_TYPES = (Event.POLICY_LOADED, Event.POLICY_LOAD_FAILED)


@dataclass(frozen=True)
class RuleRow:
    """One rule as a row of the policy table."""

    id: str
    effect: str
    ground: str
    requester: tuple[str, ...] | None
    holder: tuple[str, ...] | None
    purpose: tuple[str, ...] | None
    basis: tuple[str, ...] | None
    reveal: str
    contact: str
    link_fields: tuple[str, ...]
    link_direction: str | None
    obligations: tuple[str, ...]
    reciprocity: bool


def _axis(values: frozenset[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(sorted(values))


def rule_rows(policy: Policy) -> list[RuleRow]:
    """Every rule of ``policy`` in written order, reciprocity resolved."""
    spec = policy.spec
    return [RuleRow(r.id, r.effect, r.ground, _axis(r.requester), _axis(r.holder),
                    _axis(r.purpose), _axis(r.basis), r.reveal, r.contact,
                    tuple(sorted(r.link_fields)), r.link_direction, tuple(r.obligations),
                    spec.reciprocity if r.reciprocity is None else r.reciprocity)
            for r in spec.rules]


@dataclass(frozen=True)
class PolicyLoad:
    """One load of the policy (or a failed attempt) as the audit log holds it."""

    occurred_at: datetime
    event_type: str
    version: str | None
    reason: str | None
    problems: int


def load_history(connection: Connection, limit: int = 100) -> list[PolicyLoad]:
    """The policy's loads and failed loads, newest first (at most ``limit``)."""
    rows = connection.execute(
        select(AuditEvent.occurred_at, AuditEvent.event_type, AuditEvent.policy_version,
               AuditEvent.details)
        .where(AuditEvent.event_type.in_(HISTORY_TYPES))
        .order_by(AuditEvent.seq.desc()).limit(limit)).all()
    return [PolicyLoad(at, kind, version, _reason(details), len(_problems(details)))
            for at, kind, version, details in rows]


def _reason(details: dict[str, Any] | None) -> str | None:
    value = (details or {}).get("reason")
    return value if isinstance(value, str) else None


def _problems(details: dict[str, Any] | None) -> list[Any]:
    value = (details or {}).get("problems")
    return value if isinstance(value, list) else []


def tests_dir(policy_path: Path) -> Path:
    """The policy tests beside the policy at ``policy_path`` (a directory or one file)."""
    base = policy_path if policy_path.is_dir() else policy_path.parent
    return base / "tests"


def run_tests_beside(policy: Policy, policy_path: Path) -> PolicyTestReport:
    """Run the tests beside ``policy_path`` on ``policy`` (the policy in force)."""
    return run_policy_tests(policy, tests_dir(policy_path))


@dataclass(frozen=True)
class Comparison:
    """A proposed policy against the policy in force."""

    proposed: Policy
    changes: list[DecisionChange]
    impact: VisibilityImpact


def compare_proposed(current: Policy, proposed_path: Path,
                     pairs: Iterable[InvolvementPair]) -> Comparison:
    """Load the proposed policy at ``proposed_path`` (raises PolicyLoadError listing every
    problem) and compare it with ``current``; nothing is applied."""
    proposed = load_policy(proposed_path)
    return Comparison(proposed, diff_policies(current, proposed),
                      visibility_impact(current, proposed, pairs))
