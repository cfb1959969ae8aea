"""Web pages to record and withdraw consent about a household (the ``consent`` legal basis).

Thin, like the other pages: the same :class:`~broker.contact.consents.ConsentService` as the API
and the command line. The household's identifiers typed into the form live in this request's
memory only: they are parsed, pseudonymised in-process and dropped; they are never put in the
session, a log line, a redirect URL or an error message, and the page is rendered again without
them. The page shows the recorded consent's id: the consent reference of later checks.
"""

from __future__ import annotations

from typing import Any

from broker_primitives.identifiers import IdentifierError
from flask import g, render_template, request

from broker.contact.consents import ConsentService
from broker.door import failed, uow
from broker.errors import BrokerError
from broker.registry.consents import ConsentInfo
from broker.web.forms import ConsentForm, parse_consent_form
from broker.web.i18n import current_language
from broker.web.views import actor, bp, login_required


def _page(form: ConsentForm, *, recorded: ConsentInfo | None = None,
          withdrawn: tuple[str, int] | None = None, errors: list[str] | None = None) -> str:
    lang = current_language()
    org_types = {code: kind.label.get(lang) for code, kind in uow().policy().org_types.items()}
    context: dict[str, Any] = {"form": form, "recorded": recorded, "withdrawn": withdrawn,
                               "org_types": org_types, "errors": errors or []}
    return render_template("consent.html", **context)


@bp.route("/consent", methods=["GET", "POST"])
@login_required
def consent_page() -> str:
    """Record consent given to one's organisation about a household."""
    work = uow()
    if request.method == "GET":
        return _page(ConsentForm(given_on=work.today().isoformat()))
    form = ConsentForm.from_request(request.form)
    try:
        parsed = parse_consent_form(form, work.policy().quotas.web_identifiers_per_check)
        me = actor()
        recorded = ConsentService(work).record(
            me, professional=g.professional.username,
            pseudonyms=work.pseudonymise(me, parsed.identifiers), given_by=form.given_by,
            given_on=parsed.given_on, valid_until=parsed.valid_until,
            purposes=list(form.purposes), holder_types=list(form.holder_types))
    except (BrokerError, IdentifierError) as exc:
        failed()
        return _page(form.without_identifiers(), errors=[exc.message(current_language())])
    return _page(ConsentForm(given_on=work.today().isoformat()), recorded=recorded)


@bp.route("/consent/withdraw", methods=["POST"])
@login_required
def consent_withdraw() -> str:
    """Withdraw a consent record of one's organisation (by its id)."""
    work = uow()
    empty = ConsentForm(given_on=work.today().isoformat())
    consent_id = request.form.get("consent_id", "").strip()
    try:
        revoked = ConsentService(work).withdraw(actor(), consent_id,
                                                professional=g.professional.username)
    except BrokerError as exc:
        failed()
        return _page(empty, errors=[exc.message(current_language())])
    return _page(empty, withdrawn=(consent_id, revoked))
