"""broker.catalogue: a message id is translated when shown, in the reader's language, with its
named places filled (nested messages in the same language); errors keep their code and status."""

from __future__ import annotations

from broker.catalogue import Joined, Message, gettext, language
from broker.errors import NotFound, ValidationError
from broker.registry.validation import numbered, require_known


def test_a_message_is_translated_when_shown() -> None:
    message = Message("added organisation %(identifier)s", identifier="school-a")
    assert message.translate("en") == "added organisation school-a"
    assert message.translate("nl") == "organisatie school-a toegevoegd"
    assert str(message) == "added organisation school-a"
    assert gettext("nl", "yes") == "ja"


def test_an_unknown_language_gets_dutch() -> None:
    assert language("de") == "nl" and language(None) == "nl" and language("en") == "en"
    assert gettext("de", "yes") == "ja"


def test_nested_messages_and_joins_follow_the_outer_language() -> None:
    field = Message("%(field)s is required.", field=Message("The justification"))
    assert field.translate("nl") == "De onderbouwing is verplicht."
    both = Joined(Message(" and "), [Message("a postcode"), Message("a citizen service number "
                                                                    "(BSN)")])
    assert both.translate("nl") == "een postcode en een burgerservicenummer (BSN)"


def test_an_error_keeps_its_code_and_status_and_is_translated_at_the_door() -> None:
    error = NotFound("There is no organisation with code %(organisation)s.",
                     organisation="'nope'")
    assert (error.code, error.status) == ("not-found", 404)
    assert error.message("en") == "There is no organisation with code 'nope'."
    assert error.message("nl") == "Er is geen organisatie met code 'nope'."
    assert str(error) == error.message_en == error.message("en")
    custom = ValidationError("Send the body as application/json.", code="unsupported-media")
    assert (custom.code, custom.status) == ("unsupported-media", 422)
    assert custom.message("nl") == "Stuur de inhoud als application/json."


def test_a_refusal_in_a_batch_names_its_item_in_either_language() -> None:
    def refuse() -> str:
        return require_known("wijkteem", ["wijkteam", "school"], "organisation type")

    try:
        numbered(3, 2, refuse)
    except ValidationError as exc:
        assert exc.message("en") == ('Item 2: Unknown organisation type "wijkteem" in the '
                                     'sharing policy (did you mean "wijkteam"?)')
        assert exc.message("nl") == ('Item 2: Onbekend(e) organisatietype "wijkteem" in het '
                                     'deelbeleid (bedoelt u "wijkteam"?)')
    else:
        raise AssertionError("a refusal was expected")
