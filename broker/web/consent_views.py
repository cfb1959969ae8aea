"""Web pages to record and withdraw consent about a household (the ``consent`` legal basis).

Thin, like the other pages: the same :class:`~broker.contact.consents.ConsentService` as the API
and the command line. The household's identifiers are typed in the same per-person fields as on
the check page and checked field by field; on an error the page shows every value again (the
answer is ``no-store``); they are never put in the session, a log line, a redirect URL or an
error message. The page shows the recorded consent's id: the consent reference of later checks.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from broker.contact.consents import ConsentService
from broker.door import failed, uow
from broker.errors import BrokerError, NotFound
from broker.registry.consents import ConsentInfo
from broker.web.forms import ConsentForm, consent_dates
from broker.web.household import PEOPLE, FieldError, HouseholdInput, parse_household
from broker.web.i18n import current_language
from broker.web.views import actor, bp, login_required


def _page(form: ConsentForm, household: HouseholdInput, *,
          recorded: ConsentInfo | None = None, withdrawn: tuple[str, int] | None = None,
          errors: list[str] | None = None) -> str:
    lang = current_language()
    org_types = {code: kind.label.get(lang) for code, kind in uow().policy().org_types.items()}
    context: dict[str, Any] = {
        "form": household, "consent": form, "recorded": recorded, "withdrawn": withdrawn,
        "org_types": org_types, "errors": errors or [],
        "people": range(1, max(PEOPLE, len(household.people)) + 1)}
    return render_template("consent.html", **context)


def _empty() -> ConsentForm:
    return ConsentForm(given_on=uow().today().isoformat())


@bp.route("/consent", methods=["GET", "POST"])
@login_required
def consent_page() -> str | Response:
    """Record consent given to one's organisation about a household; the answer is a redirect
    to this page naming the new record (POST-redirect-GET: a reload records nothing twice)."""
    work = uow()
    if request.method == "GET":
        recorded = None
        if "recorded" in request.args:  # one of the organisation's own, or an audited 404
            try:
                recorded = ConsentService(work).get(actor(), request.args.get("recorded", ""))
            except NotFound:
                failed()
                abort(404)
        return _page(_empty(), HouseholdInput(), recorded=recorded)
    form, household = ConsentForm.from_request(request.form), HouseholdInput.from_request(
        request.form)
    lang = current_language()
    identifiers, errors = parse_household(household, work.policy().quotas.web_identifiers_per_check,
                                          lang, work.today())
    dates = consent_dates(form, errors)
    if errors or dates is None:
        return _page(form, household.with_errors(errors))
    try:
        me = actor()
        recorded = ConsentService(work).record(
            me, professional=g.professional.username,
            pseudonyms=work.pseudonymise(me, identifiers), given_by=form.given_by,
            given_on=dates[0], valid_until=dates[1], purposes=list(form.purposes),
            holder_types=list(form.holder_types))
    except BrokerError as exc:
        failed()
        return _page(form, household.with_errors([FieldError("", exc.message(lang))]))
    return redirect(url_for("web.consent_page", recorded=recorded.id), code=303)


@bp.route("/consent/withdraw", methods=["POST"])
@login_required
def consent_withdraw() -> str:
    """Withdraw a consent record of one's organisation (by its id)."""
    work = uow()
    consent_id = request.form.get("consent_id", "").strip()
    try:
        revoked = ConsentService(work).withdraw(actor(), consent_id,
                                                professional=g.professional.username)
    except BrokerError as exc:
        failed()
        return _page(_empty(), HouseholdInput(), errors=[exc.message(current_language())])
    return _page(_empty(), HouseholdInput(), withdrawn=(consent_id, revoked))
