"""The policy test runner."""

from __future__ import annotations

from pathlib import Path

from broker.policy import Policy
from broker.policy.testing import run_policy_tests
from tests.policy.conftest import SHIPPED


def test_shipped_tests_pass_and_exercise_every_rule(shipped: Policy) -> None:
    report = run_policy_tests(shipped, SHIPPED / "tests")
    assert report.problems == ()
    assert report.failures == ()
    assert report.ok
    assert report.unexercised == ()
    assert report.rules == len(shipped.rules)
    assert report.summary() == (
        f"{report.cases} of {report.cases} cases passed; {report.rules} of {report.rules} "
        "rules exercised"
    )


def test_failures_are_reported_with_file_and_line(small: Policy, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: passes\n"
        "    given: {requester: school, holder: wijkteam, purpose: protection, basis: legal_task}\n"
        "    expect: {discover: true, rule: anyone-finds-wijkteam}\n"
        "  - name: wrong on three counts\n"
        "    given: {requester: school, holder: wijkteam, purpose: care_coordination,"
        " basis: consent}\n"
        "    expect:\n"
        "      discover: true\n"
        "      reveal: organisation\n"
        "      obligations: []\n"
        "      rule: anyone-finds-wijkteam\n"
        "  - given: {requester: school, holder: school, purpose: protection, basis: legal_task}\n"
        "    expect: {discover: false, rule: school-learns-presence}\n"
    )
    report = run_policy_tests(small, cases)
    assert not report.ok
    assert (report.cases, report.passed) == (3, 1)
    first, second = report.failures
    assert str(first) == (
        f"{cases}:5:5: wrong on three counts: expected reveal: organisation, got nothing; "
        "expected obligations: [], got [notify_holder]; "
        "expected rule: anyone-finds-wijkteam, got school-finds-wijkteam"
    )
    assert second.line == 12
    assert second.name == "school/school/protection/legal_task"
    assert second.messages == ("expected rule: school-learns-presence, got default",)
    # Only rules that decided a case count; the closest rule of a denial does not.
    assert report.unexercised == ("school-learns-presence", "no-school-to-veilig-thuis")


def test_malformed_cases_are_problems_not_passes(small: Policy, tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "a.yaml").write_text(
        "cases:\n"
        "  - given: {requester: schol, holder: wijkteam, purpose: protection, basis: legal_task}\n"
        "    expect: {discover: yes, rule: anyone-finds-wijkteem}\n"
        "  - given: {requester: school, holder: wijkteam, purpose: protection}\n"
        "    expect: {discover: true, colour: red}\n"
        "    note: x\n"
    )
    (tests / "b.yaml").write_text("- not a mapping\n")
    report = run_policy_tests(small, tests)
    assert report.cases == 0
    assert [(p.path.rsplit("/", 1)[1], p.line, p.column, p.message) for p in report.problems] == [
        ("a.yaml", 2, 24, 'unknown organisation type "schol" (did you mean "school"?)'),
        (
            "a.yaml",
            3,
            35,
            'unknown rule "anyone-finds-wijkteem" (did you mean "anyone-finds-wijkteam"?)',
        ),
        ("a.yaml", 4, 5, 'missing key "basis"'),
        (
            "a.yaml",
            5,
            30,
            'unknown key "colour"; keys here: discover, reveal, contact, '
            "link_fields, obligations, requires_registration, rule",
        ),
        ("a.yaml", 6, 5, 'unknown key "note"; keys here: name, given, expect'),
        ("b.yaml", 1, 1, "expected a mapping of 'key: value' lines here"),
    ]


def test_no_test_files_is_a_problem(small: Policy, tmp_path: Path) -> None:
    report = run_policy_tests(small, tmp_path / "missing")
    assert not report.ok
    assert report.problems[0].message == "no policy test files (*.yaml) here"
