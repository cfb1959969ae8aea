"""Web pages of the contact hand-over: the inbox, asking for contact on a match, answering a
request, opening a link. Thin: the same services as the API; a link opens only for the
signed-in professional it was issued to (its token is never needed on the web)."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from broker.contact.links import LinkService
from broker.contact.services import ContactService
from broker.door import failed, uow
from broker.errors import BrokerError
from broker.notifications.services import inbox, mark_read
from broker.registry.lookups import Evidence
from broker.web.i18n import current_language
from broker.web.views import actor, bp, login_required


def _field(name: str) -> str | None:
    return request.form.get(name, "").strip() or None


@bp.route("/contact/request", methods=["POST"])
@login_required
def contact_request() -> str | Response:
    """Ask for contact on a match shown by one's own look-up."""
    try:
        view = ContactService(uow()).request(
            actor(), professional=g.professional.username,
            lookup_id=request.form.get("lookup_id", ""), match_id=request.form.get("match_id", ""),
            purpose=request.form.get("purpose", ""), basis=request.form.get("basis", ""),
            evidence=Evidence(_field("consent_reference"), _field("statute"),
                              _field("justification")))
    except BrokerError as exc:
        failed()
        return render_template("contact_request.html", view=None,
                               errors=[exc.message(current_language())])
    return redirect(url_for("web.contact_request_page", request_id=view.id))


@bp.route("/contact/requests/<request_id>", methods=["GET", "POST"])
@login_required
def contact_request_page(request_id: str) -> str:
    """A request: the holder answers it; the requester follows it or withdraws it."""
    service, errors = ContactService(uow()), []
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "withdraw":
                service.withdraw(actor(), request_id, professional=g.professional.username)
            elif action in ("approve", "deny"):
                service.decide(actor(), request_id, professional=g.professional.username,
                               approve=action == "approve", message=_field("message"))
        except BrokerError as exc:
            failed()
            errors.append(exc.message(current_language()))
    try:
        view = service.get(actor(), request_id, deliver=False)
    except BrokerError as exc:
        failed()
        return render_template("contact_request.html", view=None,
                               errors=[*errors, exc.message(current_language())])
    return render_template("contact_request.html", view=view, errors=errors)


@bp.route("/contact/links/<link_id>")
@login_required
def contact_link(link_id: str) -> str:
    """The contact details a link shows, for the professional it was issued to."""
    try:
        card = LinkService(uow()).open(actor(), link_id, g.professional.id)
    except BrokerError as exc:
        failed()
        return render_template("contact_link.html", card=None,
                               errors=[exc.message(current_language())])
    return render_template("contact_link.html", card=card, errors=[])


@bp.route("/inbox", methods=["GET", "POST"])
@login_required
def inbox_page() -> str:
    """The signed-in professional's messages; reading them marks them read (audited)."""
    work, me = uow(), g.professional.username
    if request.method == "POST":
        mark_read(work, actor(), me)
    return render_template("inbox.html", messages=inbox(work, actor(), me))
