"""The broker's exception tree.

Every error that can reach a person carries a message in Dutch and in English, says what was wrong
and what to do, and never contains a raw identifier. Every error that can reach a program carries a
stable ``code`` (the last part of its RFC 9457 problem type).
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every domain error: a stable code and a bilingual message."""

    code = "broker-error"
    status = 400

    def __init__(self, message_en: str, message_nl: str | None = None, *, code: str | None = None):
        super().__init__(message_en)
        self.message_en = message_en
        self.message_nl = message_nl or message_en
        if code is not None:
            self.code = code

    def message(self, lang: str = "nl") -> str:
        """The message in ``lang`` ("nl" or "en"); Dutch for anything else."""
        return self.message_en if lang == "en" else self.message_nl

    def __str__(self) -> str:
        return self.message_en


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
