"""Structured Field Values for HTTP (RFC 8941 / RFC 9651), the part the signature layer needs.

The broker reads three structured fields: ``Signature-Input`` and ``Signature`` (RFC 9421 §4) and
``Content-Digest`` (RFC 9530 §2). All three are Dictionaries (RFC 8941 §3.2). This module gives
them to the signature layer as small typed values (:class:`Item`, :class:`InnerList`, with
Parameters in order) over the bare item types of RFC 8941 §3.3: Integer, Decimal, String, Token,
Byte Sequence and Boolean. The parsing and serialising algorithms themselves are the maintained
``http-sf`` library's (Mark Nottingham's, tested against the HTTP WG's test suite); this module
only adapts its values and adds the strictness below.

Rules this module guarantees:

- Parsing follows the algorithms of RFC 8941 §4.2; any input they reject raises
  :class:`StructuredFieldError` (a ``ValueError``), and nothing else escapes for any ``str`` input.
  The two types RFC 9651 added (Date, Display String) are refused: no field the broker reads uses
  them, and a verifier should not accept what a signer cannot have meant.
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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

import http_sf

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


# --- Adapting http-sf's values ------------------------------------------------------------------

_SF_TOKEN_START = re.compile(r"[A-Za-z*]")


def _refuse_duplicate(key: str, context: str) -> NoReturn:
    # RFC 8941 lets the last one win; for signatures a repeated key is smuggling (module rule 2).
    raise StructuredFieldError(f"repeated key {key!r} in a {context}")


def _bare(value: Any) -> BareItem:
    if isinstance(value, bool | int | bytes):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, http_sf.Token):
        return Token(str(value))
    if type(value) is str:
        return value
    raise StructuredFieldError("a Date or Display String is not accepted here")


def _params(params: Mapping[str, Any]) -> Params:
    return tuple((key, _bare(value)) for key, value in params.items())


def _member(value: Any) -> Member:
    inner, params = value
    if isinstance(inner, list):
        return InnerList(tuple(Item(_bare(item), _params(p)) for item, p in inner), _params(params))
    return Item(_bare(inner), _params(params))


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a Dictionary field value (RFC 8941 §4.2 with §4.2.2); members keep their order.

    Raises:
        StructuredFieldError: ``text`` is not a valid Dictionary (or repeats a key).
    """
    if not text.isascii():
        raise StructuredFieldError("a structured field is ASCII")
    try:
        parsed = http_sf.parse(text.encode("ascii"), tltype="dictionary",
                               on_duplicate_key=_refuse_duplicate)
    except StructuredFieldError:
        raise
    except ValueError as error:  # http-sf's StructuredFieldError is a ValueError
        raise StructuredFieldError(str(error)) from None
    if not isinstance(parsed, dict):  # pragma: no cover - tltype="dictionary" gives a dict
        raise StructuredFieldError("not a dictionary")
    return {key: _member(value) for key, value in parsed.items()}


# --- Serialisation (RFC 8941 §4.1) ----------------------------------------------------------------


def _sf_bare(value: BareItem) -> Any:
    if isinstance(value, Token):  # before str: a Token is a str
        if not value or _SF_TOKEN_START.match(value) is None:
            raise StructuredFieldError(f"invalid token {value!r}")
        return http_sf.Token(str(value))
    if isinstance(value, str) and not value.isprintable():
        raise StructuredFieldError("a string must be printable ASCII")
    return value


def _sf_params(params: Params) -> dict[str, Any]:
    return {key: _sf_bare(value) for key, value in params}


def _sf_member(member: Member) -> Any:
    if isinstance(member, InnerList):
        return ([(_sf_bare(i.value), _sf_params(i.params)) for i in member.items],
                _sf_params(member.params))
    return (_sf_bare(member.value), _sf_params(member.params))


def _serialise(structure: Any) -> str:
    try:
        return http_sf.ser(structure)
    except ValueError as error:
        raise StructuredFieldError(str(error)) from None


def serialize_bare_item(value: BareItem) -> str:
    """Serialise one bare item (§4.1.3.1); raises StructuredFieldError when it cannot be one."""
    return _serialise((_sf_bare(value), {}))


def serialize_item(item: Item) -> str:
    """Serialise an Item with its Parameters (§4.1.3)."""
    return _serialise(_sf_member(item))


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an Inner List with its Parameters (§4.1.1.1)."""
    return serialize_dictionary({"x": inner})[2:]


def serialize_member(member: Member) -> str:
    """Serialise a Dictionary member value: an Item or an Inner List."""
    return serialize_inner_list(member) if isinstance(member, InnerList) else serialize_item(member)


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """Serialise a Dictionary (§4.1.2); a member whose value is Boolean true omits ``=?1``."""
    if not members:
        return ""
    return _serialise({key: _sf_member(member) for key, member in members.items()})
