"""Free text never carries an identifier, a control character or an unbounded length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import ValidationError
from broker.freetext import check_free_text, identifier_shapes

FIELD = {"field": "The justification", "max_length": 200}  # the field by its message id


@pytest.mark.parametrize(("text", "shapes"), [
    ("moeder BSN 111222333 belde", ["bsn"]),
    ("kind 1234.56.782 op school", ["bsn"]),
    ("nummer 123 456 782", ["bsn"]),
    ("acht cijfers 12345672", ["bsn"]),  # 012345672 passes the 11-test
    ("woont op 1011 AB", ["postcode"]),
    ("woont op 1011ab nummer 12", ["postcode"]),
    ("geboren 3-2-2015", ["date"]),
    ("geboren 03/02/15", ["date"]),
    ("geboren 2015-02-03", ["date"]),
    ("geboren 3 februari 2015", ["date"]),
    ("born 3 Feb. 2015", ["date"]),
    ("111222333 op 1011 AB sinds 1-1-2020", ["bsn", "postcode", "date"]),
])
def test_identifier_shapes_are_found(text: str, shapes: list[str]) -> None:
    assert identifier_shapes(text) == shapes
    with pytest.raises(ValidationError) as refused:
        check_free_text(text, **FIELD)
    assert refused.value.code == "free-text"
    # The message names what was found, never the text itself.
    for part in text.split():
        if any(ch.isdigit() for ch in part):
            assert part not in refused.value.message("nl")
            assert part not in refused.value.message("en")


@pytest.mark.parametrize("text", [
    "123456789",                 # nine digits that fail the 11-test
    "bel 06 1234 5678",          # a phone number: ten digits
    "dossier 2026-00417",        # a case number
    "1011 SA",                   # letters PostNL never issues
    "op 31-02-2015",             # no such date
    "om 12.30 uur, kamer 4",
    "Wmo 2015 art. 5.2.6",
])
def test_ordinary_text_passes(text: str) -> None:
    assert identifier_shapes(text) == []
    assert check_free_text(f"  {text} ", **FIELD) == text


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b", "a\x1bb", "a\x7fb"])
def test_control_characters_and_lone_surrogates_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        check_free_text(text, **FIELD)


def test_tabs_and_line_breaks_are_kept() -> None:
    assert check_free_text("regel een\nregel\ttwee\r\n", **FIELD) == "regel een\nregel\ttwee"


def test_length_is_bounded_and_the_message_says_how_long() -> None:
    with pytest.raises(ValidationError) as refused:
        check_free_text("x" * 201, **FIELD)
    assert "200" in refused.value.message("en") and "201" in refused.value.message("nl")
    assert check_free_text("x" * 200, **FIELD) == "x" * 200


def test_empty_text_is_none_unless_required() -> None:
    assert check_free_text("   ", **FIELD) is None
    assert check_free_text(None, **FIELD) is None
    with pytest.raises(ValidationError) as refused:
        check_free_text(" ", required=True, **FIELD)
    assert refused.value.message("nl") == "De onderbouwing is verplicht."


@given(st.text(max_size=300))
def test_any_text_is_accepted_or_refused_with_a_validation_error(text: str) -> None:
    try:
        result = check_free_text(text, **FIELD)
    except ValidationError as refused:
        assert refused.code == "free-text"
    else:
        assert result is None or (len(result) <= 200 and identifier_shapes(result) == [])
