"""The household pages: check a household (form, then its result by POST-redirect-GET) and
register one's own involvement.

Thin: the form is read and checked field by field (broker.web.household), then one service is
called on the request's unit of work. On any error the page is shown again with every value as
typed, an error summary linked to the fields and each message at its field; the typed
identifiers are never put in the session, a URL or a log line. A check's result is kept for this
web session (broker.web.results) and shown by ``/check/result/<lookup id>``: reloading it runs
no second look-up.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from broker.door import failed, uow
from broker.errors import BrokerError
from broker.registry.lookups import LookupService
from broker.registry.services import NewInvolvement, RegistryService
from broker.web import results
from broker.web import sessions as web_sessions
from broker.web.household import (
    PEOPLE,
    FieldError,
    HouseholdInput,
    check_choices,
    parse_end_date,
    parse_household,
    service_error,
)
from broker.web.i18n import current_language, gettext, local_date_text
from broker.web.views import actor, bp, login_required


def _limit() -> int:
    """Identifiers the household form takes per check (the policy's, one household)."""
    return uow().policy().quotas.web_identifiers_per_check


def _page(template: str, form: HouseholdInput, **context: object) -> str:
    return render_template(template, form=form,
                           people=range(1, max(PEOPLE, len(form.people)) + 1),
                           errors=[], **context)


def _session_id() -> int:
    live = web_sessions.current()
    if live is None:  # login_required let the request in: the session is live
        abort(403)
    return live.session_id


@bp.route("/check", methods=["GET", "POST"])
@login_required
def check() -> str | Response:
    """Check a household: is another organisation involved? The answer is a redirect to the
    kept result; an error shows the form again with every value."""
    if request.method == "GET":
        return _page("check.html", HouseholdInput())
    form, lang = HouseholdInput.from_request(request.form), current_language()
    work = uow()
    identifiers, errors = parse_household(form, _limit(), lang, work.today())
    errors += check_choices(form, basis=True)
    if errors:
        return _page("check.html", form.with_errors(errors))
    try:
        me, acting = g.professional, actor()
        pseudonyms = work.pseudonymise(acting, identifiers)
        register = (NewInvolvement(me.username, pseudonyms, form.purpose,
                                   case_reference=form.case_reference or None)
                    if form.register_too else None)
        result = LookupService(work).lookup(acting, pseudonyms=pseudonyms, purpose=form.purpose,
                                            basis=form.basis, evidence=form.evidence(),
                                            register=register)
    except BrokerError as exc:
        failed()
        return _page("check.html", form.with_errors([service_error(form, exc, lang)]))
    results.keep(work, _session_id(), result, form)
    return redirect(url_for("web.check_result", lookup_id=result.lookup_id), code=303)


@bp.route("/check/result/<lookup_id>")
@login_required
def check_result(lookup_id: str) -> str:
    """A kept result of this session's check (no new look-up); 404 for any other."""
    found = results.kept(uow(), _session_id(), lookup_id)
    if found is None:
        abort(404)
    result, choices = found
    return render_template("check_result.html", result=result, choices=choices, errors=[])


@bp.route("/register", methods=["GET", "POST"])
@login_required
def register() -> str | Response:
    """Register one's own involvement with a household, with the organisation's own case
    reference."""
    if request.method == "GET":
        return _page("register.html", HouseholdInput())
    form, lang = HouseholdInput.from_request(request.form), current_language()
    work = uow()
    identifiers, errors = parse_household(form, _limit(), lang, work.today())
    errors += check_choices(form, basis=False)
    try:
        ends_on = parse_end_date(form.ends_on)
    except ValueError:
        ends_on = None
        errors.append(FieldError("ends_on", gettext("bad_end_date")))
    if errors:
        return _page("register.html", form.with_errors(errors))
    try:
        me, acting = g.professional, actor()
        registered = RegistryService(work).register_involvement(
            acting, organisation=me.organisation_identifier, professional=me.username,
            pseudonyms=work.pseudonymise(acting, identifiers), purpose=form.purpose,
            ends_on=ends_on, case_reference=form.case_reference or None)
    except BrokerError as exc:
        failed()
        return _page("register.html", form.with_errors([service_error(form, exc, lang)]))
    flash(gettext("registered", ends_on=local_date_text(registered.ends_on)))
    return redirect(url_for("web.involvements"), code=303)

