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

from broker.catalogue import gettext, language
from broker.cli.support import cli_language, translated
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
        click.echo(translated("%(path)s: %(count)s problem(s); the policy was not loaded",
                              path=path, count=len(exc.problems)))
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
    click.echo(translated(
        "%(path)s: OK - %(org_types)s organisation types, %(purposes)s purposes, %(bases)s legal "
        "bases, %(rules)s rules; version %(version)s", path=path,
        org_types=len(policy.org_types), purposes=len(policy.purposes), bases=len(policy.bases),
        rules=len(policy.rules), version=policy.version))


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
        click.echo(translated("FAIL %(failure)s", failure=failure))
        click.echo(f"     {failure.explanation}")
    if report.unexercised:
        click.echo(translated("rules no case exercises: %(rules)s",
                              rules=", ".join(report.unexercised)))
    else:
        click.echo(translated("every rule is exercised by at least one case"))
    click.echo(report.summary(cli_language()))
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
@click.option("--lang", type=click.Choice(["en", "nl"]),
              help="Language (default: that of broker --lang, BROKER_LANG, or Dutch).")
def explain_command(
    requester: str, holder: str, purpose: str, basis: str, policy_path: Path | None,
    lang: str | None,
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
    lang = language(lang or cli_language())

    yes, no = gettext(lang, "yes"), gettext(lang, "no")
    rows = [
        (gettext(lang, "discover"), yes if d.allowed else no),
        (gettext(lang, "reveal"), d.reveal),
        ("contact", d.contact),  # the same word in both languages
        (gettext(lang, "link fields"), ", ".join(sorted(d.link_fields)) or "-"),
        (gettext(lang, "link direction"), d.link_direction or "-"),
        (gettext(lang, "obligations"), ", ".join(d.obligations) or "-"),
        (gettext(lang, "registration required"), yes if d.requires_registration else no),
        (gettext(lang, "closest rule" if d.decided_by == "default_deny" else "rule(s)"),
         ", ".join(d.rule_ids) or "-"),
        (gettext(lang, "decided by"), d.decided_by),
        (gettext(lang, "policy version"), d.policy_version),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label.ljust(width)}  {value}")
    click.echo("")
    click.echo(d.explain(lang))


@policy_group.command("diff")
@click.argument("old", type=_PATH)
@click.argument("new", type=_PATH)
def diff(old: Path, new: Path) -> None:
    """Show every decision that changes from policy OLD to policy NEW."""
    before, after = _load(old), _load(new)
    changes = diff_policies(before, after)
    for change in changes:
        click.echo(change.describe(cli_language()))
    click.echo(translated(
        "%(count)s decision(s) change from %(old)s (%(old_version)s) to %(new)s (%(new_version)s)",
        count=len(changes), old=old, old_version=before.version[:12], new=new,
        new_version=after.version[:12]))
    source = _pairs_source()
    if source is None:
        click.echo(translated("(no database configured: visibility impact not computed)"))
        return
    impact = visibility_impact(before, after, source())
    click.echo(impact.describe(cli_language()))
    for pair, now_visible in impact.changed:
        values = {"count": pair.count, "requester": pair.requester_type,
                  "holder": pair.holder_type, "purpose": pair.purpose}
        click.echo(translated(
            "  %(count)s x %(requester)s -> %(holder)s (%(purpose)s) gains visibility", **values)
            if now_visible else translated(
            "  %(count)s x %(requester)s -> %(holder)s (%(purpose)s) loses visibility", **values))


def _pairs_source() -> Callable[[], Iterable[InvolvementPair]] | None:
    obj: Any = click.get_current_context().find_root().obj
    source = getattr(obj, "involvement_pairs", None)
    return source if callable(source) else None
