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
- Speed without a second algorithm: the shapes the signature layer meets on every message (a
  Dictionary of one Byte Sequence, or of one Inner List of Strings with Integer, String or
  Boolean-true parameters, written canonically) are parsed by a short path that first matches
  the whole value against a strict pattern of that shape; Items, Inner Lists and Dictionaries of
  plain Integers, Strings, Tokens, Byte Sequences and Booleans are serialised directly. Anything
  else (another shape, a Decimal, a value to refuse, spaces that the canonical form lacks) goes
  through ``http-sf`` exactly as before, so every refusal and its message is ``http-sf``'s. The
  tests compare both paths on generated values.
"""

from __future__ import annotations

import base64
import binascii
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
    "serialize_parameters",
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
    fast = _parse_common_dictionary(text)
    if fast is not None:
        return fast
    return _parse_dictionary_sf(text)


def _parse_dictionary_sf(text: str) -> dict[str, Member]:
    """:func:`parse_dictionary` by ``http-sf``, for any ASCII ``text``."""
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


# --- The common shapes, parsed directly -----------------------------------------------------------
#
# A Dictionary of one member, in canonical form (no optional spaces): a Byte Sequence without
# parameters (Signature, Content-Digest), or an Inner List of Strings (Signature-Input) whose items
# and list carry Integer, String or Boolean-true parameters; Strings without an escape. The whole
# value must match one strict pattern of that shape first, so the pieces found in it afterwards
# (items, parameters) are exactly the grammar's; anything else returns None and goes to http-sf.

_KEY_RE = r"[a-z*][a-z0-9_\-.*]*"
_STRING_RE = r'"[ !#-\[\]-~]*"'  # printable ASCII but '"' and '\'
_PARAM_RE = rf";{_KEY_RE}(?:=(?:-?[0-9]{{1,15}}|{_STRING_RE}))?"
_ITEM_RE = rf"{_STRING_RE}(?:{_PARAM_RE})*"
_COMMON_BYTES = re.compile(rf"({_KEY_RE})=:([A-Za-z0-9+/]*=*):")
_COMMON_INNER = re.compile(
    rf"({_KEY_RE})=\(((?:{_ITEM_RE})(?: {_ITEM_RE})*)?\)((?:{_PARAM_RE})*)")
_ITEMS = re.compile(rf'"([ !#-\[\]-~]*)"((?:{_PARAM_RE})*)')
_PARAMS = re.compile(rf";({_KEY_RE})(?:=(-?[0-9]+|{_STRING_RE}))?")


def _parse_common_dictionary(text: str) -> dict[str, Member] | None:
    """The Dictionary of one of the common shapes above, or None for http-sf to parse."""
    if (match := _COMMON_INNER.fullmatch(text)) is not None:
        items = []
        for item in _ITEMS.finditer(match.group(2) or ""):
            params = _common_params(item.group(2))
            if params is None:
                return None
            items.append(Item(item.group(1), params))
        params = _common_params(match.group(3))
        return None if params is None else {match.group(1): InnerList(tuple(items), params)}
    if (match := _COMMON_BYTES.fullmatch(text)) is not None:
        value = _byte_sequence(match.group(2))
        return None if value is None else {match.group(1): Item(value)}
    return None


def _common_params(text: str) -> Params | None:
    """The parameters ``text`` (matched whole by a pattern above) lists; None when one repeats
    a key (http-sf refuses that, and is left to say so)."""
    if not text:
        return ()
    found = _PARAMS.findall(text)
    if len(found) > 1 and len({name for name, _ in found}) != len(found):
        return None
    return tuple((name, True if not raw else raw[1:-1] if raw[0] == '"' else int(raw))
                 for name, raw in found)


def _byte_sequence(encoded: str) -> bytes | None:
    """RFC 9651 §4.2.7 as http-sf reads it (padding optional, at most two, after data); None
    where http-sf would refuse, so that its refusal is raised."""
    unpadded = encoded.rstrip("=")
    padding = len(encoded) - len(unpadded)
    if padding > 2 or (padding and not unpadded):
        return None
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error:
        return None


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


class _Uncommon(Exception):
    """A value the direct serialiser leaves to http-sf (a Decimal, or one to refuse)."""


_MAX_INTEGER = 999_999_999_999_999
_KEY = re.compile(_KEY_RE)
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*")


def _direct_bare(value: BareItem) -> str:
    """§4.1.3.1 for an exact Integer, String, Token, Byte Sequence or Boolean that is valid."""
    if type(value) is str:
        if value.isascii() and value.isprintable():  # %x20-7E
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif type(value) is bool:
        return "?1" if value else "?0"
    elif type(value) is int:
        if -_MAX_INTEGER <= value <= _MAX_INTEGER:
            return str(value)
    elif type(value) is Token:
        if _TOKEN.fullmatch(value):
            return str.__str__(value)
    elif type(value) is bytes:
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise _Uncommon


def _direct_params(params: Params) -> str:
    if not params:
        return ""
    if len(params) > 1 and len({key for key, _ in params}) != len(params):
        raise _Uncommon  # http-sf keeps the first position with the last value
    parts = []
    for key, value in params:
        if type(key) is not str or _KEY.fullmatch(key) is None:
            raise _Uncommon
        parts.append(";" + key if value is True else ";" + key + "=" + _direct_bare(value))
    return "".join(parts)


def _direct_item(item: Item) -> str:
    return _direct_bare(item.value) + _direct_params(item.params)


def _direct_inner_list(inner: InnerList) -> str:
    return "(" + " ".join([_direct_item(item) for item in inner.items]) + ")" + _direct_params(
        inner.params)


def serialize_bare_item(value: BareItem) -> str:
    """Serialise one bare item (§4.1.3.1); raises StructuredFieldError when it cannot be one."""
    try:
        return _direct_bare(value)
    except _Uncommon:
        return _serialise((_sf_bare(value), {}))


def serialize_item(item: Item) -> str:
    """Serialise an Item with its Parameters (§4.1.3)."""
    try:
        return _direct_item(item)
    except _Uncommon:
        return _serialise(_sf_member(item))


def serialize_inner_list(inner: InnerList) -> str:
    """Serialise an Inner List with its Parameters (§4.1.1.1)."""
    try:
        return _direct_inner_list(inner)
    except _Uncommon:
        return _serialise({"x": _sf_member(inner)})[2:]


def serialize_parameters(params: Params) -> str:
    """Serialise Parameters (§4.1.1.2), as they follow an Item or an Inner List."""
    try:
        return _direct_params(params)
    except _Uncommon:
        return _serialise((True, _sf_params(params)))[2:]  # "?1" and the parameters


def serialize_member(member: Member) -> str:
    """Serialise a Dictionary member value: an Item or an Inner List."""
    return serialize_inner_list(member) if isinstance(member, InnerList) else serialize_item(member)


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """Serialise a Dictionary (§4.1.2); a member whose value is Boolean true omits ``=?1``."""
    if not members:
        return ""
    try:
        parts = []
        for key, member in members.items():
            if type(key) is not str or _KEY.fullmatch(key) is None:
                raise _Uncommon
            if isinstance(member, InnerList):
                parts.append(key + "=" + _direct_inner_list(member))
            elif member.value is True:
                parts.append(key + _direct_params(member.params))
            else:
                parts.append(key + "=" + _direct_item(member))
        return ", ".join(parts)
    except _Uncommon:
        return _serialise({key: _sf_member(member) for key, member in members.items()})
