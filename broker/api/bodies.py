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

:func:`check_target` refuses NUL and other control characters in the path, the query and the
``X-Request-Id`` header before anything else reads them (an audit entry records the path).

Each refusal says where (``errors``: the field path, never the offending value).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from broker.errors import BrokerError

MAX_DEPTH = 16
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class MalformedRequest(BrokerError):
    """The request is not well-formed: not UTF-8 JSON, nested too deep, or a forbidden character."""

    code = "malformed-request"
    status = 400

    def __init__(self, message_en: str, message_nl: str, where: str = "_body") -> None:
        super().__init__(message_en, message_nl)
        self.where = where


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object from its members, refusing a name given twice (RFC 7493 §2.3)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise MalformedRequest("An object names a member twice.",
                               "Een object noemt een veld twee keer.")
    return members


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``, checked by rules 1 to 3 of the module docstring.

    Raises:
        MalformedRequest: the body breaks one of those rules.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The body is not UTF-8.", "De inhoud is geen UTF-8.") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise MalformedRequest("The body is not valid JSON.",
                               "De inhoud is geen geldige JSON.") from None
    _check(value)
    return value


def _too_deep() -> MalformedRequest:
    return MalformedRequest(f"The body is nested more than {MAX_DEPTH} levels deep.",
                            f"De inhoud is dieper dan {MAX_DEPTH} niveaus genest.")


def _forbidden(where: str) -> MalformedRequest:
    return MalformedRequest(
        "A text contains a NUL character or a lone surrogate; remove it.",
        "Een tekst bevat een NUL-teken of een losse surrogaat; verwijder het.",
        where,
    )


Where = tuple[Any, str | int] | None  # (the parent's Where, the member name or index)


def _render(where: Where) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(str(key))
    return ".".join(reversed(parts)) or "_body"


def _check(root: Any) -> None:
    """Rules 2 and 3, iteratively (no recursion), each container once."""
    if isinstance(root, str):
        if _FORBIDDEN.search(root):
            raise _forbidden("_body")
        return
    if not isinstance(root, dict | list):
        return
    stack: list[tuple[dict[str, Any] | list[Any], int, Where]] = [(root, 1, None)]
    while stack:
        container, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        members = container.items() if isinstance(container, dict) else enumerate(container)
        for key, member in members:
            if isinstance(key, str) and _FORBIDDEN.search(key):
                raise _forbidden(_render(where))
            if isinstance(member, str):
                if _FORBIDDEN.search(member):
                    raise _forbidden(_render((where, key)))
            elif isinstance(member, dict | list):
                stack.append((member, depth + 1, (where, key)))


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
                "Het adres van het verzoek of X-Request-Id bevat een stuurteken.", where)
