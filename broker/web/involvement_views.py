"""My involvements: the organisation's active involvements by its own case reference, and per
involvement renew, end, the duty to inform (informed on a date, or postponed with a reason), and
the household's coordinator (propose, vote).

Thin: each action calls one service on the request's unit of work and answers with a redirect
to the involvement's page and a notice (POST-redirect-GET); a refusal shows the page again with
the message. Another organisation's involvement is "not found", as the services say.
"""

from __future__ import annotations

import datetime

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from broker.contact.coordinator import CoordinatorService
from broker.contact.inform import InformService
from broker.door import failed, uow
from broker.errors import BrokerError, ValidationError
from broker.registry.own import own_involvements
from broker.registry.services import RegistryService
from broker.web.errors import error_page
from broker.web.i18n import current_language, lazy_gettext
from broker.web.views import actor, bp, login_required

END_REASONS = {"concern_resolved": lazy_gettext("end_reason_concern_resolved"),
               "transferred": lazy_gettext("end_reason_transferred"),
               "no_longer_involved": lazy_gettext("end_reason_no_longer_involved")}
VOTES = {"agree": lazy_gettext("vote_agreed"), "decline": lazy_gettext("vote_declined"),
         "agreed": lazy_gettext("vote_agreed"), "declined": lazy_gettext("vote_declined")}
DONE = {"renew": lazy_gettext("done_renew"), "end": lazy_gettext("done_end"),
        "informed": lazy_gettext("done_informed"), "postpone": lazy_gettext("done_postpone"),
        "propose": lazy_gettext("done_propose"), "agree": lazy_gettext("done_agree"),
        "decline": lazy_gettext("done_decline")}


@bp.route("/involvements")
@login_required
def involvements() -> str:
    """The organisation's active involvements, soonest end first."""
    return render_template("involvements.html", rows=own_involvements(uow(), actor()),
                           errors=[])


def _date(name: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise ValidationError("Give a date like 2027-06-30.") from None


def _page(involvement_id: str, errors: list[str]) -> str:
    work, acting = uow(), actor()
    info = RegistryService(work).get_involvement(acting, involvement_id)
    coordination = None
    if info.state == "active" and info.ends_on >= work.today():
        coordination = CoordinatorService(work).current(acting, involvement_id)
    return render_template("involvement.html", info=info, coordination=coordination,
                           end_reasons=END_REASONS, votes=VOTES, today=work.today(),
                           errors=errors)


def _end_reason() -> str:
    """The reason chosen on the form; never one nobody chose in the audit log."""
    reason = request.form.get("reason", "")
    if reason not in END_REASONS:
        raise ValidationError("Choose why the involvement ends.")
    return reason


@bp.route("/involvements/<involvement_id>", methods=["GET", "POST"])
@login_required
def involvement(involvement_id: str) -> str | Response | tuple[str, int, dict[str, str]]:
    """One involvement and what can be done with it (another organisation's: not found)."""
    if request.method == "GET":
        try:
            return _page(involvement_id, [])
        except BrokerError as exc:
            failed()
            return error_page(exc.status, exc.message(current_language()))
    work, acting, me = uow(), actor(), g.professional.username
    action = request.form.get("action", "")
    try:
        if action == "renew":
            RegistryService(work).renew_involvement(
                acting, involvement_id, _date("ends_on") if request.form.get("ends_on")
                else None)
        elif action == "end":
            RegistryService(work).end_involvement(acting, involvement_id, _end_reason())
        elif action == "informed":
            InformService(work).record_informed(acting, involvement_id,
                                                informed_on=_date("informed_on"))
        elif action == "postpone":
            InformService(work).postpone(acting, involvement_id,
                                         reason=request.form.get("reason", ""),
                                         until=_date("until"))
        elif action == "propose":
            CoordinatorService(work).propose(acting, professional=me,
                                             involvement_id=involvement_id)
        elif action in ("agree", "decline"):
            CoordinatorService(work).vote(acting, request.form.get("proposal_id", ""),
                                          professional=me, involvement_id=involvement_id,
                                          agree=action == "agree")
        else:
            raise ValidationError("Choose one of the buttons.")
    except BrokerError as exc:
        failed()
        try:
            return _page(involvement_id, [exc.message(current_language())])
        except BrokerError as gone:
            return error_page(gone.status, gone.message(current_language()))
    flash(str(DONE[action]))
    if action == "end":
        return redirect(url_for("web.involvements"), code=303)
    return redirect(url_for("web.involvement", involvement_id=involvement_id), code=303)
