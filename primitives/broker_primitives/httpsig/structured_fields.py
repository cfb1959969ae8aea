"""Structured Field Values for HTTP (RFC 8941), the part the signature layer needs.

The broker reads three structured fields: ``Signature-Input`` and ``Signature`` (RFC 9421 §4) and
``Content-Digest`` (RFC 9530 §2). All three are Dictionaries (RFC 8941 §3.2). This module parses
and serialises Dictionaries whose members are Items or Inner Lists, with Parameters, over the bare
item types of RFC 8941 §3.3: Integer, Decimal, String, Token, Byte Sequence and Boolean.

Rules this module guarantees:

- Parsing follows the algorithms of RFC 8941 §4.2; any input they reject raises
  :class:`StructuredFieldError` (a ``ValueError``), and nothing else escapes for any ``str`` input.
- Stricter than RFC 8941 on one point, on purpose: a Dictionary or a Parameters list that repeats a
  key is rejected instead of letting the last one win (§4.2.2 and §4.2.3.2 overwrite). For
  signatures, two ``created`` parameters or two ``sig1`` members are a smuggling attempt, never a
  legitimate message.
- Serialisation follows RFC 8941 §4.1 and refuses values it cannot represent (an integer beyond
  15 digits, a string with a non-printable character, a malformed key or token), so what is
  serialised always parses back to the same value.
- Serialising a parsed value gives the canonical form. RFC 9421 §2.3 and §2.5 rely on that:
  the ``@signature-params`` line of the signature base is the canonical serialisation of the
  Signature-Input member.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "Member",
    "Params",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
    "serialize_member",
]


class StructuredFieldError(ValueError):
    """A field value that is not a valid RFC 8941 structure, or a value that cannot be one."""


class Token(str):
    """An RFC 8941 §3.3.4 Token, kept apart from a String (a token serialises without quotes)."""

    __slots__ = ()


BareItem = int | float | str | Token | bytes | bool
Params = tuple[tuple[str, BareItem], ...]


@dataclass(frozen=True)
class Item:
    """An RFC 8941 §3.3 Item: a bare value with Parameters (kept in order)."""

    value: BareItem
    params: Params = field(default=())

    def param(self, name: str) -> BareItem | None:
        """The value of parameter ``name``, or None when it is absent."""
        return _lookup(self.params, name)


@dataclass(frozen=True)
class InnerList:
    """An RFC 8941 §3.1.1 Inner List: Items in order, with Parameters on the list itself."""

    items: tuple[Item, ...]
    params: Params = field(default=())

    def param(self, name: str) -> BareItem | None:
        """The value of parameter ``name``, or None when it is absent."""
        return _lookup(self.params, name)


Member = Item | InnerList


def _lookup(params: Params, name: str) -> BareItem | None:
    for key, value in params:
        if key == name:
            return value
    return None


# --- Parsing (RFC 8941 §4.2) ----------------------------------------------------------------------

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_STRING_RUN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")  # printable ASCII but '"' and '\'
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_OWS = " \t"


class _Parser:
    """A cursor over one field value; each method consumes what it parses."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise StructuredFieldError("a structured field must be ASCII")
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at position {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, Member]:
        # §4.2.2, with duplicate keys refused (see the module docstring).
        members: dict[str, Member] = {}
        self.skip(" ")
        while self.pos < len(self.text):
            key = self.key()
            if key in members:
                raise self.fail(f"duplicate dictionary key {key!r}")
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.item_or_inner_list()
            else:
                members[key] = Item(True, self.parameters())
            self.skip(_OWS)
            if self.pos >= len(self.text):
                return members
            if self.peek() != ",":
                raise self.fail("expected ',' between dictionary members")
            self.pos += 1
            self.skip(_OWS)
            if self.pos >= len(self.text):
                raise self.fail("trailing ',' in dictionary")
        return members

    def item_or_inner_list(self) -> Member:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        # §4.2.1.2
        self.pos += 1
        items: list[Item] = []
        while self.pos < len(self.text):
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")
        raise self.fail("unterminated inner list")

    def item(self) -> Item:
        # §4.2.3
        value = self.bare_item()
        return Item(value, self.parameters())

    def parameters(self) -> Params:
        # §4.2.3.2, with duplicate keys refused.
        params: list[tuple[str, BareItem]] = []
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            if any(existing == key for existing, _ in params):
                raise self.fail(f"duplicate parameter {key!r}")
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params.append((key, value))
        return tuple(params)

    def key(self) -> str:
        # §4.2.3.3
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        # §4.2.3.1
        char = self.peek()
        if char == "-" or char.isdigit():
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char == "*" or char.isalpha():
            match = _TOKEN.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            return Token(match.group())
        raise self.fail("expected an item")

    def number(self) -> int | float:
        # §4.2.4: at most 15 integer digits; a decimal has at most 12 + 3 digits.
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a number")
        text, fraction = match.group(), match.group(1)
        digits = text.lstrip("-")
        if fraction is None:
            if len(digits) > 15:
                raise self.fail("integer longer than 15 digits")
            self.pos = match.end()
            return int(text)
        whole = digits.split(".", 1)[0]
        if len(whole) > 12 or not 1 <= len(fraction) - 1 <= 3:
            raise self.fail("decimal out of range")
        self.pos = match.end()
        return float(text)

    def string(self) -> str:
        # §4.2.5: printable ASCII, with only '\"' and '\\' as escapes.
        self.pos += 1
        parts: list[str] = []
        while True:
            run = _STRING_RUN.match(self.text, self.pos)
            assert run is not None
            parts.append(run.group())
            self.pos = run.end()
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(parts)
            if char == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if escaped not in ('"', "\\"):
                    raise self.fail("invalid escape in string")
                parts.append(escaped)
                self.pos += 2
                continue
            raise self.fail("unterminated string or invalid character in string")

    def byte_sequence(self) -> bytes:
        # §4.2.7: base64 (RFC 4648 §4); missing padding is tolerated, other errors are not.
        match = _BYTES.match(self.text, self.pos)
        if match is None:
            raise self.fail("invalid byte sequence")
        encoded = match.group(1)
        stripped = encoded.rstrip("=")
        if "=" in stripped or len(stripped) % 4 == 1:
            raise self.fail("invalid base64 in byte sequence")
        try:
            value = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
        except binascii.Error as exc:
            raise self.fail("invalid base64 in byte sequence") from exc
        self.pos = match.end()
        return value

    def boolean(self) -> bool:
        # §4.2.8
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("invalid boolean")
        self.pos += 2
        return value == "1"


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a Dictionary field value (RFC 8941 §4.2 with §4.2.2); members keep their order.

    Raises:
        StructuredFieldError: ``text`` is not a valid Dictionary (or repeats a key).
    """
    parser = _Parser(text)
    members = parser.dictionary()
    parser.skip(" ")
    if parser.pos != len(text):
        raise parser.fail("unexpected characters after dictionary")
    return members


# --- Serialisation (RFC 8941 §4.1) ----------------------------------------------------------------

_MAX_INTEGER = 999_999_999_999_999


def serialize_bare_item(value: BareItem) -> str:
    """Serialise one bare item (§4.1.3.1); raises StructuredFieldError when it cannot be one."""
    if isinstance(value, Token):  # before str: a Token is a str
        if _TOKEN.fullmatch(value) is None:
            raise StructuredFieldError(f"invalid token {value!r}")
        return str(value)
    if isinstance(value, str):
        return _serialize_string(value)
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "?1" if value else "?0"
    if isinstance(value, int):
        if not -_MAX_INTEGER <= value <= _MAX_INTEGER:
            raise StructuredFieldError("integer out of range")
        return str(value)
    if isinstance(value, float):
        rounded = round(value, 3)
        if not math.isfinite(rounded) or abs(rounded) >= 10**12:
            raise StructuredFieldError("decimal out of range")
        text = f"{rounded:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return ":" + base64.b64encode(value).decode("ascii") + ":"


def _serialize_string(value: str) -> str:
    # §4.1.6: printable ASCII (%x20-7E) only; '"' and '\' are escaped.
    if not (value.isascii() and value.isprintable()):
        raise StructuredFieldError("a string must be printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_key(key: str) -> str:
    if _KEY.fullmatch(key) is None:
        raise StructuredFieldError(f"invalid key {key!r}")
    return key


def _serialize_params(params: Params) -> str:
    return "".join(
        ";" + _serialize_key(key) + ("" if value is True else "=" + serialize_bare_item(value))
        for key, value in params
    )


def serialize_item(item: Item) -> str:
    """Serialise an Item with its Parameters (§4.1.3)."""
    return serialize_bare_item(item.value) + _serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an Inner List with its Parameters (§4.1.1.1)."""
    return (
        "("
        + " ".join(serialize_item(item) for item in inner.items)
        + ")"
        + _serialize_params(inner.params)
    )


def serialize_member(member: Member) -> str:
    """Serialise a Dictionary member value: an Item or an Inner List."""
    return serialize_inner_list(member) if isinstance(member, InnerList) else serialize_item(member)


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """Serialise a Dictionary (§4.1.2); a member whose value is Boolean true omits ``=?1``."""
    parts = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            parts.append(_serialize_key(key) + _serialize_params(member.params))
        else:
            parts.append(_serialize_key(key) + "=" + serialize_member(member))
    return ", ".join(parts)
