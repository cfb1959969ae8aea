"""The base of every error the primitives raise that can reach a person or a program.

A stable ``code`` (the last part of an RFC 9457 problem type), an HTTP ``status`` for a door to
answer with, and a message in Dutch and English that says what was wrong without repeating the
input. The broker's own error tree (``broker.errors``) builds on it.
"""

from __future__ import annotations


class BilingualError(Exception):
    """An error with a stable code, an HTTP status and a message in English and Dutch."""

    code = "error"
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
