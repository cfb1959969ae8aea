"""``broker policy``: the privacy officer's commands. Thin: parse, call, print.

- ``check [PATH]``: validate; exit 1 listing every problem as ``file:line:column: message``.
- ``test [--policy PATH] [--tests DIR]``: run the policy tests; exit 1 on any failure.
- ``explain --requester T --holder T --purpose P --basis B``: the decision and why.
- ``diff OLD NEW``: every decision that changes, and (with a database) how many current pairs of
  involvements would gain or lose visibility.

The policy path defaults to ``$BROKER_POLICY_DIR`` or ``policies/`` in the current directory.
These commands read policy files only, except ``diff``'s impact: the root context of ``broker``
(:class:`broker.cli.support.Context`) has ``involvement_pairs()``, which reads the current pairs
from the live database in a unit of work of its own; without it (the group run on its own),
``diff`` reports no impact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from broker.policy.diff import InvolvementPair, diff_policies, visibility_impact
from broker.policy.engine import Policy
from broker.policy.errors import PolicyLoadError
from broker.policy.loader import load_policy
from broker.policy.overview import tests_dir
from broker.policy.schema_fields import (
    unknown_message,
)
from broker.policy.scopes import DecisionRequest
from broker.policy.testing import run_policy_tests

_PATH = click.Path(path_type=Path)


def default_policy_path() -> Path:
    """``$BROKER_POLICY_DIR``, or ``policies/`` relative to the current directory."""
    return Path(os.environ.get("BROKER_POLICY_DIR") or "policies")


def _load(path: Path) -> Policy:
    """Load ``path`` or print every problem and exit 1."""
    try:
        return load_policy(path)
    except PolicyLoadError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{path}: {len(exc.problems)} problem(s); the policy was not loaded")
        raise SystemExit(1) from None


@click.group("policy")
def policy_group() -> None:
    """Check, test, explain and compare the sharing policy."""


@policy_group.command("check")
@click.argument("path", required=False, type=_PATH)
def check(path: Path | None) -> None:
    """Validate the policy at PATH (default: the configured policy directory)."""
    path = path or default_policy_path()
    policy = _load(path)
    click.echo(
        f"{path}: OK - {len(policy.org_types)} organisation types, {len(policy.purposes)} "
        f"purposes, {len(policy.bases)} legal bases, {len(policy.rules)} rules; "
        f"version {policy.version}"
    )


@policy_group.command("test")
@click.option("--policy", "policy_path", type=_PATH, help="Policy directory or file.")
@click.option("--tests", "tests_path", type=_PATH, help="Test directory (default: <policy>/tests).")
@click.option("--require-all-rules", is_flag=True, help="Fail when a rule has no case.")
def test(policy_path: Path | None, tests_path: Path | None, require_all_rules: bool) -> None:
    """Run the policy tests and list the rules no case exercises."""
    policy_path = policy_path or default_policy_path()
    if tests_path is None:
        tests_path = tests_dir(policy_path)
    report = run_policy_tests(_load(policy_path), tests_path)
    for problem in report.problems:
        click.echo(str(problem))
    for failure in report.failures:
        click.echo(f"FAIL {failure}")
        click.echo(f"     {failure.explanation}")
    if report.unexercised:
        click.echo("rules no case exercises: " + ", ".join(report.unexercised))
    else:
        click.echo("every rule is exercised by at least one case")
    click.echo(report.summary())
    if not report.ok or (require_all_rules and report.unexercised):
        raise SystemExit(1)


def _code(policy: Policy, kind: str, value: str, choices: Iterable[str], option: str) -> str:
    known = list(choices)
    if value not in known:
        raise click.BadParameter(unknown_message(kind, value, known), param_hint=option)
    return value


@policy_group.command("explain")
@click.option("--requester", required=True, help="Requesting organisation type.")
@click.option("--holder", required=True, help="Holding organisation type.")
@click.option("--purpose", required=True, help="Purpose of the look-up.")
@click.option("--basis", required=True, help="Legal basis of the look-up.")
@click.option("--policy", "policy_path", type=_PATH, help="Policy directory or file.")
@click.option("--lang", type=click.Choice(["en", "nl"]), default="en", show_default=True)
def explain_command(
    requester: str, holder: str, purpose: str, basis: str, policy_path: Path | None, lang: str
) -> None:
    """Show the decision for one request and the reasoning behind it."""
    policy = _load(policy_path or default_policy_path())
    request = DecisionRequest(
        _code(policy, "organisation type", requester, policy.org_types, "--requester"),
        _code(policy, "organisation type", holder, policy.org_types, "--holder"),
        _code(policy, "purpose", purpose, policy.purposes, "--purpose"),
        _code(policy, "legal basis", basis, policy.bases, "--basis"),
    )
    d = policy.decide(request)
    nl = lang == "nl"
    yes, no = ("ja", "nee") if nl else ("yes", "no")
    rows = [
        ("ontdekken" if nl else "discover", yes if d.allowed else no),
        ("toont" if nl else "reveal", d.reveal),
        ("contact", d.contact),
        ("contactvelden" if nl else "link fields", ", ".join(sorted(d.link_fields)) or "-"),
        ("richting" if nl else "link direction", d.link_direction or "-"),
        ("verplichtingen" if nl else "obligations", ", ".join(d.obligations) or "-"),
        (
            "registratie vereist" if nl else "registration required",
            yes if d.requires_registration else no,
        ),
        (_rule_label(d.decided_by, nl), ", ".join(d.rule_ids) or "-"),
        ("beslist door" if nl else "decided by", d.decided_by),
        ("beleidsversie" if nl else "policy version", d.policy_version),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label.ljust(width)}  {value}")
    click.echo("")
    click.echo(d.explain(lang))


def _rule_label(decided_by: str, nl: bool) -> str:
    if decided_by == "default_deny":
        return "dichtstbijzijnde regel" if nl else "closest rule"
    return "regel(s)" if nl else "rule(s)"


@policy_group.command("diff")
@click.argument("old", type=_PATH)
@click.argument("new", type=_PATH)
def diff(old: Path, new: Path) -> None:
    """Show every decision that changes from policy OLD to policy NEW."""
    before, after = _load(old), _load(new)
    changes = diff_policies(before, after)
    for change in changes:
        click.echo(change.describe())
    click.echo(
        f"{len(changes)} decision(s) change from {old} ({before.version[:12]}) "
        f"to {new} ({after.version[:12]})"
    )
    source = _pairs_source()
    if source is None:
        click.echo("(no database configured: visibility impact not computed)")
        return
    impact = visibility_impact(before, after, source())
    click.echo(impact.describe())
    for pair, now_visible in impact.changed:
        verb = "gains" if now_visible else "loses"
        click.echo(
            f"  {pair.count} x {pair.requester_type} -> {pair.holder_type} "
            f"({pair.purpose}) {verb} visibility"
        )


def _pairs_source() -> Callable[[], Iterable[InvolvementPair]] | None:
    obj: Any = click.get_current_context().find_root().obj
    source = getattr(obj, "involvement_pairs", None)
    return source if callable(source) else None
