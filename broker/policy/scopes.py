"""Rules as scopes over the finite space of requests (requester type x holder type x purpose x
legal basis), and the conflicts between rules found in that space when a policy loads.

A rule's :class:`Scope` is its axes with ``any`` resolved to the policy's codes; rule A is
*narrower* than B when, on every axis, A lists a subset of what B lists. Two narrowest allow rules
that apply to one request with different outcomes are a conflict (:func:`find_conflicts`),
rejected when the policy loads, never guessed at (:mod:`broker.policy.engine`, step 4).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import NamedTuple

from broker.policy import explain
from broker.policy.errors import PolicyProblem
from broker.policy.model import PolicySpec, Rule

AXES: tuple[explain.Axis, ...] = ("requester", "holder", "purpose", "basis")


class DecisionRequest(NamedTuple):
    """May an organisation of ``requester_type`` discover one of ``holder_type``?"""

    requester_type: str
    holder_type: str
    purpose: str
    basis: str



class Scope(NamedTuple):
    """A rule's axes with ``any`` resolved to the policy's codes."""

    requester: frozenset[str]
    holder: frozenset[str]
    purpose: frozenset[str]
    basis: frozenset[str]

    def failed(self, request: DecisionRequest) -> list[explain.Axis]:
        """The axes on which ``request`` lies outside this scope."""
        return [
            axis
            for axis, allowed, value in zip(AXES, self, request, strict=True)
            if value not in allowed
        ]

    def within(self, other: Scope) -> bool:
        """Whether this scope is as narrow as ``other`` or narrower, on every axis."""
        return all(mine <= theirs for mine, theirs in zip(self, other, strict=True))


def distance(failed: list[explain.Axis]) -> tuple[int, int]:
    """How far a rule is from applying: fewest failed conditions, then the later axes."""
    weight = {"requester": 8, "holder": 4, "purpose": 2, "basis": 1}
    return len(failed), sum(weight[axis] for axis in failed)


def scopes(spec: PolicySpec) -> list[tuple[Rule, Scope]]:
    """Every rule of ``spec`` with its scope, in written order."""
    types, purposes, bases = (
        frozenset(spec.org_types),
        frozenset(spec.purposes),
        frozenset(spec.bases),
    )
    return [
        (
            rule,
            Scope(
                types if rule.requester is None else rule.requester,
                types if rule.holder is None else rule.holder,
                purposes if rule.purpose is None else rule.purpose,
                bases if rule.basis is None else rule.basis,
            ),
        )
        for rule in spec.rules
    ]


def effect(rule: Rule, spec: PolicySpec) -> tuple[object, ...]:
    """What a rule discloses and obliges: two allow rules differ when these differ."""
    reciprocity = spec.reciprocity if rule.reciprocity is None else rule.reciprocity
    return (
        rule.reveal,
        rule.contact,
        rule.link_fields,
        rule.link_direction,
        frozenset(rule.obligations),
        reciprocity,
    )


def narrowest(applying: list[tuple[Rule, Scope]]) -> list[tuple[Rule, Scope]]:
    """The applying rules that no other applying rule is strictly narrower than."""
    return [
        (rule, scope)
        for rule, scope in applying
        if not any(other.within(scope) and other != scope for _, other in applying)
    ]


def space(spec: PolicySpec) -> Iterator[DecisionRequest]:
    """Every request the policy can be asked."""
    for r, h, p, b in itertools.product(spec.org_types, spec.org_types, spec.purposes, spec.bases):
        yield DecisionRequest(r, h, p, b)


def find_conflicts(spec: PolicySpec) -> list[PolicyProblem]:
    """Pairs of narrowest allow rules that apply to the same request with different outcomes."""
    scoped = scopes(spec)
    seen: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], tuple[Rule, Rule, DecisionRequest]] = {}
    for request in space(spec):
        if request.basis not in spec.purposes[request.purpose].accepted_bases:
            continue
        applying = [(r, s) for r, s in scoped if not s.failed(request)]
        if any(r.effect == "forbid" for r, _ in applying):
            continue
        narrow = [r for r, _ in narrowest([(r, s) for r, s in applying if r.effect == "allow"])]
        for a, b in itertools.combinations(narrow, 2):
            if effect(a, spec) != effect(b, spec):
                seen[(a.id, b.id)] = seen.get((a.id, b.id), 0) + 1
                first.setdefault((a.id, b.id), (a, b, request))
    problems = []
    for key, (a, b, req) in first.items():
        more = seen[key] - 1
        problems.append(
            PolicyProblem(
                b.source.path,
                b.source.line,
                b.source.column,
                f'rules "{a.id}" ({a.source}) and "{b.id}" both allow "{req.requester_type}" to '
                f'discover "{req.holder_type}" for purpose "{req.purpose}" on legal basis '
                f'"{req.basis}"'
                + (f" (and {more} more requests)" if more else "")
                + " with different outcomes, and neither is narrower: narrow one of them or give "
                "both the same reveal, contact, link fields, obligations and reciprocity",
            )
        )
    return problems
