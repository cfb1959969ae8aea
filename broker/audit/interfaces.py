"""What the audit log needs from the process that keeps it, as a :class:`typing.Protocol`.

The log signs checkpoints, hands them to witnesses and exports bundles on its own transactions;
it takes the process's settings, its audit key and a way to open a transaction, and nothing else
of the composition root (:class:`broker.core.Core` is one such host), so that the log stays below
everything it records.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy import Connection

from broker.audit.notes import NoteKey
from broker.config import Settings


class LogHost(Protocol):
    """The process that keeps the audit log."""

    @property
    def settings(self) -> Settings:
        """The broker's settings (the witnesses, their quorum and time-out)."""

    def audit_key(self) -> NoteKey:
        """The log's signing key under the log's origin."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction on a plain connection of its own."""
