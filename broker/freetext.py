"""Free text that people type (a justification, a decision message, a case reference).

Rules this module guarantees, for every text it accepts:

1. it is at most ``max_length`` characters after surrounding whitespace is removed;
2. it holds no NUL, no other control character but tab and line breaks, and no lone surrogate
   (which PostgreSQL and UTF-8 cannot store);
3. it holds nothing shaped like an identifier, so that no identifier reaches the audit log's
   hashed, never-erasable content or a database row through a comment:
   - a BSN: 8 or 9 digits, optionally split by spaces, dots or dashes, that pass the 11-test
     (an 8-digit number is a BSN with its leading zero dropped);
   - a Dutch postcode: four digits (not starting with 0) and two letters (not SA, SD or SS);
   - a date (a date of birth looks like any other date): ``3-2-2015``, ``03/02/15``,
     ``2015-02-03``, ``3 februari 2015``, ``3 feb. 2015``, when it is a real calendar date.

A refusal says what was found and what to do, in Dutch and English, without repeating the text.
This module depends on nothing of the broker but its error type.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from broker.catalogue import Joined, Message
from broker.errors import ValidationError

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
# 8 or 9 digits, each but the last optionally followed by one separator, not inside a longer run.
_DIGIT_RUN = re.compile(r"(?<![0-9])(?:[0-9][ .\-]?){7,8}[0-9](?![0-9])")
_POSTCODE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{3} ?([A-Za-z]{2})(?![A-Za-z0-9])")
_UNUSED_POSTCODE_LETTERS = frozenset({"SA", "SD", "SS"})
_NUMERIC_DATE = re.compile(
    r"(?<![0-9])(?:(?P<y1>[0-9]{4})[-/.](?P<m1>[0-9]{1,2})[-/.](?P<d1>[0-9]{1,2})"
    r"|(?P<d2>[0-9]{1,2})[-/.](?P<m2>[0-9]{1,2})[-/.](?P<y2>[0-9]{4}|[0-9]{2}))(?![0-9])"
)
_MONTHS = {
    "jan": 1, "januari": 1, "january": 1, "feb": 2, "februari": 2, "february": 2,
    "mrt": 3, "maart": 3, "mar": 3, "march": 3, "apr": 4, "april": 4, "mei": 5, "may": 5,
    "jun": 6, "juni": 6, "june": 6, "jul": 7, "juli": 7, "july": 7, "aug": 8, "augustus": 8,
    "august": 8, "sep": 9, "sept": 9, "september": 9, "okt": 10, "oktober": 10, "oct": 10,
    "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_WORD_DATE = re.compile(
    r"(?<![0-9])(?P<d>[0-9]{1,2})\s+(?P<m>[A-Za-z]+)\.?\s+(?P<y>[0-9]{4})(?![0-9])"
)
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _passes_eleven_test(digits: str) -> bool:
    digits = digits.zfill(9)
    return digits != "000000000" and sum(
        w * int(d) for w, d in zip(_BSN_WEIGHTS, digits, strict=True)) % 11 == 0


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def identifier_shapes(text: str) -> list[str]:
    """The kinds of identifier-shaped things in ``text``: "bsn", "postcode", "date" (each once,
    in that order); empty when there are none."""
    found: list[str] = []
    for match in _DIGIT_RUN.finditer(text):
        if _passes_eleven_test(re.sub(r"[ .\-]", "", match.group())):
            found.append("bsn")
            break
    for match in _POSTCODE.finditer(text):
        if match.group(1).upper() not in _UNUSED_POSTCODE_LETTERS:
            found.append("postcode")
            break
    for match in _NUMERIC_DATE.finditer(text):
        year = match.group("y1") or match.group("y2")
        month = match.group("m1") or match.group("m2")
        day = match.group("d1") or match.group("d2")
        if _real_date(int(year) + (2000 if len(year) == 2 else 0), int(month), int(day)):
            found.append("date")
            break
    else:
        for match in _WORD_DATE.finditer(text):
            month_number = _MONTHS.get(match.group("m").lower())
            if month_number and _real_date(int(match.group("y")), month_number,
                                           int(match.group("d"))):
                found.append("date")
                break
    return found


_SHAPE_NAMES = {
    "bsn": Message("a citizen service number (BSN)"),
    "postcode": Message("a postcode"),
    "date": Message("a date (such as a date of birth)"),
}


def check_free_text(text: str | None, *, field: str, max_length: int,
                    required: bool = False) -> str | None:
    """``text`` stripped, or None when empty and not ``required``; raises
    :class:`~broker.errors.ValidationError` (code ``free-text``) naming the field and the fix.

    ``field`` names the field as the reader knows it, by its message id ("The justification").
    """
    name = Message(field)
    if text is None or not text.strip():
        if required:
            raise ValidationError("%(field)s is required.", code="free-text", field=name)
        return None
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        if category in {"Cs", "Cc"}:
            raise ValidationError(
                "%(field)s contains a control character or an invalid character; type it "
                "again without pasting.", code="free-text", field=name)
    stripped = text.strip()
    if len(stripped) > max_length:
        raise ValidationError(
            "%(field)s is longer than %(max_length)s characters (%(length)s); shorten it.",
            code="free-text", field=name, max_length=max_length, length=len(stripped))
    shapes = identifier_shapes(stripped)
    if shapes:
        raise ValidationError(
            "%(field)s seems to contain %(shapes)s. Never write an identifier in free text: "
            "describe the situation without BSNs, postcodes or dates of birth.",
            code="free-text", field=name,
            shapes=Joined(Message(" and "), [_SHAPE_NAMES[s] for s in shapes]))
    return stripped
