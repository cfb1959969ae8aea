"""The policy in a running broker: every load is an audit event with the version in force.

A changed policy file is taken into use only after it validates; a broken one leaves the policy in
force unchanged, and both outcomes are recorded (``policy:loaded``, ``policy:load_failed``).
"""

from __future__ import annotations

import logging
import threading
import time

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.policy.holder import ReloadResult
from broker.policy.interfaces import PolicyHost

log = logging.getLogger("broker.policy")

# How often a running server looks at the policy files.
RELOAD_INTERVAL = 2.0


def record_policy_in_force(core: PolicyHost, actor: Actor) -> None:
    """Record, at start, which policy version the broker runs under."""
    policy = core.policy()
    with core.transaction() as connection:
        record_event(connection, actor, Event.POLICY_LOADED, policy_version=policy.version,
                     details={"name": policy.name, "path": str(core.settings.policy_dir),
                              "reason": "start"})


def reload_policy(core: PolicyHost, actor: Actor) -> ReloadResult:
    """Reload the policy if its files changed; audit what happened."""
    result = core.policies.reload_if_changed()
    if result.status == "unchanged":
        return result
    with core.transaction() as connection:
        if result.status == "reloaded":
            record_event(connection, actor, Event.POLICY_LOADED, policy_version=result.version,
                         details={"previous_version": result.previous_version,
                                  "reason": "files changed"})
            log.info("%s", result.message)
        else:
            record_event(connection, actor, Event.POLICY_LOAD_FAILED, outcome="failure",
                         policy_version=result.version, reason=result.message,
                         details={"problems": [str(p) for p in result.problems]})
            log.warning("%s", result.message)
    return result


class PolicyWatcher:
    """Calls :func:`reload_policy` at most every :data:`RELOAD_INTERVAL` seconds."""

    def __init__(self, core: PolicyHost, interval: float = RELOAD_INTERVAL) -> None:
        self.core = core
        self.interval = interval
        self._next = time.monotonic() + interval
        self._lock = threading.Lock()

    def tick(self) -> ReloadResult | None:
        """Reload when the interval has passed (one caller at a time); None otherwise."""
        now = time.monotonic()
        if now < self._next or not self._lock.acquire(blocking=False):
            return None
        try:
            self._next = now + self.interval
            return reload_policy(self.core, Actor.system("policy-watcher"))
        finally:
            self._lock.release()
