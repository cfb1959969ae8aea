"""What a policy change would change: every decision, and visibility between current involvements.

:func:`diff_policies` evaluates the whole finite space — every requester type x holder type x
purpose x legal basis declared by *either* version — under both versions and returns each request
whose outcome differs. A code that exists in one version only is simply denied by the other
(the engine denies undeclared codes), so adding or removing a type shows up as changes, never as
an error. Outcome means what the broker would do (discover, reveal, contact, link fields and
direction, obligations, reciprocity); a renamed rule or a reworded explanation is not a change.

:func:`visibility_impact` weighs that against the live database. A pair of current involvements
sharing a matching key is *visible* under a policy when the requester's type may discover the
holder's type for the requester's purpose on *at least one* legal basis the policy accepts for that
purpose: whether a given look-up succeeds then depends on the basis the professional states, so
"could see it at all" is the honest upper bound, and what gains or loses it is what changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from broker.catalogue import Joined, Message, Phrase, gettext
from broker.policy.engine import Decision, Policy
from broker.policy.scopes import DecisionRequest


@dataclass(frozen=True)
class DecisionChange:
    """One request decided differently by the old and the new policy."""

    request: DecisionRequest
    old: Decision
    new: Decision

    def describe(self, lang: str = "en") -> str:
        """One line: the request, then the old and the new outcome with their rules (in
        ``lang``, from the catalogue)."""
        r = self.request
        return (
            f"{r.requester_type} -> {r.holder_type}, {r.purpose}, {r.basis}: "
            f"{_summary(self.old).translate(lang)}  =>  {_summary(self.new).translate(lang)}"
        )


def _summary(decision: Decision) -> Message:
    rules = ", ".join(decision.rule_ids)
    if not decision.allowed:
        if decision.decided_by == "forbid":
            return Message("denied (%(decided_by)s by %(rules)s)",
                           decided_by=decision.decided_by, rules=rules)
        return Message("denied (%(decided_by)s)", decided_by=decision.decided_by)
    parts: list[Phrase | str] = [Message("reveal %(reveal)s", reveal=decision.reveal),
                                 Message("contact %(contact)s", contact=decision.contact)]
    if decision.link_fields:
        parts.append(Message("fields %(fields)s", fields="+".join(sorted(decision.link_fields))))
        parts.append(str(decision.link_direction))
    if decision.obligations:
        parts.append(Message("obligations %(obligations)s",
                             obligations="+".join(decision.obligations)))
    # The policy file's own word (and the web's id "reciprocity" is a whole sentence).
    parts.append("reciprocity" if decision.requires_registration else "no reciprocity")
    return Message("allowed by %(rules)s (%(parts)s)", rules=rules, parts=Joined(", ", parts))


def _union(first: Iterable[str], second: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def combined_space(old: Policy, new: Policy) -> Iterator[DecisionRequest]:
    """Every request over the codes of both versions (old codes first, in written order)."""
    types = _union(old.org_types, new.org_types)
    purposes = _union(old.purposes, new.purposes)
    bases = _union(old.bases, new.bases)
    for requester in types:
        for holder in types:
            for purpose in purposes:
                for basis in bases:
                    yield DecisionRequest(requester, holder, purpose, basis)


def diff_policies(old: Policy, new: Policy) -> list[DecisionChange]:
    """Every request whose outcome differs between ``old`` and ``new``."""
    changes = []
    for request in combined_space(old, new):
        before, after = old.decide(request), new.decide(request)
        if before.outcome() != after.outcome():
            changes.append(DecisionChange(request, before, after))
    return changes


@dataclass(frozen=True)
class InvolvementPair:
    """``count`` current pairs where an involvement of ``requester_type`` (registered for
    ``purpose``) shares a matching key with one of ``holder_type``. Pairs are directed: A seeing
    B and B seeing A are two pairs."""

    requester_type: str
    holder_type: str
    purpose: str
    count: int


@dataclass(frozen=True)
class VisibilityImpact:
    """How many current pairs gain or lose visibility, with the pair groups that change."""

    gained: int
    lost: int
    unchanged: int
    changed: tuple[tuple[InvolvementPair, bool], ...]  # (pair group, visible under new policy)

    def describe(self, lang: str = "en") -> str:
        """One line for people, in ``lang`` (from the catalogue)."""
        return gettext(lang, "%(gained)s pair(s) of current involvements would gain visibility, "
                       "%(lost)s would lose it, %(unchanged)s unchanged",
                       gained=self.gained, lost=self.lost, unchanged=self.unchanged)


def visible(policy: Policy, requester_type: str, holder_type: str, purpose: str) -> bool:
    """True when ``policy`` lets the requester discover the holder for ``purpose`` on some basis."""
    return any(
        policy.decide(DecisionRequest(requester_type, holder_type, purpose, basis)).allowed
        for basis in policy.bases
    )


def visibility_impact(
    old: Policy, new: Policy, pairs: Iterable[InvolvementPair]
) -> VisibilityImpact:
    """Count the pairs in ``pairs`` that gain or lose visibility going from ``old`` to ``new``."""
    gained = lost = unchanged = 0
    changed: list[tuple[InvolvementPair, bool]] = []
    for pair in pairs:
        before = visible(old, pair.requester_type, pair.holder_type, pair.purpose)
        after = visible(new, pair.requester_type, pair.holder_type, pair.purpose)
        if before == after:
            unchanged += pair.count
            continue
        if after:
            gained += pair.count
        else:
            lost += pair.count
        changed.append((pair, after))
    return VisibilityImpact(gained, lost, unchanged, tuple(changed))
