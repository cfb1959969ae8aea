"""The small interfaces behind which the core's varying backends sit (STYLE habit 4).

The core (:class:`broker.core.Core`) holds one of each, chosen in one place
(:func:`broker.composition.components`) from the settings, or handed in by a test:

- the clock (:data:`broker.clock.Clock`): every "now" of every service, audit timestamps,
  sessions and periods;
- the password hasher (:class:`PasswordHasher`): the web sign-in's passwords;
- the notifier (:class:`Notifier`): how a webhook or an e-mail leaves the broker;
- the key store: the pseudonym keys (``broker.pseudonyms.keys.FileKeyStore``; its interface
  belongs to the pseudonym service, which is made its own process).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Protocol


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
