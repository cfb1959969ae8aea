"""Every rule of the shipped policy, carried out by a real look-up (issue 10: "for every rule of
the shipped policy and every disclosure level, a look-up reveals exactly what the rule allows
and the audit event lists exactly the obligations carried out").

Driven by the policy itself: for each rule, every request of the policy's finite space that the
rule decides (requester type x holder type x purpose x basis) becomes one household with one
holder of that type, and a look-up by an organisation of the requester type.

- An ``allow`` rule: the match shows exactly the rule's reveal level (organisation type and name,
  the type only, or neither), its contact mode, and that it matched on a person and an address.
  Under reciprocity the match is withheld until the asker registers on the household; a rule
  that waives reciprocity shows it at once. The audit event lists exactly the rule's
  obligations of the look-up stage (and ``flag_for_review`` on ``vital_interest``), and they
  were carried out: the holder's inbox got its notice exactly when the rule carries
  ``notify_holder``, the auditor's exactly when the look-up is flagged.
- A ``forbid`` rule: nothing is disclosed, though the asker is registered on the household, and
  no holder is told.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym

from broker.contact.consents import ConsentService
from broker.core import Core
from broker.policy import Decision, DecisionRequest, Policy
from broker.policy.loader import load_policy
from broker.policy.model import FLAG_FOR_REVIEW, NOTIFY_HOLDER, VITAL_INTEREST, Rule
from broker.policy.obligations import OBLIGATIONS, applies_at
from broker.registry.lookups import Evidence, LookupService
from broker.registry.results import LookupResult
from broker.registry.services import RegistryService
from tests.client.conftest import valid_bsns
from tests.conftest import SHIPPED_POLICY
from tests.factories import Member, household, register
from tests.registry.world import (
    JUSTIFICATION,
    Inbox,
    add_auditor,
    add_member,
    event,
    inboxes,
    new_messages,
)
from tests.uow import committed

POLICY = load_policy(SHIPPED_POLICY)


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship."""
    return SHIPPED_POLICY


def consent_evidence(core: Core, asker: Member, keys: list[Pseudonym],
                     request: DecisionRequest) -> Evidence:
    """Evidence for a look-up on the ``consent`` basis: a consent record of the asker's
    organisation, for the request's purpose and holder type, in force today. (The one place
    that makes consent: ``keys`` is the household it is about.)"""
    today = core.today()
    record = committed(core, ConsentService).record(
        asker.actor, professional=asker.username, pseudonyms=keys, given_by="person",
        given_on=today,
        valid_until=today + timedelta(days=30), purposes=[request.purpose],
        holder_types=[request.holder_type])
    return Evidence(consent_reference=record.id)


def decided_by(policy: Policy, rule: Rule) -> list[tuple[DecisionRequest, Decision]]:
    """Every request of the policy's space that ``rule`` decides."""
    found = []
    for request in policy.requests():
        decision = policy.decide(request)
        if rule.id in decision.rule_ids and (
                decision.allowed if rule.effect == "allow" else decision.decided_by == "forbid"):
            found.append((request, decision))
    return found


def lookup_obligations(rule: Rule, basis: str) -> list[str]:
    """What a look-up disclosing a match under ``rule`` must carry out: the rule's
    obligations of the look-up stage, and a review flag for every use of vital interest."""
    wanted = {code for code in rule.obligations if applies_at(code, "lookup")}
    if basis == VITAL_INTEREST:
        wanted.add(FLAG_FOR_REVIEW)
    return sorted(wanted)


class Chain:
    """One asker and one holder organisation per type (created when first needed), an auditor,
    and a fresh household per case."""

    def __init__(self, core: Core, registry: RegistryService) -> None:
        self.core, self.registry = core, registry
        self.members: dict[str, Member] = {}
        self.bsns = iter(valid_bsns(400, start=30_000_000))
        self.cases = 0
        add_auditor(registry)

    def member(self, side: str, org_type: str) -> Member:
        code = f"{side}-{org_type.replace('_', '-')}"
        if code not in self.members:
            self.members[code] = add_member(self.registry, code, org_type)
        return self.members[code]

    def household(self) -> list[Pseudonym]:
        self.cases += 1
        address = f"{1000 + self.cases} AB {self.cases % 300 + 1}"
        return household(self.core, bsn=(next(self.bsns),), address=(address,))

    def evidence(self, asker: Member, keys: list[Pseudonym],
                 request: DecisionRequest) -> Evidence:
        if request.basis == "consent":
            return consent_evidence(self.core, asker, keys, request)
        if request.basis == VITAL_INTEREST:
            return Evidence(justification=JUSTIFICATION)
        return Evidence(statute=POLICY.purposes[request.purpose].statutes[0])

    def ask(self, asker: Member, keys: list[Pseudonym], request: DecisionRequest
            ) -> tuple[LookupResult, Inbox]:
        """The look-up, and the messages it put in anyone's inbox."""
        evidence = self.evidence(asker, keys, request)
        before = inboxes(self.core)
        result = committed(self.core, LookupService).lookup(
            asker.actor, pseudonyms=keys, purpose=request.purpose, basis=request.basis,
            evidence=evidence)
        return result, new_messages(before, inboxes(self.core))


def _check_carried_out(chain: Chain, result: LookupResult, told: Inbox, holder: Member,
                       involvement: str, expected: list[str]) -> None:
    performed = event(chain.core, result.lookup_id)
    assert performed.obligations == expected
    notices = [(holder.username, "lookup_notice", involvement)] if NOTIFY_HOLDER in expected \
        else []
    assert [m for m in told if m[0] != "auditor-1"] == notices
    assert performed.details["holders_notified"] == [m[2] for m in notices]
    flagged = FLAG_FOR_REVIEW in expected
    assert [m for m in told if m[0] == "auditor-1" and m[1] == "review_flag"] == (
        [("auditor-1", "review_flag", result.lookup_id)] if flagged else [])
    assert performed.details["flag_for_review"] is flagged is result.flagged_for_review


def _allow(chain: Chain, rule: Rule, request: DecisionRequest, decision: Decision) -> None:
    asker = chain.member("asker", request.requester_type)
    holder = chain.member("holder", request.holder_type)
    keys = chain.household()
    involvement = register(chain.registry, holder, keys, purpose=request.purpose)
    expected = lookup_obligations(rule, request.basis)
    reciprocity = POLICY.spec.reciprocity if rule.reciprocity is None else rule.reciprocity
    if reciprocity:
        result, told = chain.ask(asker, keys, request)
        assert (result.matches, result.registration_required) == ([], True)
        assert event(chain.core, result.lookup_id).details["withheld_for_reciprocity"] == 1
        _check_carried_out(chain, result, told, holder, involvement,
                           [FLAG_FOR_REVIEW] if request.basis == VITAL_INTEREST else [])
        register(chain.registry, asker, keys, purpose=request.purpose)
    result, told = chain.ask(asker, keys, request)
    assert len(result.matches) == 1, result
    [match] = result.matches
    shown = {
        "nothing": (None, None),
        "organisation_type": (request.holder_type, None),
        "organisation": (request.holder_type, holder.org.upper()),
    }[rule.reveal]
    assert (match.reveal, (match.org_type, match.organisation), match.contact,
            match.matched_on) == (rule.reveal, shown, rule.contact, ("person", "address"))
    assert match.rule_id == decision.rule_ids[0]
    assert event(chain.core, result.lookup_id).rule_id == match.rule_id
    _check_carried_out(chain, result, told, holder, involvement, expected)


def _forbid(chain: Chain, request: DecisionRequest) -> None:
    asker = chain.member("asker", request.requester_type)
    holder = chain.member("holder", request.holder_type)
    keys = chain.household()
    involvement = register(chain.registry, holder, keys, purpose=request.purpose)
    register(chain.registry, asker, keys, purpose=request.purpose)  # reciprocity is not why
    result, told = chain.ask(asker, keys, request)
    assert result.matches == []
    assert event(chain.core, result.lookup_id).details["withheld_by_policy"] == 1
    _check_carried_out(chain, result, told, holder, involvement,
                       [FLAG_FOR_REVIEW] if request.basis == VITAL_INTEREST else [])


@pytest.mark.parametrize("rule", POLICY.rules, ids=[rule.id for rule in POLICY.rules])
def test_a_lookup_does_exactly_what_the_rule_says(core: Core, registry: RegistryService,
                                                  rule: Rule) -> None:
    cases = decided_by(POLICY, rule)
    assert cases, f"rule {rule.id} decides no request of the policy"
    chain = Chain(core, registry)
    for request, decision in cases:
        if rule.effect == "allow":
            _allow(chain, rule, request, decision)
        else:
            _forbid(chain, request)


def test_every_disclosure_level_and_lookup_obligation_is_exercised() -> None:
    """The shipped policy uses every reveal level, and its rules carry every obligation of the
    look-up stage: the test above covers them all."""
    allowed = [rule for rule in POLICY.rules if rule.effect == "allow"]
    assert {rule.reveal for rule in allowed} == {"nothing", "organisation_type", "organisation"}
    at_lookup = {code for code in OBLIGATIONS if applies_at(code, "lookup")}
    assert at_lookup <= {code for rule in allowed for code in rule.obligations}
    assert {rule.reciprocity is False for rule in allowed} == {True, False}
