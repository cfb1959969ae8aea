"""The broker's exception tree.

Every error that can reach a person says what was wrong and what to do, and never contains a raw
identifier. It carries one message id from the catalogue (:mod:`broker.catalogue`: the English
wording, with named ``%(name)s`` places for its values); the door that shows it translates it into
its reader's language with :meth:`BrokerError.message`. Every error that can reach a program
carries a stable ``code`` (the last part of its RFC 9457 problem type).
"""

from __future__ import annotations

from typing import TypeVar

from broker_primitives.errors import BilingualError

from broker.catalogue import Message, Phrase

T = TypeVar("T")


class BrokerError(BilingualError):
    """Base of every domain error: a stable code and a message from the catalogue (the
    primitives' errors, such as a refused signature, share the base :class:`BilingualError`).

    ``BrokerError("No organisation %(org)s.", org=code)``: the message id, then the values of
    its places; ``text`` is the :class:`~broker.catalogue.Message`, for an error that repeats
    another's message inside its own."""

    code = "broker-error"
    status = 400

    def __init__(self, message_id: str | Phrase, /, *, code: str | None = None,
                 **values: object) -> None:
        self.text: Phrase = (Message(message_id, **values) if isinstance(message_id, str)
                             else message_id)
        super().__init__(self.text.translate("en"), self.text.translate("nl"), code=code)

    def message(self, lang: str = "nl") -> str:
        """The message in ``lang``, from the catalogue; Dutch for anything but "en"."""
        return self.text.translate(lang)


class ValidationError(BrokerError):
    """Input that is well-formed but not acceptable (a date out of range, an unknown type)."""

    code = "validation"
    status = 422


class NotFound(BrokerError):
    """The thing asked for does not exist, or the caller may not know that it does."""

    code = "not-found"
    status = 404


class Forbidden(BrokerError):
    """The caller is known but the policy or ownership rules do not allow the action."""

    code = "forbidden"
    status = 403


class Conflict(BrokerError):
    """The action clashes with the current state (already ended, already exists)."""

    code = "conflict"
    status = 409


class ConfigurationError(BrokerError):
    """The broker cannot start safely: a missing or unsafe secret, key or setting."""

    code = "configuration"
    status = 500


class BrokenInvariant(RuntimeError):
    """The database lacks what the broker's own rules promise (a row a foreign key or a cascade
    guarantees): a defect, not a person's mistake; the request fails and its unit of work is
    rolled back, like any unexpected error."""


def required(value: T | None, what: str) -> T:
    """``value``, which the broker's rules guarantee exists; :class:`BrokenInvariant` naming
    ``what`` if it does not (an explicit check where an ``assert`` would vanish under -O)."""
    if value is None:
        raise BrokenInvariant(f"{what} is missing, although the broker's rules guarantee it")
    return value
