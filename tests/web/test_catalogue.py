"""The broker's one message catalogue (the web pages through Flask-Babel; errors, the command line
and policy explanations through broker.catalogue): every message id the sources use is in both
languages, translated, with the same named places; the committed .mo files are the compilation of
their .po sources; the truthful look-up wording is the one every door uses."""

from __future__ import annotations

import ast
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


BROKER = WEB.parent
# Calls whose argument is a message id: (position of the id, or None for the first literal
# argument; a keyword that holds one). The broker's error classes are added by name below.
CALLS: dict[str, int | str | None] = {
    "Message": 0, "message_id": 0, "translated": 0, "BasisProblem": 0,
    "gettext": None, "require_slug": 1, "require_text": 1, "require_known": 2,
    "check_free_text": "field", "refusal": 2, "_bad": 0,  # the witness's refusals
}


def error_classes(trees: list[ast.Module]) -> set[str]:
    """Every class that derives, by name, from broker.errors.BrokerError."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(
                    b.id for b in node.bases if isinstance(b, ast.Name))
    found = {"BrokerError"}
    while more := {name for name, parents in bases.items() if parents & found} - found:
        found |= more
    return found


def broker_names(tree: ast.Module) -> set[str]:
    """The names a module imports from the broker or defines (marshmallow's ValidationError,
    which takes a field's name, is not the broker's)."""
    names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             and (n.module or "").startswith("broker") for a in n.names}
    return names | {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}


def _is_super_init(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__" and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "super" and bool(node.args))


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def code_ids() -> set[str]:
    """Every message id the broker's Python passes to the catalogue outside Flask-Babel: errors
    (the first argument of a BrokerError class), :class:`~broker.catalogue.Message`, the command
    line's ``translated``, and the field names of the registry's and free text's checks."""
    trees = [ast.parse(p.read_bytes()) for p in sorted(BROKER.rglob("*.py"))
             if "migrations" not in p.parts]
    errors = error_classes(trees)
    ids: set[str] = set()
    for tree in trees:
        calls = CALLS | dict.fromkeys(errors & broker_names(tree), 0)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in errors:
                ids.update(m for call in ast.walk(node) if _is_super_init(call)
                           for m in _literals(call.args[0]))
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in calls):
                continue
            where = calls[node.func.id]
            if isinstance(where, str):
                ids.update(m for k in node.keywords if k.arg == where for m in _literals(k.value))
            elif where is None:
                ids.update(next((m for a in node.args if (m := _literals(a))), []))
            elif len(node.args) > where:
                ids.update(_literals(node.args[where]))
    return ids


def web_ids() -> set[str]:
    """Every message id the web's Python modules and templates pass to Flask-Babel."""
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


def used_ids() -> set[str]:
    """Every message id the sources use: the web's, the errors', the command line's."""
    return web_ids() | code_ids()


def catalogue(lang: str) -> Catalog:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=lang)


def test_extraction_sees_the_templates_and_the_views() -> None:
    ids = used_ids()
    assert {"skip_to_content", "kind_new_match", "error_title_404", "passwords_differ",
            "bad_input"} <= ids


def test_extraction_sees_errors_the_command_line_and_explanations() -> None:
    ids = code_ids()
    assert {"Send the body as application/json.",  # a ValidationError in the API door
            "There is no organisation with code %(organisation)s.",  # NotFound, with a place
            "The user name",  # a field named through require_slug
            "The justification",  # a field named through check_free_text(field=...)
            "added organisation %(identifier)s",  # the command line's translated()
            "discover",  # policy explain's gettext(lang, ...)
            'purpose "%(value)s" is not among its purposes',  # a message_id() table
            } <= ids


def test_every_error_and_command_line_text_is_a_literal_message_id() -> None:
    """An f-string or a concatenation as a message id could never be in the catalogue."""
    trees = {p: ast.parse(p.read_bytes()) for p in sorted(BROKER.rglob("*.py"))
             if "migrations" not in p.parts}
    errors = error_classes(list(trees.values()))
    built = [f"{path.relative_to(BROKER.parent)}:{node.lineno}"
             for path, tree in trees.items()
             for calls in [set(CALLS) | (errors & broker_names(tree))]
             for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id in calls
             and any(isinstance(a, ast.JoinedStr | ast.BinOp) for a in node.args[:1])]
    assert built == []


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

