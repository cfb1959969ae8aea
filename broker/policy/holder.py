"""The policy in force in a running server, swapped only for a version that validates.

Guarantees:
- :meth:`PolicyHolder.current` always returns a complete, validated policy (never ``None``, never
  half-loaded); reading it takes no lock because replacing a reference is atomic;
- :meth:`PolicyHolder.reload_if_changed` swaps in a new policy only after it loads without a single
  problem; a broken file leaves the old policy in force and the result says why;
- a change is detected from the files' names and bytes (not modification times), so a file
  rewritten within the same second is still noticed; each change is reported once;
- reloads are serialised by a lock, so two threads never both swap.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from broker.policy.engine import Policy
from broker.policy.errors import PolicyLoadError, PolicyProblem
from broker.policy.loader import load_policy, policy_files

ReloadStatus = Literal["unchanged", "reloaded", "failed"]


@dataclass(frozen=True)
class ReloadResult:
    """What a reload attempt did; ``version`` is the version in force afterwards."""

    status: ReloadStatus
    version: str
    previous_version: str | None = None
    problems: tuple[PolicyProblem, ...] = ()

    @property
    def message(self) -> str:
        """One line for a log or the audit event's reason."""
        if self.status == "reloaded":
            return f"policy {self.version} now in force (was {self.previous_version})"
        if self.status == "failed":
            listing = "; ".join(str(p) for p in self.problems)
            return f"the changed policy was not loaded, {self.version} stays in force: {listing}"
        return f"policy {self.version} unchanged"


def fingerprint(path: Path) -> str:
    """A digest of the policy files' names and contents (a missing path has its own digest)."""
    digest = hashlib.sha256()
    try:
        files = policy_files(path)
    except PolicyLoadError:
        return "missing"
    for file in files:
        digest.update(str(file).encode() + b"\0")
        try:
            digest.update(file.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


class PolicyHolder:
    """Holds the policy loaded from ``path`` and reloads it when the files change."""

    def __init__(self, path: Path, policy: Policy | None = None):
        """Load the policy at ``path`` (or take ``policy``); raises :class:`PolicyLoadError`."""
        self.path = path
        self._lock = threading.Lock()
        self._seen = fingerprint(path)
        self._policy = policy if policy is not None else load_policy(path)

    def current(self) -> Policy:
        """The policy in force."""
        return self._policy

    def reload_if_changed(self) -> ReloadResult:
        """Reload when the files changed; keep the old policy if the new one has any problem."""
        with self._lock:
            old = self._policy
            seen = fingerprint(self.path)
            if seen == self._seen:
                return ReloadResult("unchanged", old.version)
            self._seen = seen
            try:
                new = load_policy(self.path)
            except PolicyLoadError as exc:
                return ReloadResult("failed", old.version, old.version, tuple(exc.problems))
            if new.version == old.version:
                return ReloadResult("unchanged", old.version)
            self._policy = new
            return ReloadResult("reloaded", new.version, old.version)
