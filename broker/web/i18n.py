"""The web pages' language: one message catalogue (Flask-Babel), Dutch by default, English chosen.

Rules:

1. Every text a page shows goes through the broker's one catalogue in ``broker/web/translations``
   (:mod:`broker.catalogue`, which the command line and the errors use too): ``_()`` in the
   templates, :func:`flask_babel.gettext` (or ``lazy_gettext`` for a table built at import) in
   Python. The pages' message ids are short keys (``check_title``); a domain error's id is its
   English text, shown with ``exc.message(current_language())``. tests/web/test_catalogue.py
   fails on any id the sources use that either catalogue lacks or leaves empty.
2. The compiled catalogues (``messages.mo``) are committed beside their ``.po`` sources, so a
   clean clone serves and tests without a build step; the same test fails when a ``.mo`` is
   not the compilation of its ``.po`` (``scripts/i18n`` compiles after an edit).
3. Dutch is written at B1 level, without the chain's jargon ("de organisatie die betrokken is",
   not "de houder"). The language is the session's choice (``/lang/en``, ``/lang/nl``).
4. Times are shown in Europe/Amsterdam (``|local`` in the templates), never UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

import flask_babel
from flask import Flask, has_request_context, session

from broker.catalogue import DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS
from broker.clock import local_time

__all__ = ["CONTACT_KINDS", "DEFAULT_LANGUAGE", "GIVEN_BY", "LABELS", "LANGUAGES", "LINK_FIELDS",
           "MATCH_KINDS", "NOTIFICATION_KINDS", "REQUEST_STATUSES", "TRANSLATIONS", "Lazy",
           "current_language", "gettext", "install", "lazy_gettext", "local_date_text"]


class Lazy(Protocol):
    """A text looked up in the catalogue when it is shown (in the page's language)."""

    def __str__(self) -> str: ...


def gettext(key: str, **values: object) -> str:
    """The text ``key`` in the page's language, with ``values`` put in its %(name)s places."""
    return str(flask_babel.gettext(key, **values))


def lazy_gettext(key: str) -> Lazy:
    """The text ``key``, looked up when shown (for tables built at import)."""
    text: Lazy = flask_babel.lazy_gettext(key)
    return text


def current_language() -> str:
    """The language of this browser session (Dutch unless the user chose English)."""
    lang = session.get("lang", DEFAULT_LANGUAGE) if has_request_context() else DEFAULT_LANGUAGE
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _local(moment: datetime | None) -> str:
    """A moment as Dutch local time (the templates' ``|local`` filter); empty for none."""
    return local_time(moment) if moment is not None else ""


def local_date_text(day: date | None) -> str:
    """A date as the page shows it: 30-06-2027 (the ``|day`` filter); empty for none."""
    return day.strftime("%d-%m-%Y") if day is not None else ""


# Labels picked by a code at run time: built here with lazy_gettext, so the catalogue test finds
# each id (a key assembled in a template, "kind_" ~ code, would be invisible to it).
NOTIFICATION_KINDS: dict[str, Lazy] = {
    "new_match": lazy_gettext("kind_new_match"),
    "contact_request": lazy_gettext("kind_contact_request"),
    "decision": lazy_gettext("kind_decision"),
    "link": lazy_gettext("kind_link"),
    "coordinator_proposal": lazy_gettext("kind_coordinator_proposal"),
    "inform_review_due": lazy_gettext("kind_inform_review_due"),
    "lookup_notice": lazy_gettext("kind_lookup_notice"),
    "review_flag": lazy_gettext("kind_review_flag"),
    "misuse_flag": lazy_gettext("kind_misuse_flag"),
}
REQUEST_STATUSES: dict[str, Lazy] = {
    "pending": lazy_gettext("status_pending"),
    "approved": lazy_gettext("status_approved"),
    "denied": lazy_gettext("status_denied"),
    "withdrawn": lazy_gettext("status_withdrawn"),
    "expired": lazy_gettext("status_expired"),
}
CONTACT_KINDS: dict[str, Lazy] = {
    "direct": lazy_gettext("contact_direct"),
    "approval": lazy_gettext("contact_approval"),
    "none": lazy_gettext("contact_none"),
}
MATCH_KINDS: dict[str, Lazy] = {
    "person": lazy_gettext("person_kind"),
    "address": lazy_gettext("address_kind"),
}
GIVEN_BY: dict[str, Lazy] = {
    "person": lazy_gettext("given_by_person"),
    "parent": lazy_gettext("given_by_parent"),
    "guardian": lazy_gettext("given_by_guardian"),
}
LINK_FIELDS: dict[str, Lazy] = {
    "name": lazy_gettext("link_name"),
    "role": lazy_gettext("link_role"),
    "phone": lazy_gettext("link_phone"),
    "email": lazy_gettext("link_email"),
    "organisation": lazy_gettext("link_organisation"),
}
LABELS = {"kinds": NOTIFICATION_KINDS, "statuses": REQUEST_STATUSES, "contact": CONTACT_KINDS,
          "matched": MATCH_KINDS, "given_by": GIVEN_BY, "link_fields": LINK_FIELDS}


def install(app: Flask) -> None:
    """Flask-Babel on ``app``: the catalogue, the session's language, the ``|local`` filter."""
    flask_babel.Babel(app, locale_selector=current_language, default_locale=DEFAULT_LANGUAGE,
          default_timezone="Europe/Amsterdam", default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.filters["local"] = _local
    app.jinja_env.filters["day"] = local_date_text
    app.jinja_env.globals["labels"] = LABELS
