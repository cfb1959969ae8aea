"""Web pages of signing in: password, second-factor code, sign-out, enrolment of the second factor
through a one-time link, and the signed-in account's password change.

Thin: each page calls one service of :mod:`broker.signin`. A refusal for too many attempts is
answered 429 with ``Retry-After``; a wrong password, code or link is answered on the same page,
in the chosen language, without repeating what was typed.
"""

from __future__ import annotations

import segno
from flask import flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from broker.errors import BrokerError
from broker.signin.models import STAGE_SIGNED_IN
from broker.signin.throttle import Throttled
from broker.web import sessions as web_sessions
from broker.web.i18n import current_language, gettext
from broker.web.views import bp

Page = str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]


def _refused(template: str, exc: BrokerError, **context: object) -> Page:
    """The page again with the error; 429 and Retry-After for too many attempts."""
    page = render_template(template, error=exc.message(current_language()), **context)
    if isinstance(exc, Throttled):
        retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return page, 429, retry
    return page, 200 if exc.status in (400, 401, 422) else exc.status


def _signed_in(token: str, stage: str, username: str) -> Response:
    web_sessions.begin(token, stage, username)
    if stage == STAGE_SIGNED_IN:
        return redirect(url_for("web.index"))
    return redirect(url_for("web.login_code"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    """Sign in with user name and password."""
    if request.method == "GET":
        if web_sessions.current() is not None:
            return redirect(url_for("web.index"))
        if web_sessions.session_id() is not None:
            web_sessions.forget()  # an ended session labels no sign-out button
        return render_template("login.html", error=None)
    try:
        signed = web_sessions.sign_in_service().with_password(
            request.form.get("username", ""), request.form.get("password", ""),
            web_sessions.client_address())
    except BrokerError as exc:
        return _refused("login.html", exc)
    return _signed_in(signed.token, signed.stage, signed.professional.username)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Page:
    """The second step for accounts with a second factor: the code of the authenticator app."""
    waiting = web_sessions.pending()
    if waiting is None:
        web_sessions.forget()
        return redirect(url_for("web.login"))
    if request.method == "GET":
        return render_template("login_code.html", error=None)
    try:
        signed = web_sessions.sign_in_service().with_code(
            waiting[0], request.form.get("code", ""), web_sessions.client_address())
    except BrokerError as exc:
        return _refused("login_code.html", exc)
    return _signed_in(signed.token, signed.stage, signed.professional.username)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out: every session of the account ends, on every device."""
    token = web_sessions.session_id()
    if token is not None:
        web_sessions.sign_in_service().sign_out(token, web_sessions.client_address())
    web_sessions.forget()
    return redirect(url_for("web.login"))


@bp.route("/enrol/<token>", methods=["GET", "POST"])
def enrol(token: str) -> Page:
    """The one-time enrolment link: shows the new secret, confirmed by a first code."""
    service = web_sessions.second_factor_service()
    try:
        if request.method == "POST":
            service.confirm(token, request.form.get("code", ""), web_sessions.client_address())
            web_sessions.forget()
            flash(gettext("enrolled"))
            return redirect(url_for("web.login"))
        offer = service.offer(token, web_sessions.client_address())
    except BrokerError as exc:
        if request.method == "POST" and exc.status == 422:
            offer = service.offer(token, web_sessions.client_address())
            return _refused("enrol.html", exc, offer=offer, qr=_qr(offer.uri))
        return _refused("enrol.html", exc, offer=None, qr=None)
    return render_template("enrol.html", error=None, offer=offer, qr=_qr(offer.uri))


def _qr(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code, drawn here (no outside service sees it)."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, light="#fff"))  # noqa: S704 - segno's own SVG of our URI


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> Page:
    """The signed-in account changes its password; every session ends, this one too."""
    live = web_sessions.current()
    if live is None:
        web_sessions.forget()
        return redirect(url_for("web.login"))
    if request.method == "GET":
        return render_template("password.html", error=None)
    new = request.form.get("new_password", "")
    if new != request.form.get("repeat_password", ""):
        return render_template("password.html", error=gettext("passwords_differ"))
    try:
        web_sessions.sign_in_service().change_own_password(
            live.professional.username, request.form.get("current_password", ""), new,
            web_sessions.client_address())
    except BrokerError as exc:
        return _refused("password.html", exc)
    web_sessions.forget()
    flash(gettext("password_changed"))
    return redirect(url_for("web.login"))
