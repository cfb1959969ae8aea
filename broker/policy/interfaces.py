"""What the running policy needs from the process that holds it, as a :class:`typing.Protocol`:
its settings, the policy holder, and a transaction for the load's audit event. Nothing else of
the composition root (:class:`broker.core.Core` is one such host), so the policy stays below the
domains that ask it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy import Connection

from broker.config import Settings
from broker.policy.engine import Policy
from broker.policy.holder import PolicyHolder


class PolicyHost(Protocol):
    """The process whose policy is loaded, reloaded and audited."""

    @property
    def settings(self) -> Settings:
        """The broker's settings (the policy directory)."""

    @property
    def policies(self) -> PolicyHolder:
        """The holder of the policy in force."""

    def policy(self) -> Policy:
        """The sharing policy in force."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction on a plain connection of its own."""
