"""Web pages of the contact hand-over: the inbox, asking for contact on a match, answering a
request, opening and revoking a link. Thin: the same services as the API; a link opens only for
the signed-in professional it was issued to (its token is never needed on the web).

Asking for contact names only the look-up and the match: the purpose, the basis and its statute
or consent record come from the result this web session kept (broker.web.results), never from
hidden fields; under a vital interest the professional types the request's own justification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from broker.contact.links import LinkService
from broker.contact.services import ContactService
from broker.door import failed, uow
from broker.errors import BrokerError
from broker.notifications.services import PER_INVOLVEMENT, InboxEntry, inbox, mark_read
from broker.registry.lookups import Evidence
from broker.registry.own import own_involvements
from broker.web import results
from broker.web import sessions as web_sessions
from broker.web.i18n import current_language, gettext
from broker.web.views import actor, bp, login_required

# Messages that ask the reader to do something come first; messages about one of the
# organisation's own involvements (the kinds of PER_INVOLVEMENT) are grouped under it (by its
# case reference).
ACTIONABLE = ("contact_request", "coordinator_proposal", "inform_review_due")


def _field(name: str) -> str | None:
    return request.form.get(name, "").strip() or None


@bp.route("/contact/request", methods=["POST"])
@login_required
def contact_request() -> str | Response:
    """Ask for contact on a match shown by one's own look-up (kept for this session)."""
    live = web_sessions.current()
    lookup_id = request.form.get("lookup_id", "")
    found = results.kept(uow(), live.session_id, lookup_id) if live is not None else None
    if found is None:
        abort(404)
    choices = found[1]
    # A vital interest is weighed for this request: its justification is typed with it (the
    # look-up's was never kept, broker.web.results).
    justification = _field("justification") if choices.get("basis") == "vital_interest" else None
    try:
        view = ContactService(uow()).request(
            actor(), professional=g.professional.username, lookup_id=lookup_id,
            match_id=request.form.get("match_id", ""), purpose=choices.get("purpose", ""),
            basis=choices.get("basis", ""),
            evidence=Evidence(choices.get("consent_reference"), choices.get("statute"),
                              justification))
    except BrokerError as exc:
        failed()
        return render_template("contact_request.html", view=None,
                               errors=[exc.message(current_language())])
    return redirect(url_for("web.contact_request_page", request_id=view.id), code=303)


@bp.route("/contact/requests/<request_id>", methods=["GET", "POST"])
@login_required
def contact_request_page(request_id: str) -> str | Response:
    """A request: the holder approves or denies it (with a reason); the requester follows it
    or withdraws it."""
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
        else:
            return redirect(url_for("web.contact_request_page", request_id=request_id),
                            code=303)
    try:
        view = service.get(actor(), request_id, deliver=False)
    except BrokerError as exc:
        failed()
        return render_template("contact_request.html", view=None,
                               errors=[*errors, exc.message(current_language())])
    return render_template("contact_request.html", view=view, errors=errors)


@bp.route("/contact/links/<link_id>", methods=["GET", "POST"])
@login_required
def contact_link(link_id: str) -> str | Response:
    """The contact details a link shows, for the professional it was issued to; revoking it
    ends the contact on both sides."""
    service = LinkService(uow())
    if request.method == "POST":
        try:
            service.revoke(actor(), link_id=link_id)
        except BrokerError as exc:
            failed()
            return render_template("contact_link.html", card=None,
                                   errors=[exc.message(current_language())])
        flash(gettext("link_revoked"))
        return redirect(url_for("web.inbox_page"), code=303)
    try:
        card = service.open(actor(), link_id, g.professional.id)
    except BrokerError as exc:
        failed()
        return render_template("contact_link.html", card=None,
                               errors=[exc.message(current_language())])
    return render_template("contact_link.html", card=card, errors=[])


@dataclass
class InvolvementGroup:
    """The messages about one of the organisation's own involvements."""

    involvement_id: str
    case_reference: str | None
    messages: list[InboxEntry] = field(default_factory=list)

    @property
    def unread(self) -> int:
        """How many of its messages are unread."""
        return sum(1 for m in self.messages if m.read_at is None)


def _sorted_inbox(messages: list[InboxEntry], references: dict[str, str | None]
                  ) -> tuple[list[InboxEntry], list[InvolvementGroup], list[InboxEntry]]:
    """Actionable messages (unread first), groups per involvement, the rest."""
    actionable = sorted((m for m in messages if m.kind in ACTIONABLE),
                        key=lambda m: (m.read_at is not None, -m.id))
    groups: dict[str, InvolvementGroup] = {}
    other = []
    for message in messages:
        if message.kind in PER_INVOLVEMENT:
            groups.setdefault(message.reference, InvolvementGroup(
                message.reference, references.get(message.reference))).messages.append(message)
        elif message.kind not in ACTIONABLE:
            other.append(message)
    ordered = sorted(groups.values(), key=lambda grp: (grp.unread == 0, -grp.messages[0].id))
    return actionable, ordered, other


@bp.route("/inbox", methods=["GET", "POST"])
@login_required
def inbox_page() -> str | Response:
    """The signed-in professional's messages: what asks for action first, then the news per
    own involvement; marking them read is audited."""
    work, me = uow(), g.professional.username
    if request.method == "POST":
        mark_read(work, actor(), me)
        return redirect(url_for("web.inbox_page"), code=303)
    references = {i.id: i.case_reference for i in own_involvements(work, actor())}
    actionable, groups, other = _sorted_inbox(inbox(work, actor(), me), references)
    return render_template("inbox.html", actionable=actionable, groups=groups, other=other,
                           unread=sum(1 for m in [*actionable, *other] if m.read_at is None)
                           + sum(grp.unread for grp in groups), errors=[])
