"""Loading policies: every mistake reported, each at its exact line and column."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from broker.policy import PolicyLoadError, load_policy
from broker.policy.loader import policy_files
from tests.policy.conftest import BASE, DATA, RULES, SHIPPED, STATUTES, WritePolicy


def problems_of(path: Path) -> list[tuple[int, int, str]]:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(path)
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def test_shipped_policy_loads() -> None:
    policy = load_policy(SHIPPED)
    assert len(policy.org_types) == 12
    assert {"safety_assessment", "care_coordination", "protection"} <= set(policy.purposes)
    assert set(policy.bases) == {"consent", "legal_task", "vital_interest"}
    assert len(policy.version) == 64


def test_five_planted_mistakes_are_all_reported_with_their_positions() -> None:
    found = problems_of(DATA / "five_mistakes.yaml")
    assert found == [
        (12, 5, 'duplicate key "en" (first written at line 11, column 5)'),
        (26, 14, 'unknown organisation type "veilig-thuis" (did you mean "veilig_thuis"?)'),
        (
            29,
            13,
            'unknown reveal level "everything"; choose from: nothing, organisation_type, '
            "organisation",
        ),
        (42, 34, 'unknown obligation "notify_police" (did you mean "notify_holder"?)'),
        (
            43,
            5,
            'unknown key "description"; keys here: id, effect, ground, requester, holder, '
            "purpose, basis, reveal, contact, link_fields, link_direction, obligations, "
            "reciprocity",
        ),
    ]


def test_error_text_lists_every_problem_as_path_line_column() -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(DATA / "five_mistakes.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 5
    assert lines[1] == (
        f'{DATA / "five_mistakes.yaml"}:26:14: unknown organisation type "veilig-thuis" '
        '(did you mean "veilig_thuis"?)'
    )
    assert caught.value.message("en").startswith("the policy has 5 problem(s)")


def test_misspelt_key_suggests_the_right_one(write_policy: WritePolicy) -> None:
    path = write_policy(
        RULES.replace("    reveal: organisation\n", "    revael: organisation\n", 1)
    )
    messages = [m for _, _, m in problems_of(path)]
    assert 'unknown key "revael" (did you mean "reveal"?)' in messages
    assert 'an allow rule must say "reveal:"' in messages


def test_rule_consistency_checks(write_policy: WritePolicy) -> None:
    rules = """\
    rules:
      - id: forbid-with-contact
        ground: g
        effect: forbid
        requester: any
        holder: any
        purpose: any
        basis: any
        contact: direct
      - id: none-with-fields
        ground: g
        effect: allow
        requester: school
        holder: wijkteam
        purpose: protection
        basis: consent
        reveal: nothing
        contact: none
        link_fields: [name]
      - id: second-approver-without-approval
        ground: g
        effect: allow
        requester: school
        holder: school
        purpose: care_coordination
        basis: legal_task
        reveal: nothing
        contact: direct
        link_fields: []
        obligations: [require_second_approver]
      - id: default
        ground: g
        effect: allow
        requester: [school, school]
        holder: [any]
        purpose: []
        basis: vital_interest
        reveal: nothing
        contact: none
    """
    found = problems_of(write_policy(rules))
    messages = {(line, m) for line, _, m in found}
    assert messages == {
        (23, "contact has no meaning on a forbid rule: remove it"),
        (33, "link_fields has no meaning when contact is none: remove it"),
        (30, 'legal basis "consent" is accepted by none of this rule\'s purposes'),
        (43, "list at least one field the contact link reveals"),
        (44, "require_second_approver needs contact: approval"),
        (45, '"default" is reserved for the default deny; pick another id'),
        (48, 'organisation type "school" is listed twice'),
        (49, 'write "any" on its own, not inside a list'),
        (50, 'expected "any", one purpose code or a list of them'),
    }


def test_missing_sections_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("policy:\n  name: Empty\n")
    messages = [m for _, _, m in problems_of(path)]
    assert any('no "organisation_types" section' in m for m in messages)
    assert any('no "legal_bases" section' in m for m in messages)
    assert any('no "purposes" section' in m for m in messages)
    assert any('no "rules" section' in m for m in messages)


def test_a_policy_of_only_forbids_is_rejected(write_policy: WritePolicy) -> None:
    rules = "rules:\n  - {id: f, ground: g, effect: forbid, requester: any, holder: any,"
    rules += " purpose: any, basis: any}\n"
    messages = [m for _, _, m in problems_of(write_policy(rules))]
    assert messages == [
        'no "rules" section in any policy file: add one with at least one allow rule '
        "(the policy denies by default)"
    ]


def test_files_are_merged_and_duplicates_across_files_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(
        RULES + "organisation_types:\n  school: {nl: S, en: S}\npolicy:\n  name: Again\n"
        + STATUTES
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "ignored.yaml").write_text("not: a policy\n")
    found = problems_of(tmp_path)
    assert [(line, m.split(" in ")[0]) for line, _, m in found] == [
        (41, '"school" is already defined'),
        (42, 'section "policy" is already written'),
    ]
    (tmp_path / "b.yaml").write_text(RULES + STATUTES)
    policy = load_policy(tmp_path)
    assert policy.rules[0].id == "anyone-finds-wijkteam"
    assert policy.rules[0].source.path == str(tmp_path / "b.yaml")


def test_duplicate_rule_id_names_the_first(write_policy: WritePolicy) -> None:
    path = write_policy(RULES + RULES.replace("rules:\n", "").split("  - id: school-finds")[0])
    found = problems_of(path)
    assert found[0][:2] == (54, 9)
    assert found[0][2].startswith('rule id "anyone-finds-wijkteam" is already used in ')
    assert found[0][2].endswith("policy.yaml:16")


def test_conflicting_rules_are_rejected_with_both_positions(write_policy: WritePolicy) -> None:
    rules = (
        RULES
        + """\
  - id: wijkteam-everywhere
    ground: g
    effect: allow
    requester: wijkteam
    holder: any
    purpose: protection
    basis: legal_task
    reveal: organisation_type
    contact: none
"""
    )
    found = problems_of(write_policy(rules))
    assert len(found) == 1
    line, _, message = found[0]
    assert line == 54
    assert message.startswith('rules "anyone-finds-wijkteam" (')
    assert 'and "wijkteam-everywhere" both allow "wijkteam" to discover "wijkteam"' in message
    assert "neither is narrower" in message


def test_identical_overlapping_rules_do_not_conflict(write_policy: WritePolicy) -> None:
    rules = (
        RULES
        + """\
  - id: same-effect
    ground: g
    effect: allow
    requester: wijkteam
    holder: any
    purpose: protection
    basis: legal_task
    reveal: organisation
    contact: direct
    link_fields: [phone, name]
"""
    )
    load_policy(write_policy(rules))


def test_settings_retention_and_quotas_are_validated(write_policy: WritePolicy) -> None:
    extra = """\
retention:
  involvement_default_months: 30
  audit_years: 2
  history_years: "five"
quotas:
  pseudonym_evaluations_per_day: 0
  per_organisation_type:
    scool: 5
    school: -1
"""
    base = BASE.replace("reciprocity: true", "reciprocity: maybe") + extra
    found = problems_of(write_policy(base=base))
    assert [(line, m) for line, _, m in found] == [
        (3, 'expected true or false, got "maybe"'),
        (16, "the default period (30 months) is longer than the maximum (24 months)"),
        (17, "NEN 7513 asks to keep access logs at least 5 years"),
        (18, 'expected a whole number, got "five"'),
        (20, "must be at least 1"),
        (22, 'unknown organisation type "scool" (did you mean "school"?)'),
        (23, "expected a whole number of at least 1"),
    ]


def test_legal_bases_are_a_fixed_vocabulary(write_policy: WritePolicy) -> None:
    base = BASE.replace(
        "  consent: {nl: Toestemming, en: Consent}\n", "  consnt: {nl: Toestemming, en: Consent}\n"
    )
    base = base.replace(", min_justification_length: 20", "")
    found = problems_of(write_policy(base=base))
    messages = [m for _, _, m in found]
    assert 'unknown legal basis "consnt" (did you mean "consent"?)' in messages
    assert any(m.startswith("vital_interest needs min_justification_length") for m in messages)


def test_wrong_section_types_and_unknown_sections(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE + "rules: {}\nrulez: []\n")
    messages = [m for _, _, m in problems_of(path)]
    assert "expected a list of rules, each starting '- id:'" in messages
    assert 'unknown key "rulez" (did you mean "rules"?)' in messages


def test_policy_files_of_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="no such file"):
        policy_files(tmp_path / "nowhere")
    with pytest.raises(PolicyLoadError, match=r"no policy files \(\*\.yaml\)"):
        policy_files(tmp_path)


def test_copy_of_shipped_policy_loads_from_elsewhere(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(SHIPPED, copy)
    assert load_policy(copy).version == load_policy(SHIPPED).version


def test_a_purpose_must_accept_some_basis(write_policy: WritePolicy) -> None:
    base = BASE.replace("accepted_bases: [legal_task, vital_interest]", "accepted_bases: []")
    found = problems_of(write_policy(base=base))
    assert [(line, m) for line, _, m in found] == [
        (14, "list at least one legal basis, e.g. [consent]")
    ]


def test_a_legal_task_purpose_names_its_statutes_by_declared_code(
    write_policy: WritePolicy,
) -> None:
    no_statutes = BASE.replace(
        "accepted_bases: [legal_task, vital_interest], statutes: [wmo]",
        "accepted_bases: [legal_task, vital_interest]")
    [(line, message)] = [(line, m) for line, _, m in problems_of(write_policy(base=no_statutes))]
    assert line == 14 and "must list the statutes that can carry it" in message
    unknown = BASE.replace("accepted_bases: [legal_task, vital_interest], statutes: [wmo]",
                           "accepted_bases: [legal_task, vital_interest], statutes: [wpg]")
    [(_, _, message)] = problems_of(write_policy(base=unknown))
    assert message.startswith('unknown statute "wpg"')
    consent_only = BASE.replace(
        "accepted_bases: [consent, legal_task], statutes: [wmo]",
        "accepted_bases: [consent], statutes: [wmo]")
    found = problems_of(write_policy(base=consent_only))
    assert any("carry the legal_task basis only" in m for _, _, m in found)


def test_subject_access_misuse_and_sign_in_sections(write_policy: WritePolicy) -> None:
    extra = textwrap.dedent("""\
        subject_access:
          withhold:
            veilig_thuis: UAVG art. 41 lid 1 onder d
            shelter: UAVG art. 41
            school: 12
        misuse:
          fishing_lookups: 1
          volume_window_minutes: 30
        sign_in:
          second_factor: [veilig_thuis, police]
        """)
    found = problems_of(write_policy(base=BASE + extra))
    messages = {line: m for line, _, m in found}
    assert messages[18].startswith('unknown organisation type "shelter"')
    assert messages[19].startswith("expected the ground for withholding")
    assert messages[21] == "must be at least 2"
    assert messages[24].startswith('unknown organisation type "police"')
    good = extra.replace("    shelter: UAVG art. 41\n    school: 12\n", "").replace(
        "fishing_lookups: 1", "fishing_lookups: 5").replace(", police", "")
    policy = load_policy(write_policy(base=BASE + good))
    assert policy.subject_access.withhold == {"veilig_thuis": "UAVG art. 41 lid 1 onder d"}
    assert policy.misuse.fishing_lookups == 5 and policy.misuse.volume_window_minutes == 30
    assert policy.misuse.volume_lookups_per_professional == 20  # the default
    assert policy.sign_in.second_factor == frozenset({"veilig_thuis"})
    assert policy.quotas.web_identifiers_per_check == 10


def test_shipped_policy_withholds_the_endangering_types_and_names_statutes() -> None:
    policy = load_policy(SHIPPED)
    assert set(policy.subject_access.withhold) == {"vrouwenopvang", "veilig_thuis", "politie"}
    for purpose in policy.purposes.values():
        assert ("legal_task" in purpose.accepted_bases) == bool(purpose.statutes)
    assert [s.code for s in policy.statutes_for("care_coordination")] == [
        "jeugdwet_7_4_0", "jeugdwet_7_3_11"]
