"""Policy tests: example requests with the decision a privacy officer expects.

A test file (``policies/tests/*.yaml``) holds ``cases:``, each with ``given:`` (requester, holder,
purpose, basis) and ``expect:`` (``discover`` and optionally ``reveal``, ``contact``,
``link_fields``, ``obligations``, ``requires_registration`` and ``rule``). Only the keys written
under ``expect`` are checked; ``obligations`` and ``link_fields`` compare as sets. ``rule:`` names
a rule that must be among the deciding rules, or ``default`` for a denial no rule decided.

Guarantees:
- every failure and every malformed case is reported with file, line and column, in one run;
- a case naming a code the policy does not declare is a problem (with a suggestion), not a pass;
- the report lists every rule that no case exercises (a rule is exercised when it decides a case:
  it allows or forbids it; being the "closest rule" of a denial does not count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.catalogue import gettext
from broker.policy.documents import read_documents, validate
from broker.policy.engine import Decision, Policy
from broker.policy.errors import PolicyProblem
from broker.policy.model import DEFAULT_RULE, Rule
from broker.policy.schema import (
    CaseFileSchema,
    CaseSchema,
    ExpectSchema,
    GivenSchema,
)
from broker.policy.schema_fields import (
    Vocabulary,
    unknown_message,
)
from broker.policy.scopes import DecisionRequest
from broker.policy.yamlpos import LocatedDocument, NodePath

_DECIDING = ("allow", "forbid", "unknown_obligation")


@dataclass(frozen=True)
class CaseFailure:
    """A case whose decision differs from what it expects."""

    path: str
    line: int
    column: int
    name: str
    messages: tuple[str, ...]
    explanation: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.name}: {'; '.join(self.messages)}"


@dataclass(frozen=True)
class PolicyTestReport:
    """The outcome of a test run."""

    cases: int
    passed: int
    failures: tuple[CaseFailure, ...]
    problems: tuple[PolicyProblem, ...]
    unexercised: tuple[str, ...]
    rules: int

    @property
    def ok(self) -> bool:
        """True when there were cases, all passed, and no test file had a problem."""
        return self.cases > 0 and not self.failures and not self.problems

    def summary(self, lang: str = "en") -> str:
        """One line: cases passed and rules exercised, in ``lang`` (from the catalogue)."""
        exercised = self.rules - len(self.unexercised)
        return gettext(lang, "%(passed)s of %(cases)s cases passed; %(exercised)s of %(rules)s "
                       "rules exercised", passed=self.passed, cases=self.cases,
                       exercised=exercised, rules=self.rules)


def case_files(tests: Path) -> list[Path]:
    """The test files at ``tests`` (one file, or the ``*.yaml`` files of a directory)."""
    if tests.is_file():
        return [tests]
    if not tests.is_dir():
        return []
    return sorted(p for p in tests.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _vocabulary(policy: Policy) -> Vocabulary:
    return Vocabulary(tuple(policy.org_types), tuple(policy.purposes), tuple(policy.bases))


def _compare(expect: dict[str, Any], decision: Decision) -> list[str]:
    got: dict[str, Any] = {
        "discover": decision.allowed,
        "reveal": decision.reveal,
        "contact": decision.contact,
        "link_fields": decision.link_fields,
        "obligations": frozenset(decision.obligations),
        "requires_registration": decision.requires_registration,
    }
    messages = []
    for key, actual in got.items():
        if key not in expect:
            continue
        wanted = expect[key]
        if isinstance(actual, frozenset):
            wanted = frozenset(wanted)
        if wanted != actual:
            messages.append(f"expected {key}: {_show(wanted)}, got {_show(actual)}")
    if "rule" in expect:
        rule = expect["rule"]
        by_rule = decision.decided_by in _DECIDING
        matches = (not by_rule) if rule == DEFAULT_RULE else (by_rule and rule in decision.rule_ids)
        if not matches:
            actual_rule = ", ".join(decision.rule_ids) if by_rule else DEFAULT_RULE
            messages.append(f"expected rule: {rule}, got {actual_rule or DEFAULT_RULE}")
    return messages


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(value)) + "]"
    return str(value)


class _Run:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.vocab = _vocabulary(policy)
        self.rule_ids = [r.id for r in policy.rules]
        self.cases = 0
        self.failures: list[CaseFailure] = []
        self.problems: list[PolicyProblem] = []
        self.exercised: set[str] = set()

    def file(self, doc: LocatedDocument) -> None:
        data, found = validate(doc, (), doc.data, CaseFileSchema())
        self.problems.extend(found)
        if data is None:
            return
        for index, body in enumerate(data["cases"]):
            self.case(doc, ("cases", index), body)

    def case(self, doc: LocatedDocument, node_path: NodePath, body: Any) -> None:
        case, found = validate(doc, node_path, body, CaseSchema())
        self.problems.extend(found)
        if not isinstance(body, dict):
            return
        given = expect = None
        if "given" in body:  # checked even when the case has other problems
            given_path = (*node_path, "given")
            given, found = validate(doc, given_path, body["given"], GivenSchema(self.vocab))
            self.problems.extend(found)
        if "expect" in body:
            expect_path = (*node_path, "expect")
            expect, found = validate(doc, expect_path, body["expect"], ExpectSchema())
            self.problems.extend(found)
        if expect is not None and "rule" in expect:
            rule = expect["rule"]
            if rule != DEFAULT_RULE and rule not in self.rule_ids:
                choices = [*self.rule_ids, DEFAULT_RULE]
                msg = unknown_message("rule", rule, choices)
                self.problems.append(doc.problem((*node_path, "expect", "rule"), msg))
                return
        if case is None or given is None or expect is None:
            return
        self.cases += 1
        request = DecisionRequest(
            given["requester"], given["holder"], given["purpose"], given["basis"]
        )
        decision = self.policy.decide(request)
        if decision.decided_by in ("allow", "forbid"):
            self.exercised.update(decision.rule_ids)
        messages = _compare(expect, decision)
        if messages:
            pos = doc.value_position(node_path)
            name = case.get("name") or "/".join(request)
            self.failures.append(
                CaseFailure(
                    doc.path, pos.line, pos.column, name, tuple(messages), decision.explanation
                )
            )


def run_policy_tests(policy: Policy, tests: Path) -> PolicyTestReport:
    """Run the cases at ``tests`` (a directory of ``*.yaml`` files or one file) on ``policy``."""
    files = case_files(tests)
    run = _Run(policy)
    if not files:
        run.problems.append(PolicyProblem(str(tests), 1, 1, "no policy test files (*.yaml) here"))
    docs, problems = read_documents(files)
    run.problems.extend(problems)
    for doc in docs:
        run.file(doc)
    return _report(run, policy.rules)


def _report(run: _Run, rules: Sequence[Rule]) -> PolicyTestReport:
    unexercised = tuple(r.id for r in rules if r.id not in run.exercised)
    return PolicyTestReport(
        cases=run.cases,
        passed=run.cases - len(run.failures),
        failures=tuple(run.failures),
        problems=tuple(sorted(run.problems)),
        unexercised=unexercised,
        rules=len(rules),
    )
