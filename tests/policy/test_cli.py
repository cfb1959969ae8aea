"""``broker policy`` commands, driven through click's test runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from broker.cli.policy import policy_group
from broker.policy import Policy
from broker.policy.diff import InvolvementPair
from tests.policy.conftest import DATA, SHIPPED


@pytest.fixture
def runner() -> CliRunner:
    """The policy commands in English (the group run on its own: BROKER_LANG chooses)."""
    return CliRunner(env={"BROKER_LANG": "en"})


def test_check_shipped_policy(runner: CliRunner, shipped: Policy) -> None:
    result = runner.invoke(policy_group, ["check", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{SHIPPED}: OK - 12 organisation types, 3 purposes, 3 legal bases, "
        f"{len(shipped.rules)} rules; version {shipped.version}\n"
    )


def test_check_defaults_to_env_then_cwd(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_POLICY_DIR", str(SHIPPED))
    assert runner.invoke(policy_group, ["check"]).exit_code == 0
    monkeypatch.delenv("BROKER_POLICY_DIR")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(policy_group, ["check"])
    assert result.exit_code == 1
    assert result.output.startswith("policies:1:1: no such file or directory\n")
    shutil.copytree(SHIPPED, tmp_path / "policies")
    assert runner.invoke(policy_group, ["check"]).exit_code == 0


def test_check_five_mistakes_exits_1_with_line_numbers(runner: CliRunner) -> None:
    path = DATA / "five_mistakes.yaml"
    result = runner.invoke(policy_group, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:5]] == [
        f"{path}:12:5",
        f"{path}:26:14",
        f"{path}:29:13",
        f"{path}:42:34",
        f"{path}:43:5",
    ]
    assert lines[5] == f"{path}: 5 problem(s); the policy was not loaded"


def test_test_command_passes_on_shipped_policy(runner: CliRunner, shipped: Policy) -> None:
    result = runner.invoke(policy_group, ["test", "--policy", str(SHIPPED), "--require-all-rules"])
    assert result.exit_code == 0, result.output
    assert "every rule is exercised by at least one case" in result.output
    rules = len(shipped.rules)
    assert f"; {rules} of {rules} rules exercised" in result.output


def test_test_command_reports_failures(runner: CliRunner, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: school sees the GP\n"
        "    given: {requester: school, holder: huisarts, purpose: care_coordination,"
        " basis: consent}\n"
        "    expect: {discover: true, reveal: organisation}\n"
    )
    result = runner.invoke(policy_group, ["test", "--policy", str(SHIPPED), "--tests", str(cases)])
    assert result.exit_code == 1
    assert (
        f"FAIL {cases}:2:5: school sees the GP: expected reveal: organisation, got nothing"
        in result.output
    )
    assert "rules no case exercises: professionals-inform-veilig-thuis," in result.output
    assert "1 of 1 cases passed" not in result.output
    assert "0 of 1 cases passed" in result.output


def test_explain_in_english_and_dutch(runner: CliRunner) -> None:
    args = [
        "explain",
        "--policy",
        str(SHIPPED),
        "--requester",
        "school",
        "--holder",
        "wijkteam",
        "--purpose",
        "protection",
        "--basis",
        "legal_task",
    ]
    result = runner.invoke(policy_group, args)
    assert result.exit_code == 0, result.output
    assert "discover               no" in result.output
    assert "closest rule           school-learns-presence" in result.output
    assert 'would apply but purpose "protection" is not among its purposes.' in result.output
    dutch = runner.invoke(policy_group, [*args, "--lang", "nl"])
    assert "ontdekken" in dutch.output
    assert 'doel "protection" staat niet bij zijn doelen' in dutch.output


def test_explain_allowed_request(runner: CliRunner) -> None:
    result = runner.invoke(
        policy_group,
        [
            "explain",
            "--policy",
            str(SHIPPED),
            "--requester",
            "huisarts",
            "--holder",
            "veilig_thuis",
            "--purpose",
            "safety_assessment",
            "--basis",
            "legal_task",
        ],
    )
    assert result.exit_code == 0
    assert "rule(s)                professionals-inform-veilig-thuis" in result.output
    assert "Legal ground: Wmo 2015 art. 5.2.6" in result.output


def test_explain_unknown_code_suggests(runner: CliRunner) -> None:
    result = runner.invoke(
        policy_group,
        [
            "explain",
            "--policy",
            str(SHIPPED),
            "--requester",
            "school",
            "--holder",
            "veilig-thuis",
            "--purpose",
            "protection",
            "--basis",
            "legal_task",
        ],
    )
    assert result.exit_code == 2
    assert 'unknown organisation type "veilig-thuis" (did you mean "veilig_thuis"?)' in (
        result.output
    )


def _copy_without_wijkteam_rule(tmp_path: Path) -> Path:
    copy = tmp_path / "new"
    shutil.copytree(SHIPPED, copy)
    sharing = copy / "sharing.yaml"
    text = sharing.read_text(encoding="utf-8")
    start = text.index("  - id: wijkteam-coordinates-youth-care")
    end = text.index("  # Conflict of duties")
    sharing.write_text(text[:start] + text[end:], encoding="utf-8")
    return copy


def test_diff_prints_exactly_the_removed_rules_decisions(runner: CliRunner, tmp_path: Path) -> None:
    new = _copy_without_wijkteam_rule(tmp_path)
    result = runner.invoke(policy_group, ["diff", str(SHIPPED), str(new)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sorted(line.split(":")[0] for line in lines[:3]) == [
        "wijkteam -> jeugdhulp, care_coordination, legal_task",
        "wijkteam -> school, care_coordination, legal_task",
        "wijkteam -> wijkteam, care_coordination, legal_task",
    ]
    assert all("allowed by wijkteam-coordinates-youth-care" in line for line in lines[:3])
    assert lines[3].startswith(f"3 decision(s) change from {SHIPPED} (")
    assert lines[4] == "(no database configured: visibility impact not computed)"
    assert len(lines) == 5


def test_diff_reports_visibility_impact_with_a_database(runner: CliRunner, tmp_path: Path) -> None:
    new = _copy_without_wijkteam_rule(tmp_path)

    def pairs() -> list[InvolvementPair]:
        return [InvolvementPair("wijkteam", "school", "care_coordination", 4)]

    class Root:
        involvement_pairs = staticmethod(pairs)

    @click.group()
    @click.pass_context
    def broker(ctx: click.Context) -> None:
        ctx.obj = Root()

    broker.add_command(policy_group)
    result = runner.invoke(broker, ["policy", "diff", str(SHIPPED), str(new)])
    assert result.exit_code == 0, result.output
    assert (
        "0 pair(s) of current involvements would gain visibility, 4 would lose it, 0 unchanged"
        in result.output
    )
    assert "  4 x wijkteam -> school (care_coordination) loses visibility" in result.output


def test_diff_with_a_broken_policy_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(policy_group, ["diff", str(SHIPPED), str(DATA / "five_mistakes.yaml")])
    assert result.exit_code == 1
    assert "5 problem(s); the policy was not loaded" in result.output
