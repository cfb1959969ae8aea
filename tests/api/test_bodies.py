"""The JSON door's text checks (broker.api.bodies), against a plain walk over the parsed value."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.api.bodies import MAX_DEPTH, MalformedRequest, parse_json

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


def refused_by_walking(value: Any, depth: int = 0) -> bool:
    """The rules said plainly: too deep, or NUL or a lone surrogate in any string or name."""
    if isinstance(value, str):
        return _FORBIDDEN.search(value) is not None
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return True
        members = value.items() if isinstance(value, dict) else enumerate(value)
        return any((isinstance(key, str) and refused_by_walking(key))
                   or refused_by_walking(member, depth + 1) for key, member in members)
    return False


def refused(raw: bytes) -> bool:
    """Whether parse_json refuses ``raw``."""
    try:
        parse_json(raw)
    except MalformedRequest:
        return True
    return False


@pytest.mark.parametrize(("raw", "expected"), [
    (rb'["\ud83d\ude00"]', False),  # a surrogate pair is one character
    (rb'["\uDBFF\uDFFF"]', False),
    (rb'["\\ud800"]', False),  # an escaped backslash, then the letters "ud800"
    (rb'["\\\ud800"]', True),  # an escaped backslash, then a lone surrogate
    (rb'["\ud800\\\udc00"]', True),  # two lone surrogates around a backslash
    (rb'["\udc00\ud800"]', True),  # the wrong order
    (rb'{"\u0000": 1}', True),
    (rb'["\u0000"]', True),
    (rb'["\\u0000"]', False),
    (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, False),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),
    (b'{"a": [{"b": [[]]}], "c": "' + b"[" * 40 + b'"}', False),  # brackets in a string
    (b'{"a": 1, "a": 2}', True),
    (b"\xff", True),
    (b"[1,]", True),
])
def test_cases(raw: bytes, expected: bool) -> None:
    assert refused(raw) is expected


_characters = st.characters() | st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\\",
                                                  "u", "d", "8", '"'])
_text = st.text(_characters, max_size=12)
_json = st.recursive(st.none() | st.integers() | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=60)


@settings(max_examples=600, deadline=None)
@given(value=_json | st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2).map(
    lambda depth: json.loads("[" * depth + "]" * depth)))
def test_the_text_checks_agree_with_walking_the_value(value: Any) -> None:
    text = json.dumps(value)  # ASCII: every surrogate and NUL as a \\u escape
    assert refused(text.encode()) is refused_by_walking(json.loads(text))
