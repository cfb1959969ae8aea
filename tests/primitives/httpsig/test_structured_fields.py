"""Tests for broker_primitives.httpsig.structured_fields: RFC 8941 Dictionaries as the
signatures use them."""

from __future__ import annotations

import pytest
from broker_primitives.httpsig import structured_fields as sf
from broker_primitives.httpsig.structured_fields import (
    BareItem,
    InnerList,
    Item,
    Member,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_bare_item,
    serialize_dictionary,
    serialize_inner_list,
    serialize_item,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# RFC 9421 Appendix B.2.6, the Signature-Input field (without RFC 8792 line wrapping).
B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)


def test_signature_input_of_rfc9421_b26_parses_and_serialises_back() -> None:
    members = parse_dictionary(B26_INPUT)
    inner = members["sig-b26"]
    assert isinstance(inner, InnerList)
    assert [item.value for item in inner.items] == [
        "date", "@method", "@path", "@authority", "content-type", "content-length",
    ]  # fmt: skip
    assert inner.params == (("created", 1618884473), ("keyid", "test-key-ed25519"))
    assert serialize_dictionary(members) == B26_INPUT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1", {"a": Item(1)}),
        ("a=-15", {"a": Item(-15)}),
        ("a=1.5", {"a": Item(1.5)}),
        ('a="x \\"y\\" \\\\z"', {"a": Item('x "y" \\z')}),
        ("a=tok/en:1", {"a": Item(Token("tok/en:1"))}),
        ("a=:aGVsbG8=:", {"a": Item(b"hello")}),
        ("a=:aGVsbG8:", {"a": Item(b"hello")}),  # §4.2.7: missing padding is tolerated
        ("a=?0, b", {"a": Item(False), "b": Item(True)}),
        ("b;x=1;y", {"b": Item(True, (("x", 1), ("y", True)))}),
        ("a=( 1  2 );p=?0", {"a": InnerList((Item(1), Item(2)), (("p", False),))}),
        ("a=()", {"a": InnerList(())}),
        ("  a=1 ,\tb=2  ", {"a": Item(1), "b": Item(2)}),
        ("", {}),
        ("*k.e_y-9=1", {"*k.e_y-9": Item(1)}),
    ],
)
def test_parses_rfc8941_dictionaries(text: str, expected: dict[str, Member]) -> None:
    assert parse_dictionary(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a=1,",  # trailing comma
        "a=1,,b=2",
        "A=1",  # keys are lower case
        "1a=1",
        "a=1 b=2",
        "a=1234567890123456",  # 16 digits
        "a=1.",
        "a=1.1234",
        "a=1234567890123.1",
        'a="unterminated',
        'a="bad \\n escape"',
        'a="tab\tinside"',
        "a=(1 2",
        "a=(1,2)",
        "a=:not base64!:",
        "a=:aGVsbG8=x:",
        "a=?2",
        "a=@1659578233",  # RFC 9651 Date: not part of RFC 8941
        "a=%\"caf%c3%a9\"",  # RFC 9651 Display String: refused too
        "a=1;b=2;b=3",  # duplicate parameter: refused on purpose
        "a=1, a=2",  # duplicate member: refused on purpose
        "a=é",
        "a=1 ;b",
    ],
)
def test_refuses_what_rfc8941_refuses_and_duplicates(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


@pytest.mark.parametrize(
    "value",
    [10**15, -(10**15), "new\nline", "é", Token("1abc"), Token("a b"), float("nan"), 1e12],
)
def test_serialiser_refuses_what_cannot_be_represented(value: BareItem) -> None:
    with pytest.raises(StructuredFieldError):
        serialize_bare_item(value)


def test_serialiser_refuses_an_invalid_key() -> None:
    with pytest.raises(StructuredFieldError):
        serialize_dictionary({"Sig": Item(1)})


def test_decimals_serialise_canonically() -> None:
    assert serialize_bare_item(1.0) == "1.0"
    assert serialize_bare_item(-0.1234) == "-0.123"
    assert serialize_bare_item(True) == "?1"


_keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,8}", fullmatch=True)
_bare = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1),
    st.integers(-(10**9), 10**9).map(lambda n: n / 1000),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]{0,8}", fullmatch=True).map(Token),
    st.binary(max_size=24),
    st.booleans(),
)
_params = st.dictionaries(_keys, _bare, max_size=3).map(lambda d: tuple(d.items()))
_items = st.builds(Item, _bare, _params)
_members = st.one_of(_items, st.builds(InnerList, st.lists(_items, max_size=4).map(tuple), _params))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _members, max_size=4))
def test_serialise_then_parse_gives_the_same_dictionary(members: dict[str, Member]) -> None:
    assert parse_dictionary(serialize_dictionary(members)) == members


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60) | st.text(alphabet='a=():;,"?*-19 \\@%xyzAB.', max_size=60))
def test_arbitrary_text_parses_or_raises_structured_field_error(text: str) -> None:
    try:
        members = parse_dictionary(text)
    except StructuredFieldError:
        return
    # What parses serialises to a canonical form that parses back to the same members.
    assert parse_dictionary(serialize_dictionary(members)) == members


# --- The direct paths agree with http-sf ----------------------------------------------------------
#
# The common shapes are parsed and plain values serialised without http-sf (module rule 5). Each
# must give exactly what http-sf gives, value types included (an Item(True) equals an Item(1) as a
# dataclass, so the comparisons below carry each value's type), and leave every refusal to it.


def _typed(value: object) -> object:
    if isinstance(value, dict):
        return [(key, _typed(member)) for key, member in value.items()]
    if isinstance(value, InnerList):
        return ("inner", [_typed(item) for item in value.items], _typed(value.params))
    if isinstance(value, Item):
        return ("item", _typed(value.value), _typed(value.params))
    if isinstance(value, tuple):
        return [(key, _typed(item)) for key, item in value]
    return (type(value).__name__, value)


def _outcome(function: object, *args: object) -> object:
    try:
        return _typed(function(*args))  # type: ignore[operator]
    except StructuredFieldError as error:
        return ("refused", str(error))


_common_strings = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_common_values = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1), _common_strings, st.just(True),
    st.integers(10**15, 10**16),  # out of range: http-sf refuses
)
_common_params = st.lists(st.tuples(_keys | st.sampled_from(["A", "k"]), _common_values),
                          max_size=3).map(tuple)
_common_members = st.one_of(
    st.builds(Item, st.binary(max_size=40)),
    st.builds(InnerList, st.lists(st.builds(Item, _common_strings, _common_params),
                                  max_size=5).map(tuple), _common_params),
)


def _sf_text(key: str, member: Member) -> str:
    try:
        return sf._serialise({key: sf._sf_member(member)})
    except StructuredFieldError:
        return f"{key}=()"


@settings(max_examples=600, deadline=None)
@given(_keys, _common_members, st.integers(0, 200), st.sampled_from(list(' =():;,"?*-19\\=+/A')),
       st.booleans())
def test_the_direct_parse_of_common_shapes_agrees_with_http_sf(
    key: str, member: Member, where: int, char: str, mutate: bool
) -> None:
    text = _sf_text(key, member)
    if mutate:  # a near miss: one character more somewhere
        where %= len(text) + 1
        text = text[:where] + char + text[where:]
    expected = _outcome(sf._parse_dictionary_sf, text)
    direct = sf._parse_common_dictionary(text)
    if direct is not None:
        assert _typed(direct) == expected
    assert _outcome(parse_dictionary, text) == expected


_any_bare = st.one_of(
    _bare, st.integers(), st.text(max_size=6), st.text(max_size=6).map(Token),
    st.sampled_from([Token(""), Token("1a"), float("nan"), 1e15]),
)
_any_params = st.lists(st.tuples(_keys | st.text(max_size=3), _any_bare), max_size=3).map(tuple)
_any_items = st.builds(Item, _any_bare, _any_params)
_any_members = st.one_of(
    _any_items, st.builds(InnerList, st.lists(_any_items, max_size=3).map(tuple), _any_params))


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(_keys | st.text(max_size=3), _any_members, max_size=3))
def test_the_direct_serialisers_agree_with_http_sf(members: dict[str, Member]) -> None:
    def by_http_sf(structure: object) -> object:
        try:
            return sf._serialise(structure() if callable(structure) else structure)
        except StructuredFieldError as error:
            return ("refused", str(error))

    def ours(function: object, *args: object) -> object:
        try:
            return function(*args)  # type: ignore[operator]
        except StructuredFieldError as error:
            return ("refused", str(error))

    if members:
        assert ours(serialize_dictionary, members) == by_http_sf(
            lambda: {key: sf._sf_member(member) for key, member in members.items()})
    for member in members.values():
        if isinstance(member, InnerList):
            expected = by_http_sf(lambda m=member: {"x": sf._sf_member(m)})
            assert ours(serialize_inner_list, member) == (
                expected[2:] if isinstance(expected, str) else expected)
        else:
            assert ours(serialize_item, member) == by_http_sf(lambda m=member: sf._sf_member(m))
            assert ours(serialize_bare_item, member.value) == by_http_sf(
                lambda m=member: (sf._sf_bare(m.value), {}))
