"""The small interfaces behind which the core's varying backends sit (STYLE habit 4).

The core (:class:`broker.core.Core`) holds one of each, chosen in one place
(:func:`broker.composition.components`) from the settings, or handed in by a test:

- the clock (:data:`broker.clock.Clock`): every "now" of every service, audit timestamps,
  sessions and periods;
- the password hasher (:class:`PasswordHasher`): the web sign-in's passwords;
- the notifier (:class:`Notifier`): how a webhook or an e-mail leaves the broker;
- the notices (:class:`Notices`): the inbox messages a change makes, written in its own
  transaction (the registry hands them over; :mod:`broker.notifications` writes them, and the
  composition root — ``create_app``, the ``broker`` command — hands its writer to the core:
  a core given none refuses every change that would notify, :class:`NotWired`);
- the key store: the pseudonym keys (``broker.pseudonyms.keys.FileKeyStore``; its interface
  belongs to the pseudonym service, which is made its own process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session


class PasswordHasher(Protocol):
    """Makes and checks password hashes (argon2id in the broker)."""

    def hash(self, password: str) -> str:
        """A self-describing hash string of ``password`` (algorithm and parameters inside)."""
        ...

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; takes a hash's time even when ``stored``
        is None, so that a failed sign-in takes as long whether or not the user exists."""
        ...


class NotifierError(Exception):
    """A message could not be handed over; ``reason`` is a fixed word or an exception's type
    (never a text that could hold a URL or an address); ``permanent`` when retrying is no use."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Notifier(Protocol):
    """Hands a signed webhook or an e-mail over to the network."""

    def post_webhook(self, url: str, body: bytes, headers: Mapping[str, str],
                     timeout: float) -> int:
        """POST ``body`` to ``url`` without following redirects; the answer's status.
        :class:`NotifierError` when no answer came."""
        ...

    def send_email(self, mail: EmailMessage, smtp_url: str, timeout: float) -> None:
        """Send ``mail`` through the relay of ``smtp_url``; :class:`NotifierError` otherwise."""
        ...


class NotWired(RuntimeError):
    """A backend the composition root must hand to the core was not handed in: a defect of the
    wiring, never a person's mistake. The change that needed it fails and its unit of work is
    rolled back (nothing is done without the notices it owes)."""


class StoredForm(Protocol):
    """A matching key as stored, with the key epochs it was made under
    (``broker.pseudonyms.matching.StoredKey`` is one)."""

    @property
    def category(self) -> str:
        """``person`` or ``address``."""
        ...

    @property
    def value(self) -> bytes:
        """The stored element."""
        ...

    @property
    def oprf_epoch(self) -> int:
        """The epoch of the pseudonym service's key."""
        ...

    @property
    def broker_epoch(self) -> int:
        """The epoch of the broker's key."""
        ...


class Notices(Protocol):
    """Writes the inbox messages a change makes (and queues the e-mails and webhooks that
    announce them) on the caller's connection, so that they commit with the change and its
    audit event, or not at all. The registry hands its notices over through this; the
    notifications package, above the registry, implements it (``InboxNotices``)."""

    def notify(self, connection: Connection, *, professional_id: int, kind: str,
               reference: str, organisation_id: int,
               webhook_event: Mapping[str, object] | None = None) -> None:
        """One message of ``kind`` about ``reference`` (a public id of the receiver's own side)
        for the professional; ``webhook_event`` adds scalar fields to its webhook."""
        ...

    def notify_auditors(self, connection: Connection, *, kind: str, reference: str
                        ) -> list[int]:
        """One message of ``kind`` for every active auditor; the ids of the auditors told."""
        ...

    def notify_new_matches(self, session: Session, *, organisation_id: int,
                           involvement_id: int, keys: Sequence[StoredForm]) -> list[str]:
        """Tell the contacts of other organisations' active involvements on the household of
        the involvement just registered (and written) in ``session`` — ``organisation_id``'s,
        with the stored ``keys`` — as far as the policy lets them learn of it; the public ids of
        the involvements told."""
        ...
