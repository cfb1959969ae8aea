"""The engine: default deny, forbid beats allow, narrowest allow decides, explanations, versions."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from broker.policy import DecisionRequest, Policy, PolicyLoadError, load_policy
from broker.policy.model import Rule
from tests.policy.conftest import BASE, RULES, STATUTES, WritePolicy

R = DecisionRequest


def test_forbid_beats_allow(small: Policy) -> None:
    request = R("school", "veilig_thuis", "care_coordination", "consent")
    assert small.rule("school-learns-presence") is not None  # would allow this on its own
    decision = small.decide(request)
    assert not decision.allowed
    assert decision.decided_by == "forbid"
    assert decision.rule_ids == ("no-school-to-veilig-thuis",)
    assert (decision.reveal, decision.contact) == ("nothing", "none")
    assert decision.link_fields == frozenset()
    assert decision.explanation.startswith('rule "no-school-to-veilig-thuis" (')
    assert "a forbid beats every allow. Legal ground: test ground D." in decision.explanation
    assert "een verbod gaat voor elke toestemming" in decision.explanation_nl


def test_narrowest_allow_decides(small: Policy) -> None:
    narrow = small.decide(R("school", "wijkteam", "care_coordination", "consent"))
    assert narrow.rule_ids == ("school-finds-wijkteam",)
    assert (narrow.reveal, narrow.contact) == ("nothing", "approval")
    assert narrow.link_fields == frozenset({"name"})
    assert narrow.link_direction == "mutual"
    assert narrow.obligations == ("notify_holder",)
    assert narrow.requires_registration is False  # the rule waives reciprocity
    broad = small.decide(R("school", "wijkteam", "care_coordination", "legal_task"))
    assert broad.rule_ids == ("anyone-finds-wijkteam",)
    assert (broad.reveal, broad.contact) == ("organisation", "direct")
    assert broad.requires_registration is True  # the policy-wide default


def test_default_deny_names_the_closest_rule_and_the_failed_condition(small: Policy) -> None:
    # "anyone-finds-wijkteam" (written first) fails only on the holder, "school-learns-presence"
    # only on the purpose: a rule written for this requester and holder is the closer one.
    decision = small.decide(R("school", "school", "protection", "legal_task"))
    assert not decision.allowed
    assert decision.decided_by == "default_deny"
    assert decision.rule_ids == ("school-learns-presence",)
    assert decision.explanation.endswith(
        'the closest rule "school-learns-presence" '
        f"({small.rule('school-learns-presence').source}) would apply but "  # type: ignore[union-attr]
        'purpose "protection" is not among its purposes.'
    )
    assert 'doel "protection" staat niet bij zijn doelen' in decision.explanation_nl


def test_default_deny_lists_every_failed_condition(small: Policy) -> None:
    only = Policy(dataclasses.replace(small.spec, rules=(small.rules[1],)))
    decision = only.decide(R("wijkteam", "school", "care_coordination", "legal_task"))
    assert decision.rule_ids == ("school-finds-wijkteam",)
    assert decision.explanation.endswith(
        'would apply but requester type "wijkteam" is not among its requester types and '
        'holder type "school" is not among its holder types and legal basis "legal_task" is '
        "not among its legal bases."
    )
    assert decision.explanation_nl.endswith(
        'zou gelden, maar soort aanvrager "wijkteam" staat niet bij zijn aanvragers en soort '
        'betrokken organisatie "school" staat niet bij zijn soorten betrokken organisaties en '
        'grondslag "legal_task" staat niet bij zijn grondslagen.'
    )


def test_basis_not_accepted_for_purpose_is_denied(small: Policy) -> None:
    decision = small.decide(R("school", "wijkteam", "care_coordination", "vital_interest"))
    assert decision.decided_by == "basis_not_accepted"
    assert decision.rule_ids == ()
    assert decision.obligations == ("flag_for_review",)  # every vital_interest use is reviewed
    assert 'legal basis "vital_interest" is not accepted for purpose "care_coordination"' in (
        decision.explanation
    )


def test_vital_interest_is_flagged_for_review(small: Policy) -> None:
    decision = small.decide(R("veilig_thuis", "wijkteam", "protection", "vital_interest"))
    assert decision.allowed
    assert decision.obligations == ("flag_for_review",)
    assert "obligations: flag_for_review" in decision.explanation


def test_unknown_codes_are_denied(small: Policy) -> None:
    decision = small.decide(R("police", "wijkteam", "protection", "legal_task"))
    assert not decision.allowed
    assert decision.decided_by == "unknown_code"
    assert (
        decision.explanation
        == '"police" is not an organisation type in this policy, so it is denied.'
    )
    assert small.decide(R("school", "wijkteam", "fishing", "consent")).decided_by == "unknown_code"
    assert small.decide(R("school", "wijkteam", "protection", "whim")).decided_by == "unknown_code"


def test_unknown_obligation_at_decision_time_means_deny(small: Policy) -> None:
    # The loader rejects unknown obligations; a policy built another way must still deny.
    rules = tuple(
        dataclasses.replace(r, obligations=("notify_holder", "notify_the_press"))
        if r.id == "anyone-finds-wijkteam"
        else r
        for r in small.rules
    )
    policy = Policy(dataclasses.replace(small.spec, rules=rules))
    decision = policy.decide(R("veilig_thuis", "wijkteam", "protection", "legal_task"))
    assert not decision.allowed
    assert decision.decided_by == "unknown_obligation"
    assert decision.rule_ids == ("anyone-finds-wijkteam",)
    assert 'obligation "notify_the_press" that the broker cannot carry out' in decision.explanation


def test_decision_carries_the_policy_version(small: Policy) -> None:
    decision = small.decide(R("school", "wijkteam", "protection", "legal_task"))
    assert decision.policy_version == small.version == small.spec.version()
    assert len(small.version) == 64


def test_version_ignores_comments_whitespace_order_and_style(
    small: Policy, write_policy: WritePolicy, tmp_path: Path
) -> None:
    noisy = "# a comment\n\n" + BASE.replace("  name: Test policy", "  name:   Test policy  # x")
    noisy = noisy.replace(
        "  school: {nl: School, en: School}", "  school:\n    en: School\n    nl: School\n"
    )
    rules = RULES.replace(
        "    reveal: organisation\n    contact: direct\n",
        "    contact: direct      # direct!\n    reveal: organisation\n",
        1,
    )
    assert load_policy(write_policy(rules, base=noisy, name="noisy.yaml")).version == small.version
    split = tmp_path / "split"
    split.mkdir()
    (split / "1.yaml").write_text(BASE)
    (split / "2.yaml").write_text(RULES + STATUTES)
    assert load_policy(split).version == small.version


def test_version_changes_with_content(small: Policy, write_policy: WritePolicy) -> None:
    relabelled = BASE.replace("en: Neighbourhood team", "en: District team")
    assert load_policy(write_policy(base=relabelled, name="a.yaml")).version != small.version
    narrower = RULES.replace("link_fields: [name, phone]", "link_fields: [name]")
    assert load_policy(write_policy(narrower, name="b.yaml")).version != small.version


def test_check_basis_for_each_basis(small: Policy) -> None:
    record = "0b9c1b7e-2f7a-4f59-9d7e-2d1c3a4b5c6d"
    assert small.check_basis("care_coordination", "consent", consent_reference=record) == []
    # The reference is a record's id, never free text (which could hold an identifier).
    [prose] = small.check_basis("care_coordination", "consent", consent_reference="TS-2024-17")
    assert "id of a consent record" in prose and "kenmerk van een vastgelegde" in prose.nl
    [missing] = small.check_basis("care_coordination", "consent")
    assert missing.startswith("consent needs a consent record")
    assert missing.nl.startswith("toestemming vraagt een vastgelegde toestemming")
    assert missing.message("en") == missing.en == str(missing)

    assert small.check_basis("protection", "legal_task", statute="wmo") == []
    [no_statute] = small.check_basis("protection", "legal_task", statute="  ")
    assert "statute" in no_statute and "wet waarop" in no_statute.nl
    # A statute is a code the policy lists for the purpose, never prose (which could hold a BSN).
    [prose] = small.check_basis("protection", "legal_task", statute="Wmo, BSN 111222333")
    assert prose == ('the statute must be one of the codes the policy lists for purpose '
                     '"protection": wmo')

    assert small.check_basis("protection", "vital_interest", justification="x" * 20) == []
    [short] = small.check_basis("protection", "vital_interest", justification="too short")
    assert short == "vital interest needs a written justification of at least 20 characters (now 9)"
    assert short.message("nl").endswith("ten minste 20 tekens (nu 9)")
    [with_bsn] = small.check_basis("protection", "vital_interest",
                                   justification="moeder 111222333 is in gevaar, acuut")
    assert "citizen service number" in with_bsn and "burgerservicenummer" in with_bsn.nl
    assert "111222333" not in with_bsn + with_bsn.nl


def test_check_basis_refuses_unaccepted_and_unknown(small: Policy) -> None:
    problems = small.check_basis("protection", "consent",
                                 consent_reference="0b9c1b7e-2f7a-4f59-9d7e-2d1c3a4b5c6d")
    assert problems == [
        'legal basis "consent" is not accepted for purpose "protection" '
        "(accepted: legal_task, vital_interest)"
    ]
    assert small.check_basis("fishing", "consent")[0].nl == 'onbekend doel "fishing"'
    assert "not in use" in small.check_basis("protection", "hunch")[0]


def test_accessors_for_the_registry(shipped: Policy, small: Policy) -> None:
    assert shipped.retention.involvement_default_months == 12
    assert shipped.retention.involvement_max_months == 24
    assert shipped.retention.contact_link_days == 14
    assert shipped.retention.history_years == 5
    assert shipped.quota_for("school") == 200
    assert shipped.quota_for("huisarts") == 2000
    assert shipped.quota_for("unknown") == 2000
    assert shipped.is_known_org_type("veilig_thuis")
    assert not shipped.is_known_org_type("veilig-thuis")
    assert shipped.org_types["huisarts"].label.get("en") == "General practitioner"
    assert shipped.purposes["protection"].label.get("nl").startswith("Bescherming")
    assert shipped.bases["vital_interest"].min_justification_length == 100
    assert small.retention.contact_request_days == 30  # the default when not written
    assert small.quota_for("school") == 1000


def test_conflicting_spec_cannot_be_compiled(small: Policy) -> None:
    first = small.rules[0]
    clash = dataclasses.replace(first, id="clash", reveal="nothing")
    with pytest.raises(PolicyLoadError, match="neither is narrower"):
        Policy(dataclasses.replace(small.spec, rules=(*small.rules, clash)))


def test_rule_with_equal_scope_and_same_effect_is_listed_too(small: Policy) -> None:
    twin: Rule = dataclasses.replace(small.rules[0], id="twin")
    policy = Policy(dataclasses.replace(small.spec, rules=(*small.rules, twin)))
    decision = policy.decide(R("veilig_thuis", "wijkteam", "protection", "legal_task"))
    assert decision.rule_ids == ("anyone-finds-wijkteam", "twin")


@pytest.mark.parametrize(
    ("request_", "reveal", "contact"),
    [
        (R("school", "wijkteam", "care_coordination", "consent"), "nothing", "approval"),
        (R("politie", "jeugdhulp", "protection", "legal_task"), "organisation_type", "approval"),
        (
            R("huisarts", "veilig_thuis", "safety_assessment", "legal_task"),
            "organisation",
            "direct",
        ),
    ],
)
def test_shipped_policy_disclosure_levels(
    shipped: Policy, request_: DecisionRequest, reveal: str, contact: str
) -> None:
    decision = shipped.decide(request_)
    assert decision.allowed
    assert (decision.reveal, decision.contact) == (reveal, contact)


def test_every_shipped_rule_cites_a_legal_ground(shipped: Policy) -> None:
    assert all(len(rule.ground) > 10 for rule in shipped.rules)


def test_decisions_per_second(shipped: Policy) -> None:
    requests = list(shipped.requests())
    decide = shipped.decide
    rounds = max(1, 100_000 // len(requests))
    start = time.perf_counter()
    for _ in range(rounds):
        for request in requests:
            decide(request)
    rate = rounds * len(requests) / (time.perf_counter() - start)
    assert rate > 50_000, f"{rate:.0f} decisions/s"
