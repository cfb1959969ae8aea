"""The JSON door: a request body or target that a hostile client shaped costs little and gets a 4xx.

Rules :func:`parse_json` guarantees, before any schema looks at the data:

1. The body is UTF-8 (RFC 8259 §8.1) and one JSON text; anything else is ``malformed-request``
   (400). An integer of more than 4,300 digits is refused by Python's parser itself.
2. Arrays and objects nest at most :data:`MAX_DEPTH` levels (the API's deepest body has four).
   The parser is stopped by its own recursion guard long before it could exhaust the stack, and
   that is reported the same way.
3. No string — member names included — contains NUL or a lone surrogate: NUL cannot be stored
   in a PostgreSQL text column, and a lone surrogate cannot be encoded in UTF-8 (RFC 7493 §2.1,
   I-JSON). Member names are unique within an object (RFC 7493 §2.3).
4. Then the schema (:mod:`broker.api.schemas`) checks every array's length *before* its items
   and bounds every string by the database column it ends up in.

Rules 2 and 3 are checked on the JSON text, once the parser accepted it, with regular expressions
and string operations only (no Python loop over the values): a body of 2 MB costs about what
parsing it costs. In valid JSON, NUL and surrogates can only be written as ``\\u`` escapes, and
brackets outside strings are exactly the arrays and objects.

:func:`check_target` refuses NUL and other control characters in the path, the query and the
``X-Request-Id`` header before anything else reads them (an audit entry records the path).

Each refusal says where (``errors``: a field or the character position in the body, never the
offending value).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from broker.catalogue import Message
from broker.errors import BrokerError

MAX_DEPTH = 16
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")  # one pass removes exactly one level of nesting
_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_FORBIDDEN_ESCAPE = re.compile(
    rf"\\u0000|{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW}")  # NUL, or a surrogate without its pair


class MalformedRequest(BrokerError):
    """The request is not well-formed: not UTF-8 JSON, nested too deep, or a forbidden character."""

    code = "malformed-request"
    status = 400

    def __init__(self, message_id: str, where: str = "_body", **values: object) -> None:
        super().__init__(Message(message_id, **values))
        self.where = where


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object from its members, refusing a name given twice (RFC 7493 §2.3)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise MalformedRequest("An object names a member twice.")
    return members


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``, checked by rules 1 to 3 of the module docstring.

    Raises:
        MalformedRequest: the body breaks one of those rules.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The body is not UTF-8.") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise MalformedRequest("The body is not valid JSON.") from None
    _check(text)
    return value


def _too_deep() -> MalformedRequest:
    return MalformedRequest(
        "The body is nested more than %(max_depth)s levels deep.",
        max_depth=MAX_DEPTH)


def _check(text: str) -> None:
    """Rules 2 and 3 on the text of a body the JSON parser accepted."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        brackets = _INNERMOST.sub("", brackets)
    if brackets:
        raise _too_deep()
    if "\\u" not in text:
        return
    # Each escaped backslash (two backslashes in the text) becomes two harmless characters, so
    # that every backslash left starts an escape, and positions stay those of the body.
    found = _FORBIDDEN_ESCAPE.search(text.replace("\\\\", "__"))
    if found:
        raise MalformedRequest(
            "A text contains a NUL character or a lone surrogate (at character %(position)s of the "
            "body); remove it.",
            position=found.start() + 1)


def check_target() -> None:
    """Refuse control characters in the path, the query or ``X-Request-Id`` (before_request).

    Raises:
        MalformedRequest: one of them holds a control character.
    """
    parts = [("_path", request.path), ("X-Request-Id", request.headers.get("X-Request-Id", ""))]
    for name, value in request.args.items(multi=True):
        parts += [("_query", name), ("_query", value)]
    for where, text in parts:
        if _CONTROL.search(text):
            raise MalformedRequest(
                "The request target or X-Request-Id contains a control character.",
                where)
