"""The policy in a running broker: loads and failed reloads are audit events; the old policy
stays in force when a changed file is broken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.cli import main
from broker.config import Settings
from broker.core import Core
from broker.policy.services import PolicyWatcher, record_policy_in_force, reload_policy
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, household, make_member, register
from tests.uow import committed


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """A copy of the shipped policy that the test may edit."""
    target = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICY, target)
    return target


def events(core: Core, event_type: str) -> list[AuditEvent]:
    """Audit events of one type, oldest first."""
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                    .order_by(AuditEvent.id)))


def test_start_and_reload_are_audited_and_a_broken_file_changes_nothing(
    core: Core, policy_path: Path
) -> None:
    actor = Actor.system("test")
    record_policy_in_force(core, actor)
    first = core.policy().version
    assert [e.policy_version for e in events(core, "policy:loaded")] == [first]

    assert reload_policy(core, actor).status == "unchanged"
    sharing = policy_path / "sharing.yaml"
    original = sharing.read_text()
    sharing.write_text(original.replace("reveal: organisation_type", "reveal: everything", 1))
    failed = reload_policy(core, actor)
    assert failed.status == "failed"
    assert core.policy().version == first
    [failure] = events(core, "policy:load_failed")
    assert "sharing.yaml:" in (failure.reason or "")

    sharing.write_text(original)
    (policy_path / "policy.yaml").write_text(
        (policy_path / "policy.yaml").read_text().replace("contact_link_days: 14",
                                                          "contact_link_days: 7"))
    reloaded = reload_policy(core, actor)
    assert reloaded.status == "reloaded"
    assert core.policy().version != first
    assert core.policy().retention.contact_link_days == 7
    assert events(core, "policy:loaded")[-1].policy_version == core.policy().version


def test_watcher_looks_at_most_once_per_interval(core: Core) -> None:
    watcher = PolicyWatcher(core, interval=3600)
    assert watcher.tick() is None  # the first look is an interval away
    watcher._next = 0  # the interval has passed
    result = watcher.tick()
    assert result is not None and result.status == "unchanged"
    assert watcher.tick() is None


def test_broken_policy_stops_the_start(tmp_path: Path, policy_path: Path) -> None:
    (policy_path / "sharing.yaml").write_text("rules:\n  - id: x\n    effect: maybe\n")
    settings = Settings.from_env({"BROKER_HOME": str(tmp_path),
                                  "BROKER_POLICY_DIR": str(policy_path)})
    with pytest.raises(Exception, match=r"sharing\.yaml:\d+:\d+"):
        Core(settings)


def test_policy_commands_through_the_broker_cli(
    core: Core, policy_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry = committed(core, RegistryService)
    keys = household(core, address=(ADDRESS,))
    for key in ("school", "wijkteam"):
        register(registry, make_member(registry, key), keys)
    monkeypatch.setenv("BROKER_HOME", str(core.settings.home))
    monkeypatch.setenv("BROKER_DATABASE_URL", core.settings.database_url)
    monkeypatch.setenv("BROKER_POLICY_DIR", str(policy_path))
    runner = CliRunner()
    assert runner.invoke(main, ["policy", "check"]).exit_code == 0
    changed = tmp_path / "changed"
    shutil.copytree(policy_path, changed)
    sharing = changed / "sharing.yaml"
    text = sharing.read_text()
    start = text.index("  - id: wijkteam-coordinates-youth-care")
    end = text.index("  - id:", start + 10)
    sharing.write_text(text[:start] + text[end:])
    result = runner.invoke(main, ["--lang", "en", "policy", "diff", str(policy_path),
                                  str(changed)])
    assert result.exit_code == 0, result.output
    assert "1 would lose it" in result.output
    assert "wijkteam -> school (care_coordination) loses visibility" in result.output
