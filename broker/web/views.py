"""The professional's web pages: sign in, check a household, register involvement.

Views are thin: they read the form, call one service and render. The raw identifiers typed into
the form live in this request's memory only: they are parsed, pseudonymised in-process and
dropped; they are never put in the session, a log line, a redirect URL or an error message.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from broker.audit.services import Actor
from broker.door import current_core, uow
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER, ACCESS_PROFESSIONAL
from broker.web import sessions as web_sessions
from broker.web.access import role_required
from broker.web.i18n import LANGUAGES, current_language, gettext
from broker.web.refusals import refuse_csrf, signed_in_actor

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")

# The main menu of a signed-in professional: (endpoint, message id of its label).
MENU = (("web.check", "check"), ("web.involvements", "involvements"),
        ("web.register", "register"), ("web.consent_page", "consent"), ("web.inbox_page", "inbox"))


@bp.app_context_processor
def inject() -> dict[str, Any]:
    """The language, the CSRF token, the menu and the policy's labels, for every page (the
    error pages of any URL too, hence app-wide)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    context: dict[str, Any] = {"lang": current_language(), "csrf_token": session["csrf"],
                               "me": session.get("professional"), "menu": MENU}
    if request.blueprint == "web":
        context.update(policy_labels())
    return context


def policy_labels() -> dict[str, dict[str, str]]:
    """Codes of the policy in force with their labels in the page's language: purposes, bases,
    statutes and kinds of organisation (a code is never shown bare)."""
    policy = uow().policy() if g.get("uow") is not None else current_core().policy()
    lang = current_language()
    return {"purposes": {code: p.label.get(lang) for code, p in policy.purposes.items()},
            "bases": {code: b.label.get(lang) for code, b in policy.bases.items()},
            "statutes": {code: s.label.get(lang) for code, s in policy.statutes.items()},
            "org_types": {code: k.label.get(lang) for code, k in policy.org_types.items()}}


# No form field of any page needs more; a longer value is refused before anything reads it.
MAX_FORM_VALUE = 10_000


@bp.before_request
def check_input() -> None:
    """Refuse a control character (NUL among them: PostgreSQL cannot store it) or an overlong
    value in any query or form field, with a 400 page, before anything reads or stores it."""
    for values in (request.args, request.form):
        for value in values.values():
            if len(value) > MAX_FORM_VALUE or any(
                    (ord(char) < 32 and char not in "\t\r\n") or ord(char) == 127
                    for char in value):
                abort(400, description=gettext("bad_input"))


@bp.before_request
def check_csrf() -> None:
    """Refuse a state-changing request without the session's CSRF token."""
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
            refuse_csrf()  # audited: the account's event, or counted per network


# A professional's pages (broker.web.access): a staff member is refused them, audited.
login_required = role_required(ACCESS_PROFESSIONAL)


def actor() -> Actor:
    """The signed-in account as the audit log's actor (the guard let the request in)."""
    acting = signed_in_actor()
    if acting is None:
        abort(403)
    return acting


def _identifier_limit() -> int:
    """Identifiers the household form takes per check (the policy's, one household)."""
    return uow().policy().quotas.web_identifiers_per_check


# Where a privacy officer and an auditor start (broker.web.officer_views, auditor_views).
HOMES = {ACCESS_PRIVACY_OFFICER: "officer.policy", ACCESS_AUDITOR: "auditor.log"}


@bp.route("/")
def index() -> Response:
    """Start page: the household check once signed in (a privacy officer's or an auditor's
    own first page for them)."""
    live = web_sessions.current() if session.get("professional") else None
    if live is None:
        return redirect(url_for("web.login"))
    return redirect(url_for(HOMES.get(live.professional.access_role, "web.check")))


@bp.route("/lang/<code>")
def set_language(code: str) -> Response:
    """Switch the language of the pages."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(url_for("web.index"))


# The household check and registration, one's involvements, the contact hand-over's and the
# consent pages, and signing in and out (with the second factor,
# its enrolment and the password page), live in their own modules on this blueprint.
from broker.web import (  # noqa: E402, F401
    consent_views,
    contact_views,
    household_views,
    involvement_views,
    signin_views,
)
