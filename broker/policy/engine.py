"""The policy engine: compiled once, then ``decide`` is a dictionary look-up.

Decision order for a request (requester type, holder type, purpose, legal basis):

1. a code the policy does not declare is denied;
2. a legal basis the purpose does not accept is denied;
3. if any ``forbid`` rule applies, the request is denied: a forbid beats every allow;
4. among the ``allow`` rules that apply, the *narrowest* decides: rule A is narrower than B when,
   on every axis, A lists a subset of what B lists. Two narrowest rules with different outcomes
   are a conflict, rejected when the policy loads (:func:`~broker.policy.scopes.find_conflicts`),
   never guessed at;
5. a deciding rule that carries an obligation the broker does not know is a denial;
6. nothing applies: denied by default, and the explanation names the closest allow rule and
   every condition it fails. Closest: fewest failed conditions; on a tie, the rule failing on the
   later axes (a rule written for this requester is closer than one for another requester); then
   the first written.

Every request in the finite space (types x types x purposes x bases) is decided in advance, so
``decide`` costs one hash look-up. A ``vital_interest`` request always carries the
``flag_for_review`` obligation, allowed or not: the auditor reviews every use of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from broker.metrics import POLICY_DECISIONS
from broker.policy import explain
from broker.policy.bases import BasisProblem, check_basis
from broker.policy.errors import PolicyLoadError
from broker.policy.model import (
    FLAG_FOR_REVIEW,
    KNOWN_OBLIGATIONS,
    REVEAL_LEVELS,
    VITAL_INTEREST,
    ContactMode,
    LegalBasis,
    LinkDirection,
    Misuse,
    OrgType,
    PolicySpec,
    Purpose,
    Quotas,
    Retention,
    Reveal,
    Rule,
    SignIn,
    Statute,
    SubjectAccess,
)
from broker.policy.scopes import (
    AXES,
    DecisionRequest,
    distance,
    find_conflicts,
    narrowest,
    scopes,
    space,
)

# Bases that open a rule only with evidence the asker shows for the one case.
CASE_EVIDENCE = frozenset({"consent", VITAL_INTEREST})

DecidedBy = Literal[
    "allow", "forbid", "default_deny", "basis_not_accepted", "unknown_code", "unknown_obligation"
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request, what it discloses, which rule decided, and why."""

    request: DecisionRequest
    allowed: bool
    reveal: Reveal
    contact: ContactMode
    link_fields: frozenset[str]
    link_direction: LinkDirection | None
    obligations: tuple[str, ...]
    requires_registration: bool
    rule_ids: tuple[str, ...]
    decided_by: DecidedBy
    explanation: str
    explanation_nl: str
    policy_version: str

    def explain(self, lang: str = "en") -> str:
        """The explanation in ``lang`` ("en" or "nl")."""
        return self.explanation_nl if lang == "nl" else self.explanation

    def outcome(self) -> tuple[object, ...]:
        """What the decision does, without who decided or why (used to compare versions)."""
        return (
            self.allowed,
            self.reveal,
            self.contact,
            self.link_fields,
            self.link_direction,
            self.obligations,
            self.requires_registration,
        )


class Policy:
    """A loaded, compiled policy: ``decide`` plus what the registry needs to know."""

    def __init__(self, spec: PolicySpec):
        """Compile ``spec``; raises :class:`PolicyLoadError` if two rules conflict."""
        conflicts = find_conflicts(spec)
        if conflicts:
            raise PolicyLoadError(conflicts)
        self.spec = spec
        self.version = spec.version()
        self._scoped = scopes(spec)
        self._table: dict[tuple[str, str, str, str], Decision] = {
            request: self._compile(request) for request in space(spec)
        }

    # -- decisions ------------------------------------------------------------------------------

    def decide(self, request: DecisionRequest) -> Decision:
        """The decision for ``request``; a code this policy does not declare is denied."""
        decision = self._table.get(request) or self._compile(DecisionRequest(*request))
        POLICY_DECISIONS.labels("allow" if decision.allowed else "deny").inc()
        return decision

    def unasked_reveal(self, learner_type: str, other_type: str, purpose: str) -> Reveal:
        """How much an organisation of ``learner_type``, involved for ``purpose``, may learn of
        one of ``other_type`` without asking (a notice, an inbox line): the least any allowing
        basis of the purpose reveals, counting only bases that need no evidence of their own per
        case. Consent (a record in force) and vital interest (a written justification, always
        reviewed) open a rule only for the one who shows that evidence, so they never count for
        someone who did not ask. ``nothing`` when no such basis allows discovery."""
        spec = self.spec.purposes.get(purpose)
        levels = [] if spec is None else [
            decision.reveal for basis in spec.accepted_bases if basis not in CASE_EVIDENCE
            if (decision := self.decide(DecisionRequest(learner_type, other_type, purpose,
                                                        basis))).allowed]
        return min(levels, key=REVEAL_LEVELS.index) if levels else "nothing"

    def requests(self) -> Iterator[DecisionRequest]:
        """Every request in this policy's finite space, in declaration order."""
        return space(self.spec)

    def _deny(
        self,
        request: DecisionRequest,
        by: DecidedBy,
        text: explain.Text,
        rule_ids: tuple[str, ...] = (),
    ) -> Decision:
        flag = (FLAG_FOR_REVIEW,) if request.basis == VITAL_INTEREST else ()
        return Decision(
            request=request,
            allowed=False,
            reveal="nothing",
            contact="none",
            link_fields=frozenset(),
            link_direction=None,
            obligations=flag,
            requires_registration=False,
            rule_ids=rule_ids,
            decided_by=by,
            explanation=text.en,
            explanation_nl=text.nl,
            policy_version=self.version,
        )

    def _compile(self, request: DecisionRequest) -> Decision:
        subject = explain.Subject(*request)
        vocab = (self.spec.org_types, self.spec.org_types, self.spec.purposes, self.spec.bases)
        for axis, known, value in zip(AXES, vocab, request, strict=True):
            if value not in known:
                return self._deny(request, "unknown_code", explain.unknown_code(axis, value))
        accepted = self.spec.purposes[request.purpose].accepted_bases
        if request.basis not in accepted:
            return self._deny(
                request, "basis_not_accepted", explain.basis_not_accepted(subject, accepted)
            )
        applying = [(r, s) for r, s in self._scoped if not s.failed(request)]
        forbids = [r for r, _ in applying if r.effect == "forbid"]
        if forbids:
            return self._deny(
                request, "forbid", explain.forbidden(subject, forbids), tuple(r.id for r in forbids)
            )
        winners = [r for r, _ in narrowest([(r, s) for r, s in applying if r.effect == "allow"])]
        if not winners:
            return self._default_deny(request, subject)
        return self._allow(request, subject, winners)

    def _default_deny(self, request: DecisionRequest, subject: explain.Subject) -> Decision:
        # Closest rule: see step 6 in the module docstring.
        candidates = [
            (distance(s.failed(request)), i, r, s)
            for i, (r, s) in enumerate(self._scoped)
            if r.effect == "allow"
        ]
        if not candidates:
            return self._deny(request, "default_deny", explain.default_denied(subject, None, ()))
        _, _, closest, scope = min(candidates, key=lambda c: (c[0], c[1]))
        text = explain.default_denied(subject, closest, scope.failed(request))
        return self._deny(request, "default_deny", text, (closest.id,))

    def _allow(
        self, request: DecisionRequest, subject: explain.Subject, winners: list[Rule]
    ) -> Decision:
        rule = winners[0]  # all winners have the same effect (find_conflicts guarantees it)
        ids = tuple(r.id for r in winners)
        for obligation in rule.obligations:
            if obligation not in KNOWN_OBLIGATIONS:
                text = explain.unknown_obligation(winners, obligation)
                return self._deny(request, "unknown_obligation", text, ids)
        wanted = set(rule.obligations)
        if request.basis == VITAL_INTEREST:
            wanted.add(FLAG_FOR_REVIEW)
        obligations = tuple(o for o in KNOWN_OBLIGATIONS if o in wanted)
        registration = self.spec.reciprocity if rule.reciprocity is None else rule.reciprocity
        text = explain.allowed(subject, winners, obligations, registration)
        return Decision(
            request=request,
            allowed=True,
            reveal=rule.reveal,
            contact=rule.contact,
            link_fields=rule.link_fields,
            link_direction=rule.link_direction,
            obligations=obligations,
            requires_registration=registration,
            rule_ids=ids,
            decided_by="allow",
            explanation=text.en,
            explanation_nl=text.nl,
            policy_version=self.version,
        )

    # -- legal bases ----------------------------------------------------------------------------

    def check_basis(
        self,
        purpose: str,
        basis: str,
        *,
        justification: str | None = None,
        statute: str | None = None,
        consent_reference: str | None = None,
    ) -> list[BasisProblem]:
        """What is missing for ``basis`` to carry a look-up for ``purpose`` (empty: nothing).

        See :func:`broker.policy.bases.check_basis`.
        """
        return check_basis(
            self.spec,
            purpose,
            basis,
            justification=justification,
            statute=statute,
            consent_reference=consent_reference,
        )

    # -- what the registry needs ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The policy's name as written under ``policy: name:``."""
        return self.spec.name

    @property
    def retention(self) -> Retention:
        """Retention periods: involvements, contact requests and links, history, audit."""
        return self.spec.retention

    @property
    def quotas(self) -> Quotas:
        """Pseudonym evaluation quotas."""
        return self.spec.quotas

    def quota_for(self, org_type: str) -> int:
        """Pseudonym evaluations per day for one organisation of ``org_type``."""
        quotas = self.spec.quotas
        return quotas.per_organisation_type.get(org_type, quotas.pseudonym_evaluations_per_day)

    @property
    def statutes(self) -> Mapping[str, Statute]:
        """Statutes by code, in the order written."""
        return self.spec.statutes

    def statutes_for(self, purpose: str) -> tuple[Statute, ...]:
        """The statutes that may carry ``purpose`` on the ``legal_task`` basis."""
        found = self.spec.purposes.get(purpose)
        return tuple(self.spec.statutes[c] for c in found.statutes) if found else ()

    def listed_statute(self, purpose: str, statute: str | None) -> str | None:
        """``statute`` when it is one of the codes the policy lists for ``purpose``, else None:
        what may be written into the audit log's hashed content (never free text)."""
        found = self.spec.purposes.get(purpose)
        return statute if found is not None and statute in found.statutes else None

    @property
    def subject_access(self) -> SubjectAccess:
        """Which organisation types a subject access report withholds by default, and why."""
        return self.spec.subject_access

    @property
    def misuse(self) -> Misuse:
        """Sliding windows and thresholds for fishing and unusual volumes."""
        return self.spec.misuse

    @property
    def sign_in(self) -> SignIn:
        """Web sign-in: who needs a second factor."""
        return self.spec.sign_in

    @property
    def org_types(self) -> Mapping[str, OrgType]:
        """Organisation types by code, in the order written."""
        return self.spec.org_types

    @property
    def purposes(self) -> Mapping[str, Purpose]:
        """Purposes by code, in the order written."""
        return self.spec.purposes

    @property
    def bases(self) -> Mapping[str, LegalBasis]:
        """Legal bases in use, by code."""
        return self.spec.bases

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in the order written."""
        return self.spec.rules

    def is_known_org_type(self, code: str) -> bool:
        """True when ``code`` is an organisation type of this policy."""
        return code in self.spec.org_types

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with ``rule_id``, if any."""
        return next((r for r in self.spec.rules if r.id == rule_id), None)
