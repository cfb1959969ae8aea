"""The web pages' one message catalogue (Flask-Babel): every message id the sources use is in
both languages, translated; the committed .mo files are the compilation of their .po sources;
the truthful look-up wording is the one every door uses."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from broker.registry.results import NONE_SHOWN, OTHERS_MAY_BE_HIDDEN
from broker.web.i18n import LANGUAGES, TRANSLATIONS

WEB = Path(__file__).resolve().parents[2] / "broker" / "web"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_ids() -> set[str]:
    """Every message id the web's Python modules and templates pass to the catalogue."""
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    found = extract_from_dir(str(WEB), method_map, keywords=KEYWORDS,
                             options_map={"templates/**.html": {"trimmed": "true"}},
                             callback=None, strip_comment_tags=True)
    ids: set[str] = set()
    for _filename, _lineno, message, _comments, _context in found:
        # ngettext's (singular id, plural id): the entry is filed under the singular id.
        singular = message[0] if isinstance(message, tuple) else message
        assert isinstance(singular, str), f"use one literal message id, not {message!r}"
        ids.add(singular)
    return ids


def key(message: Message) -> str:
    """A catalogue entry's message id (a plural entry's singular id)."""
    return str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)


def text(message: Message) -> str:
    """A catalogue entry's translation (a plural entry's forms, joined)."""
    forms = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return "\n".join(str(form) for form in forms)


def catalogue(lang: str) -> Catalog:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=lang)


def test_extraction_sees_the_templates_and_the_views() -> None:
    ids = used_ids()
    assert {"skip_to_content", "kind_new_match", "error_title_404", "passwords_differ",
            "bad_input"} <= ids


def test_every_message_id_is_translated_in_both_languages() -> None:
    ids = used_ids()
    for lang in LANGUAGES:
        messages = {key(m): m for m in catalogue(lang) if m.id}
        missing = sorted(ids - set(messages))
        assert not missing, f"{lang}: no entry for {missing}"
        empty = sorted(name for name, m in messages.items()
                       if not all(text(m).split("\n")) or m.fuzzy)
        assert not empty, f"{lang}: untranslated or fuzzy: {empty}"
        unused = sorted(set(messages) - ids)
        assert not unused, f"{lang}: entries no source uses: {unused}"


def test_both_languages_have_the_same_placeholders() -> None:
    nl = {key(m): text(m) for m in catalogue("nl") if m.id}
    en = {key(m): text(m) for m in catalogue("en") if m.id}
    for name, translated in nl.items():
        assert set(PLACEHOLDER.findall(translated)) == set(PLACEHOLDER.findall(en[name])), name


def test_the_committed_mo_files_are_compiled_from_the_po_files() -> None:
    for lang in LANGUAGES:
        with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb") as compiled:
            mo = {key(m): text(m) for m in read_mo(compiled) if m.id}
        po = {key(m): text(m) for m in catalogue(lang) if m.id}
        assert mo == po, f"{lang}: run scripts/i18n to compile the catalogue"


def test_no_jargon_in_dutch() -> None:
    for message in catalogue("nl"):
        assert "houder" not in str(message.string).lower(), message.id


def test_the_look_up_wording_is_the_truthful_one_of_every_door() -> None:
    for lang in LANGUAGES:
        messages = {key(m): text(m) for m in catalogue(lang) if m.id}
        assert messages["no_matches"] == NONE_SHOWN[lang]
        assert messages["may_hide"] == OTHERS_MAY_BE_HIDDEN[lang]

