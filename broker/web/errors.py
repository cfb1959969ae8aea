"""The web's error pages: 400, 403, 404, 405, 429 and 500 in the site's layout and the page's
language (Dutch by default), never Flask's English ones. Requests of the API get its problem
documents instead (broker.api.problems); an outage gets the calm 503 page (broker.web.outage).

A description given with ``abort(400, description=...)`` by the web's own checks (already in
the page's language) is shown; werkzeug's English default descriptions never are.
"""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from broker.api.problems import is_api_request
from broker.web.i18n import Lazy, lazy_gettext

TEXTS: dict[int, tuple[Lazy, Lazy]] = {
    400: (lazy_gettext("error_title_400"), lazy_gettext("error_text_400")),
    403: (lazy_gettext("error_title_403"), lazy_gettext("error_text_403")),
    404: (lazy_gettext("error_title_404"), lazy_gettext("error_text_404")),
    405: (lazy_gettext("error_title_405"), lazy_gettext("error_text_405")),
    429: (lazy_gettext("error_title_429"), lazy_gettext("error_text_429")),
    500: (lazy_gettext("error_title_500"), lazy_gettext("error_text_500")),
}
OTHER = (lazy_gettext("error_title"), lazy_gettext("error_text_400"))


def error_page(status: int, detail: str | None = None,
               headers: dict[str, str] | None = None) -> tuple[str, int, dict[str, str]]:
    """The page for ``status`` in the layout, with ``detail`` (already translated) above."""
    title, text = TEXTS.get(status, OTHER)
    page = render_template("error.html", title=title, text=text, detail=detail, errors=[])
    return page, status, headers or {}


def web_error(exc: HTTPException) -> HTTPException | tuple[str, int, dict[str, str]]:
    """An HTTP error of a web page as its page; the API's errors are left to the API, and an
    error that carries its own answer (the rate limit's page, with Retry-After) keeps it."""
    if is_api_request() or exc.response is not None:
        return exc
    status = exc.code or 500
    own = exc.description if exc.description != type(exc).description else None
    return error_page(status, own)


def install(app: Flask) -> None:
    """Answer HTTP errors and unexpected exceptions of web pages with the site's pages."""
    app.register_error_handler(HTTPException, web_error)
    app.register_error_handler(InternalServerError, web_error)
