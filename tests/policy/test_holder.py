"""Reloading the policy in a running server."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from broker.policy import PolicyHolder, PolicyLoadError
from tests.policy.conftest import SHIPPED


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(SHIPPED, copy)
    return copy


def test_unchanged_files_are_not_reloaded(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    first = holder.current()
    result = holder.reload_if_changed()
    assert result.status == "unchanged"
    assert result.version == first.version
    assert holder.current() is first


def test_comment_only_change_keeps_the_same_policy(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    first = holder.current()
    with (policy_dir / "sharing.yaml").open("a") as fh:
        fh.write("# a comment at the end\n")
    assert holder.reload_if_changed().status == "unchanged"
    assert holder.current() is first


def test_valid_change_is_swapped_in(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    old = holder.current().version
    policy = policy_dir / "policy.yaml"
    policy.write_text(policy.read_text().replace("school: 200", "school: 150"))
    result = holder.reload_if_changed()
    assert result.status == "reloaded"
    assert result.previous_version == old
    assert result.version == holder.current().version != old
    assert holder.current().quota_for("school") == 150
    assert result.message.startswith(f"policy {result.version} now in force (was {old})")


def test_broken_file_keeps_the_old_policy_and_says_why(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    old = holder.current()
    sharing = policy_dir / "sharing.yaml"
    good = sharing.read_text()
    sharing.write_text(good.replace("holder: veilig_thuis\n", "holder: veilig-thuis\n", 1))
    result = holder.reload_if_changed()
    assert result.status == "failed"
    assert holder.current() is old
    assert result.version == old.version
    assert len(result.problems) == 1
    assert 'unknown organisation type "veilig-thuis"' in result.problems[0].message
    assert str(sharing) in result.message and "stays in force" in result.message
    # The same broken content is reported once, not on every poll.
    assert holder.reload_if_changed().status == "unchanged"
    # Fixing it brings back the same version without a swap.
    sharing.write_text(good)
    assert holder.reload_if_changed().status == "unchanged"
    assert holder.current() is old


def test_removed_directory_keeps_the_old_policy(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    old = holder.current()
    shutil.rmtree(policy_dir)
    result = holder.reload_if_changed()
    assert result.status == "failed"
    assert holder.current() is old


def test_broken_policy_at_start_raises(policy_dir: Path) -> None:
    (policy_dir / "sharing.yaml").write_text("rules: [\n")
    with pytest.raises(PolicyLoadError):
        PolicyHolder(policy_dir)


def test_concurrent_reloads_swap_once(policy_dir: Path) -> None:
    holder = PolicyHolder(policy_dir)
    policy = policy_dir / "policy.yaml"
    policy.write_text(policy.read_text().replace("school: 200", "school: 100"))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(holder.reload_if_changed().status))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["reloaded"] + ["unchanged"] * 7
