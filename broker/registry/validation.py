"""Checks on registry input that need no database: formats, limits, the policy's codes.

Every refusal is a :class:`~broker.errors.ValidationError` with a message from the catalogue
that names the field and, for a code the policy does not know, the closest known code.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from broker.catalogue import Message
from broker.errors import BrokerError, ValidationError
from broker.freetext import check_free_text

MAX_KEYS_PER_INVOLVEMENT = 50
MAX_BATCH = 1000
MIN_PASSWORD_LENGTH = 8

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")

T = TypeVar("T")


def require_slug(value: str, what: str) -> str:
    """``value`` if it is a short code: 2-64 lower-case letters, digits, '-' or '_'; ``what``
    names the field by its message id ("The user name")."""
    if not _SLUG.match(value):
        raise ValidationError(
            "%(what)s must be 2-64 characters: lower-case letters, digits, '-' or '_'.",
            what=Message(what))
    return value


def require_text(value: str, what: str, max_length: int = 200) -> str:
    """``value`` stripped, if it is not empty and at most ``max_length`` characters."""
    value = value.strip()
    if not value or len(value) > max_length:
        raise ValidationError("%(what)s is required and at most %(max_length)s characters.",
                              what=Message(what), max_length=max_length)
    return value


def require_known(code: str, known: Iterable[str], what: str) -> str:
    """``code`` if the policy knows it; otherwise a refusal that suggests the closest code."""
    choices = sorted(known)
    if code in choices:
        return code
    close = difflib.get_close_matches(code, choices, n=1)
    hint = (Message(' (did you mean "%(close)s"?)', close=close[0]) if close
            else Message("; known: %(known)s", known=", ".join(choices)))
    raise ValidationError('Unknown %(what)s "%(given)s" in the sharing policy%(hint)s',
                          what=Message(what), given=code, hint=hint)


def numbered(total: int, position: int, step: Callable[[], T]) -> T:
    """Run ``step``; in a batch, prefix a refusal with the item's position (from 1)."""
    try:
        return step()
    except BrokerError as exc:
        if total == 1:
            raise
        raise type(exc)(Message("Item %(position)s: %(problem)s", position=position,
                                problem=exc.text)) from exc


MAX_CASE_REFERENCE = 64  # the column's size


def case_reference(text: str | None) -> str | None:
    """An organisation's own case reference (dossier number), stripped; None when empty.

    Refused when it holds a control character, is longer than 64 characters, or holds something
    shaped like an identifier (a BSN that passes the 11-test, a postcode, a date): the broker
    keeps no identifier, and a case reference is shown to the organisation's own staff only.
    """
    return check_free_text(text, field="The case reference",
                           max_length=MAX_CASE_REFERENCE)
