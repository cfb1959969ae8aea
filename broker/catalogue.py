"""The broker's one message catalogue (Dutch and English), for every door and every error.

Rules:

1. Every text a person reads comes from the compiled catalogue in ``broker/web/translations``
   (Flask-Babel serves the same files to the web pages): the web through Flask-Babel, the
   command line and errors through :func:`translations`, which needs no Flask app.
2. A service never picks a language. It names its text by a message id, the English wording
   with named ``%(name)s`` places (:class:`Message`); the door that shows it translates it in
   its own language: the web page in the session's, a problem detail by Accept-Language, the
   command line by ``--lang``.
3. A language other than Dutch or English gets Dutch, the broker's default.
4. tests/web/test_catalogue.py fails on any message id the sources use that either catalogue
   lacks or leaves empty, so a text cannot reach a person untranslated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Protocol

from babel.support import Translations

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
TRANSLATIONS = Path(__file__).resolve().parent / "web" / "translations"


class Phrase(Protocol):
    """A text that can be put in either language when it is shown."""

    def translate(self, lang: str) -> str:
        """The text in ``lang``."""
        ...


def language(lang: str | None) -> str:
    """``lang`` when the catalogue has it, otherwise the default (rule 3)."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> Translations:
    """The compiled catalogue of ``lang`` (rule 1), read once."""
    with (TRANSLATIONS / language(lang) / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        return Translations(mo, domain="messages")


def gettext(lang: str, message_id: str, **values: object) -> str:
    """The text ``message_id`` in ``lang``, with ``values`` in its ``%(name)s`` places."""
    return Message(message_id, **values).translate(lang)


def message_id(text: str) -> str:
    """``text``, marked as a message id for the catalogue check (a table of ids whose values
    come later); it is translated where a :class:`Message` is made of it."""
    return text


class Message:
    """A message id and the values for its named places, translated when shown (rule 2).

    A value that is itself a :class:`Phrase` is translated into the same language."""

    __slots__ = ("id", "values")

    def __init__(self, message_id: str, /, **values: object) -> None:
        self.id = message_id
        self.values: Mapping[str, object] = values

    def translate(self, lang: str) -> str:
        """The text in ``lang``, with its values in place."""
        text: str = translations(lang).gettext(self.id)
        if not self.values:
            return text
        return text % {name: _shown(value, lang) for name, value in self.values.items()}

    def __str__(self) -> str:
        return self.translate("en")

    def __repr__(self) -> str:
        return f"Message({self.id!r}, **{dict(self.values)!r})"


class Joined:
    """Phrases shown one after the other, with a separator that may itself be translated."""

    __slots__ = ("parts", "separator")

    def __init__(self, separator: Phrase | str, parts: Iterable[Phrase | str]) -> None:
        self.separator = separator
        self.parts = tuple(parts)

    def translate(self, lang: str) -> str:
        """The parts in ``lang``, joined."""
        separator = str(_shown(self.separator, lang))
        return separator.join(str(_shown(part, lang)) for part in self.parts)


def _shown(value: object, lang: str) -> object:
    translate = getattr(value, "translate", None)
    return translate(lang) if callable(translate) and not isinstance(value, str) else value
