"""Tests for broker_primitives.identifiers: every rule of the module docstring and every
refusal code."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import cast

import pytest
from broker_primitives.identifiers import (
    _MESSAGES,
    _NAME_PREFIXES,
    MAX_INPUT_LENGTH,
    ErrorKind,
    Identifier,
    IdentifierError,
    address_from_parts,
    parse,
    parse_address,
    parse_bsn,
    parse_household,
    parse_person,
    person_from_parts,
)
from hypothesis import given
from hypothesis import strategies as st

TODAY = datetime.date(2024, 6, 1)
WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def passes_eleven_test(digits: str) -> bool:
    """The BSN rule, written independently of the module."""
    return sum(w * int(d) for w, d in zip(WEIGHTS, digits, strict=True)) % 11 == 0


def person(name: str, initial: str = "J", born: str = "1980-02-03") -> str:
    """The canonical person string for the given fields."""
    return person_from_parts(name, initial, born, today=TODAY).canonical


def assert_not_echoed(err: IdentifierError, raw: str) -> None:
    """No text the error can show contains the raw input."""
    for text in (err.message_nl, err.message_en, str(err), repr(err), *map(str, err.args)):
        assert raw not in text


# --- every refusal code ------------------------------------------------------------------------

REFUSALS: list[tuple[Callable[[], object], str, str]] = [
    (lambda: parse_bsn(""), "bsn.empty", ""),
    (lambda: parse_bsn(" . "), "bsn.empty", ""),
    (lambda: parse_bsn("1" * (MAX_INPUT_LENGTH + 1)), "bsn.too_long", "1" * 300),
    (lambda: parse_bsn("12345678a"), "bsn.characters", "12345678a"),
    (lambda: parse_bsn("123-456-782"), "bsn.characters", "123-456-782"),
    (lambda: parse_bsn("١٢٣٤٥٦٧٨٢"), "bsn.characters", "١٢٣٤٥٦٧٨٢"),  # Arabic-Indic digits
    (lambda: parse_bsn("1234567"), "bsn.length", "1234567"),
    (lambda: parse_bsn("1234567820"), "bsn.length", "1234567820"),
    (lambda: parse_bsn("000000000"), "bsn.zero", "000000000"),
    (lambda: parse_bsn("00000000"), "bsn.zero", "00000000"),
    (lambda: parse_bsn("123456789"), "bsn.checksum", "123456789"),
    (lambda: parse_address("  "), "address.empty", ""),
    (lambda: address_from_parts(" ", "12"), "address.empty", ""),
    (lambda: parse_address("1234 AB " + "1" * 300), "address.too_long", "1" * 300),
    (lambda: address_from_parts("9876QX", "1", "X" * 300), "address.too_long", "X" * 300),
    (lambda: parse_address("123 AB 12"), "address.postcode_format", "123 AB 12"),
    (lambda: parse_address("9876 QXZ 12"), "address.postcode_format", "9876 QXZ 12"),
    (lambda: parse_address("Dorpsstraat 12"), "address.postcode_format", "Dorpsstraat"),
    (lambda: address_from_parts("9876Q1", "12"), "address.postcode_format", "9876Q1"),
    (lambda: address_from_parts("98765QX", "12"), "address.postcode_format", "98765QX"),
    (lambda: parse_address("0876 QX 12"), "address.postcode_range", "0876 QX 12"),
    (lambda: parse_address("9876 SA 12"), "address.postcode_letters", "9876 SA 12"),
    (lambda: parse_address("9876 sd 12"), "address.postcode_letters", "9876 sd 12"),
    (lambda: address_from_parts("9876 ss", 12), "address.postcode_letters", "9876 ss"),
    (lambda: parse_address("9876 QX"), "address.house_number_missing", "9876 QX"),
    (lambda: address_from_parts("9876QX", " "), "address.house_number_missing", "9876QX"),
    (lambda: parse_address("9876 QX A12"), "address.house_number_format", "9876 QX A12"),
    (lambda: address_from_parts("9876QX", "12A"), "address.house_number_format", "12A"),
    (lambda: address_from_parts("9876QX", True), "address.house_number_format", "9876QX"),
    (lambda: parse_address("9876 QX 0"), "address.house_number_range", "9876 QX 0"),
    (lambda: parse_address("9876 QX 100000"), "address.house_number_range", "9876 QX 100000"),
    (lambda: address_from_parts("9876QX", "0001000000"), "address.house_number_range", "1000000"),
    (lambda: address_from_parts("9876QX", -5), "address.house_number_range", "9876QX"),
    (lambda: parse_address("9876 QX 12 ABCDE"), "address.addition", "ABCDE"),
    (lambda: parse_address("9876 QX 12 A!"), "address.addition", "9876 QX 12 A!"),
    (lambda: address_from_parts("9876QX", 12, "Ä"), "address.addition", "9876QX"),
    (lambda: parse_person(""), "person.empty", ""),
    (lambda: parse_person("x" * 300), "person.too_long", "x" * 300),
    (lambda: parse_person("Zwanenburg;J"), "person.format", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg;J;1980-02-03;x"), "person.format", "Zwanenburg"),
    (lambda: parse_person(" ;J;1980-02-03"), "person.family_name_empty", ""),
    (lambda: parse_person("'-;J;1980-02-03"), "person.family_name_empty", ""),
    (lambda: parse_person(", van der;J;1980-02-03"), "person.family_name_empty", ""),
    (lambda: parse_person("Zwanenburg3;J;1980-02-03"), "person.family_name", "Zwanenburg3"),
    (lambda: parse_person("Zwanen.burg;J;1980-02-03"), "person.family_name", "Zwanen.burg"),
    (lambda: parse_person("Иванов;J;1980-02-03"), "person.family_name", "Иванов"),
    (lambda: parse_person("Zwanenburg, Jan;J;1980-02-03"), "person.prefix", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg, van, de;J;1980-02-03"), "person.prefix", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg; ;1980-02-03"), "person.initial", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg;7;1980-02-03"), "person.initial", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg;.J;1980-02-03"), "person.initial", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg;J;03-02-1980"), "person.birth_date_format", "03-02-1980"),
    (lambda: parse_person("Zwanenburg;J;1980-2-3"), "person.birth_date_format", "1980-2-3"),
    (lambda: parse_person("Zwanenburg;J;"), "person.birth_date_format", "Zwanenburg"),
    (lambda: parse_person("Zwanenburg;J;1981-02-29"), "person.birth_date_invalid", "1981-02-29"),
    (lambda: parse_person("Zwanenburg;J;1980-13-01"), "person.birth_date_invalid", "1980-13-01"),
    (lambda: parse_person("Zwanenburg;J;1980-04-31"), "person.birth_date_invalid", "1980-04-31"),
    (lambda: parse_person("Zwanenburg;J;1980-00-10"), "person.birth_date_invalid", "1980-00-10"),
    (lambda: parse_person("Zwanenburg;J;2999-01-01"), "person.birth_date_future", "2999-01-01"),
    (lambda: parse_person("Zwanenburg;J;1899-12-31"), "person.birth_date_too_early", "1899-12-31"),
    (lambda: parse_person("Zwanenburg;J;0000-01-01"), "person.birth_date_too_early", "0000-01-01"),
    (lambda: parse("iban", "NL91ABNA0417164300"), "kind.unknown", "NL91ABNA0417164300"),
    (lambda: parse("BSN", "123456782"), "kind.unknown", "123456782"),
    (parse_household, "kind.none", ""),
]


@pytest.mark.parametrize(("call", "code", "raw"), REFUSALS, ids=[c for _, c, _ in REFUSALS])
def test_refusal_has_code_and_messages_without_input(
    call: Callable[[], object], code: str, raw: str
) -> None:
    with pytest.raises(IdentifierError) as caught:
        call()
    err = caught.value
    assert err.code == code
    assert err.code.startswith(f"{err.kind}.")
    assert err.__cause__ is None
    assert err.__context__ is None
    if raw:
        assert_not_echoed(err, raw)


def test_every_code_is_tested() -> None:
    assert {code for _, code, _ in REFUSALS} == set(_MESSAGES)


@pytest.mark.parametrize("code", sorted(_MESSAGES))
def test_messages_exist_in_both_languages_and_differ(code: str) -> None:
    err = IdentifierError(cast(ErrorKind, code.partition(".")[0]), code)
    assert err.message_nl.strip()
    assert err.message_en.strip()
    assert err.message_nl != err.message_en
    assert str(err) == err.message_en


def test_message_language_choice() -> None:
    err = IdentifierError("bsn", "bsn.checksum")
    assert err.message("nl") == "Het BSN voldoet niet aan de elfproef; controleer de cijfers."
    assert err.message("en") == "The BSN fails the eleven-test (11-proef); check the digits."
    assert err.message("EN-gb") == err.message("en_US") == err.message_en
    assert err.message("de") == err.message("") == err.message_nl
    assert isinstance(err, ValueError)


def test_non_text_input_is_a_programming_error_that_does_not_show_the_value() -> None:
    with pytest.raises(TypeError) as caught:
        parse_bsn(123456782)  # type: ignore[arg-type]
    assert "123456782" not in str(caught.value)


# --- Identifier --------------------------------------------------------------------------------


def test_identifier_never_shows_its_value() -> None:
    ident = parse_bsn("123456782")
    for text in (repr(ident), str(ident), f"{ident}", f"{ident!r}", repr([ident])):
        assert "123456782" not in text
    assert repr(ident) == str(ident) == "<Identifier bsn ***>"
    assert repr(parse_address("9876 QX 1")) == "<Identifier address ***>"


def test_identifier_properties() -> None:
    bsn = parse_bsn("123456782")
    assert bsn.kind == "bsn"
    assert bsn.canonical == "bsn|123456782"
    assert bsn.tagged_bytes == b"bsn|123456782"
    assert bsn.category == "person"
    assert parse_person("Zwanenburg;J;1980-02-03").category == "person"
    assert parse_address("9876 QX 1").category == "address"
    assert bsn == parse_bsn("12345.6782") and hash(bsn) == hash(parse_bsn("123 456 782"))
    with pytest.raises(AttributeError):
        bsn.canonical = "bsn|111222333"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "canonical"),
    [
        ("bsn", "123456782"),
        ("bsn", "address|9876QX|1|"),
        ("address", "address|9876qx|1|"),
        ("address", "address|9876QX|0|"),
        ("person", "person|Vries||j|1980-02-03"),
        ("person", "person|vries|van der|j|1980-02-03|"),
        ("iban", "iban|NL91"),
    ],
)
def test_identifier_refuses_a_value_that_is_not_canonical(kind: str, canonical: str) -> None:
    with pytest.raises(ValueError, match="shape") as caught:
        Identifier(kind, canonical)  # type: ignore[arg-type]
    assert canonical not in str(caught.value)


# --- BSN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("111222333", "bsn|111222333"),
        ("123456782", "bsn|123456782"),
        (" 1234.56.782 ", "bsn|123456782"),
        ("123 456 782", "bsn|123456782"),
        ("\t123456782\n", "bsn|123456782"),
        ("11222335", "bsn|011222335"),  # 8 digits: a leading zero is added
    ],
)
def test_bsn_accepted(raw: str, canonical: str) -> None:
    assert parse_bsn(raw).canonical == canonical
    assert parse("bsn", raw).canonical == canonical


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_bsn_accepted_exactly_when_eleven_test_passes_and_not_zero(digits: str) -> None:
    valid = passes_eleven_test(digits) and digits != "000000000"
    if valid:
        ident = parse_bsn(digits)
        assert ident.canonical == f"bsn|{digits}"
        assert parse_bsn(ident.canonical.removeprefix("bsn|")) == ident
    else:
        with pytest.raises(IdentifierError) as caught:
            parse_bsn(digits)
        assert caught.value.code in {"bsn.checksum", "bsn.zero"}
        assert_not_echoed(caught.value, digits)


def with_check_digit(first_eight: str) -> str:
    """Complete 8 digits to a BSN; empty when no ninth digit passes the 11-test."""
    check = sum(w * int(d) for w, d in zip(WEIGHTS, first_eight, strict=False)) % 11
    return first_eight + str(check) if check < 10 else ""


VALID_BSN = (
    st.text(alphabet="0123456789", min_size=8, max_size=8)
    .map(with_check_digit)
    .filter(lambda digits: digits not in {"", "000000000"})
)


@given(VALID_BSN, st.lists(st.sampled_from(["", " ", ".", "  ", ". "]), min_size=10, max_size=10))
def test_bsn_spaces_and_dots_do_not_matter(digits: str, separators: list[str]) -> None:
    assert passes_eleven_test(digits)
    spaced = "".join(sep + d for sep, d in zip(separators, digits + " ", strict=True))
    assert parse_bsn(spaced) == parse_bsn(digits)


@given(st.text(alphabet="0123456789 .x", min_size=5, max_size=40))
def test_bsn_errors_never_contain_the_input(raw: str) -> None:
    try:
        parse_bsn(raw)
    except IdentifierError as err:
        assert_not_echoed(err, raw.strip())


# --- address -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "1234 AB 12 A",
        "1234ab 12-a",
        "1234 AB 12A",
        "1234AB 12 a",
        "1234 ab 12/A",
        " 1234  aB 12 - a ",
    ],
)
def test_address_variants_agree(raw: str) -> None:
    assert parse_address(raw).canonical == "address|1234AB|12|A"
    assert parse("address", raw) == address_from_parts("1234 ab", 12, "a")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1234AB 12 bis", "address|1234AB|12|BIS"),
        ("1234AB12", "address|1234AB|12|"),
        ("1234 AB 12", "address|1234AB|12|"),
        ("1000 AA 1", "address|1000AA|1|"),
        ("9999 ZZ 99999", "address|9999ZZ|99999|"),
        ("1234 AB 012", "address|1234AB|12|"),
        ("1234 AB 12-3", "address|1234AB|12|3"),
        ("1234 AB 12 A-1", "address|1234AB|12|A1"),
        ("1234 AB 12 hs", "address|1234AB|12|HS"),
    ],
)
def test_address_accepted(raw: str, canonical: str) -> None:
    assert parse_address(raw).canonical == canonical


@pytest.mark.parametrize(
    ("parts", "canonical"),
    [
        (("1234ab", 12), "address|1234AB|12|"),
        (("1234 AB", "12", None), "address|1234AB|12|"),
        (("1234 AB", "12", ""), "address|1234AB|12|"),
        ((" 1234  ab ", " 12 ", " -a "), "address|1234AB|12|A"),
        (("1234AB", 12, "bis"), "address|1234AB|12|BIS"),
        (("1234AB", 12, "/2"), "address|1234AB|12|2"),
    ],
)
def test_address_from_parts(parts: tuple[str, str | int, str | None], canonical: str) -> None:
    assert address_from_parts(*parts).canonical == canonical


POSTCODE_LETTERS = (
    st.tuples(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    )
    .map("".join)
    .filter(lambda pair: pair not in {"SA", "SD", "SS"})
)


def random_case(text: str, flips: list[bool]) -> str:
    """Swap the case of the characters where ``flips`` (repeated as needed) says so."""
    return "".join(ch.swapcase() if flips[i % len(flips)] else ch for i, ch in enumerate(text))


@st.composite
def address_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """One way a person may type a valid address, and the canonical form it must give."""
    postcode = f"{draw(st.integers(1000, 9999))}{draw(POSTCODE_LETTERS)}"
    number = draw(st.integers(1, 99999))
    addition = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=4))
    # Without a separator an addition that starts with a digit would read as part of the number.
    separators = ["-", "/", " ", " - "] + ([] if addition[:1].isdigit() else [""])
    raw = (
        postcode[:4]
        + draw(st.sampled_from(["", " ", "  "]))
        + postcode[4:]
        + draw(st.sampled_from(["", " ", "\t"]))
        + str(number)
        + draw(st.sampled_from(separators))
        + addition
    )
    flips = draw(st.lists(st.booleans(), min_size=1, max_size=30))
    return random_case(raw, flips), f"address|{postcode}|{number}|{addition}"


@given(address_spellings())
def test_address_spellings_agree_and_canonical_is_idempotent(spelling: tuple[str, str]) -> None:
    raw, canonical = spelling
    ident = parse_address(raw)
    assert ident.canonical == canonical
    _, postcode, house_number, addition = canonical.split("|")
    assert ident == address_from_parts(postcode.lower(), house_number, addition)
    assert parse_address(f"{postcode} {house_number} {addition}") == ident


# --- person ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Vries, van der",
        "van der Vries",
        "Van Der  Vries",
        "VRIES VAN DER",
        "van-der-Vries",
        "Vries ,van der",
    ],
)
def test_prefix_moves_to_one_place(name: str) -> None:
    assert person(name) == "person|vries|van der|j|1980-02-03"


@pytest.mark.parametrize(
    ("names", "core", "prefix"),
    [
        (["d'Ancona", "D Ancona", "d’Ancona", "Ancona, d'", "ANCONA D'"], "ancona", "d"),
        (["'t Hart", "’t Hart", "Hart, 't", "t Hart"], "hart", "t"),
        (["in 't Veld", "In't Veld", "Veld, in 't", "VELD IN 'T"], "veld", "in t"),
        (["de la Torre", "Torre, de la", "De La Torre"], "torre", "de la"),
        (["van Dam", "Dam, van", "DAM VAN"], "dam", "van"),
        (["ter Horst", "Horst, ter"], "horst", "ter"),
        (["Jansen", "JANSEN", " jansen ", "Jansen,"], "jansen", ""),
        (["Jansen-van den Berg", "Jansen van den Berg"], "jansen van den berg", ""),
        (["Van"], "van", ""),  # a lone prefix word is the core: one word must remain
        (["Müller", "Muller", "MÜLLER"], "muller", ""),
        (["Groß", "Gross", "GROẞ"], "gross", ""),
        (["Ĳzerman", "IJzerman", "ijzerman"], "ijzerman", ""),
        (["Ærø", "Aero"], "aero", ""),
        (["Sørensen", "Sorensen"], "sorensen", ""),
        (["Łaski", "Laski"], "laski", ""),
        (["Çelik", "Celik"], "celik", ""),
        (["O'Brien", "O Brien", "O-Brien"], "o brien", ""),
    ],
)
def test_family_name_spellings_agree(names: list[str], core: str, prefix: str) -> None:
    for name in names:
        assert person(name) == f"person|{core}|{prefix}|j|1980-02-03", name


@pytest.mark.parametrize("initial", ["J", "j", "J.", "Jan", " jan ", "J.P.", "Jan-Willem", "Ján"])
def test_initial_is_first_letter(initial: str) -> None:
    assert person("Zwanenburg", initial).split("|")[3] == "j"


def test_initial_folds_special_letters() -> None:
    assert person("Zwanenburg", "Ĳsbrand").split("|")[3] == "i"
    assert person("Zwanenburg", "Łukasz").split("|")[3] == "l"
    assert person("Zwanenburg", "Øyvind").split("|")[3] == "o"


@pytest.mark.parametrize(
    "born",
    [
        "1980-02-03",
        " 1980-02-03 ",
        datetime.date(1980, 2, 3),
        datetime.datetime(1980, 2, 3, 23, 59, tzinfo=datetime.UTC),
    ],
)
def test_birth_date_forms(born: str | datetime.date) -> None:
    assert person_from_parts("Zwanenburg", "J", born, today=TODAY).canonical.endswith("|1980-02-03")


def test_birth_date_limits() -> None:
    assert person("Zwanenburg", born="1900-01-01").endswith("|1900-01-01")
    assert person("Zwanenburg", born="2024-06-01").endswith("|2024-06-01")  # born today
    assert person("Zwanenburg", born="2024-02-29").endswith("|2024-02-29")  # leap day
    with pytest.raises(IdentifierError, match="future") as future:
        person_from_parts("Zwanenburg", "J", "2024-06-02", today=TODAY)
    assert future.value.code == "person.birth_date_future"
    for too_early in ("1899-12-31", datetime.date(1899, 12, 31)):
        with pytest.raises(IdentifierError) as early:
            person_from_parts("Zwanenburg", "J", too_early, today=TODAY)
        assert early.value.code == "person.birth_date_too_early"


def test_today_defaults_to_the_local_date() -> None:
    today = datetime.date.today()
    assert parse_person(f"Zwanenburg;J;{today.isoformat()}").canonical.endswith(today.isoformat())


def test_parse_person_string() -> None:
    ident = parse_person("van der Vries;J;1980-02-03")
    assert ident.canonical == "person|vries|van der|j|1980-02-03"
    assert parse("person", " Vries, van der ; Jan ; 1980-02-03 ") == ident
    assert parse_person("Vries, van der;J;1980-02-03") == ident


PREFIXES = sorted(" ".join(words) for words in _NAME_PREFIXES)
PREFIX_WORDS = {word for words in _NAME_PREFIXES for word in words}
CORE_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=12).filter(
    lambda word: word not in PREFIX_WORDS
)


@given(
    st.lists(CORE_WORD, min_size=1, max_size=3).map(" ".join),
    st.sampled_from(PREFIXES),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY),
    st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_person_spellings_agree_and_canonical_is_idempotent(
    core: str, prefix: str, initial: str, born: datetime.date, flips: list[bool]
) -> None:
    expected = f"person|{core}|{prefix}|{initial}|{born.isoformat()}"
    for name in (f"{prefix} {core}", f"{core}, {prefix}", f"{core} {prefix}".upper()):
        ident = person_from_parts(random_case(name, flips), initial.upper(), born, today=TODAY)
        assert ident.canonical == expected
    _, canonical_core, canonical_prefix, canonical_initial, canonical_born = expected.split("|")
    again = person_from_parts(
        f"{canonical_core}, {canonical_prefix}", canonical_initial, canonical_born, today=TODAY
    )
    assert again.canonical == expected


# --- dispatch and robustness -------------------------------------------------------------------


@given(st.sampled_from(["bsn", "address", "person"]), st.text(max_size=80))
def test_any_text_gives_an_identifier_or_an_identifier_error(kind: str, raw: str) -> None:
    try:
        ident = parse(kind, raw)
    except IdentifierError as err:
        assert err.kind == kind
        assert err.code in _MESSAGES
        assert err.__context__ is None
    else:
        assert ident.kind == kind
        assert parse(kind, raw) == ident


def test_parse_dispatches_by_kind() -> None:
    assert parse("bsn", "123456782") == parse_bsn("123456782")
    assert parse("address", "1234 AB 12") == parse_address("1234 AB 12")
    with pytest.raises(IdentifierError) as caught:
        parse("unknown-kind-value", "123456782")
    assert caught.value.kind == "kind"
    assert "unknown-kind-value" not in caught.value.message_en


def test_parse_household_keeps_order_and_validates_every_value() -> None:
    found = parse_household(
        bsn=["123456782"], address=["1234 ab 12"], person=["Vries;J;1980-02-03"]
    )
    assert [i.kind for i in found] == ["bsn", "address", "person"]
    with pytest.raises(IdentifierError) as caught:
        parse_household(bsn=["123456782", "123456789"])
    assert caught.value.code == "bsn.checksum"
