"""API v1 for the contact hand-over: requests, decisions, links, consents. Thin, like views.

Link tokens travel in the path of ``/v1/contact-links/{token}``;
:class:`broker.contact.links.TokenRedaction` keeps them out of the access logs.
"""

from __future__ import annotations

import re

from broker_primitives.blinding import Pseudonym
from flask import Response, g, request

from broker.api import contact_schemas
from broker.api.idempotency import idempotent
from broker.api.views import bp, json_response, read_body
from broker.contact.consents import ConsentService
from broker.contact.links import LinkService
from broker.contact.services import ContactService
from broker.door import uow
from broker.errors import ValidationError
from broker.notifications.services import inbox
from broker.registry.lookups import Evidence

_REQUEST_IN = contact_schemas.ContactRequestIn()
_REQUEST_OUT = contact_schemas.ContactRequestOut()
_DECISION_IN = contact_schemas.DecisionIn()
_WITHDRAWAL_IN = contact_schemas.WithdrawalIn()
_CARD_OUT = contact_schemas.ContactCardOut()
_REVOKED_OUT = contact_schemas.LinkRevokedOut()
_CONSENT_IN = contact_schemas.ConsentIn()
_CONSENT_OUT = contact_schemas.ConsentOut()
_CONSENT_WITHDRAWN_OUT = contact_schemas.ConsentWithdrawnOut()
_INBOX_OUT = contact_schemas.InboxOut()


def _professional_param() -> str:
    value = request.args.get("professional", "")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{1,63}", value):
        raise ValidationError("Name the acting professional: ?professional=<user name>.")
    return value


@bp.post("/contact-requests")
@idempotent
def request_contact() -> Response:
    """Ask for contact with the holder of a match."""
    ask = read_body(_REQUEST_IN)
    view = ContactService(uow()).request(
        g.actor, professional=ask["professional"], lookup_id=ask["lookup_id"],
        match_id=ask["match_id"], purpose=ask["purpose"], basis=ask["basis"],
        evidence=Evidence(ask.get("consent_reference"), ask.get("statute"),
                          ask.get("justification")))
    return json_response(_REQUEST_OUT, view, 201)


@bp.get("/contact-requests/<request_id>")
def get_contact_request(request_id: str) -> Response:
    """A contact request of (or to) your organisation."""
    return json_response(_REQUEST_OUT, ContactService(uow()).get(g.actor, request_id))


@bp.post("/contact-requests/<request_id>/decision")
@idempotent
def decide_contact_request(request_id: str) -> Response:
    """Approve or deny a request made to your organisation."""
    answer = read_body(_DECISION_IN)
    view = ContactService(uow()).decide(
        g.actor, request_id, professional=answer["professional"],
        approve=answer["decision"] == "approve", message=answer.get("message"))
    return json_response(_REQUEST_OUT, view)


@bp.post("/contact-requests/<request_id>/withdrawal")
@idempotent
def withdraw_contact_request(request_id: str) -> Response:
    """Take back a pending request of your organisation."""
    who = read_body(_WITHDRAWAL_IN)
    view = ContactService(uow()).withdraw(g.actor, request_id,
                                            professional=who["professional"])
    return json_response(_REQUEST_OUT, view)


@bp.get("/contact-links/<token>")
def open_contact_link(token: str) -> Response:
    """The contact details a link issued to your organisation shows."""
    return json_response(_CARD_OUT, LinkService(uow()).open_by_token(g.actor, token))


@bp.delete("/contact-links/<token>")
def revoke_contact_link(token: str) -> Response:
    """Revoke a link (either side)."""
    link_id = LinkService(uow()).revoke(g.actor, token=token)
    return json_response(_REVOKED_OUT, {"link_id": link_id, "revoked": True})


@bp.post("/consents")
@idempotent
def record_consent() -> Response:
    """Record consent given to your organisation about one household (its matching keys)."""
    given = read_body(_CONSENT_IN)
    info = ConsentService(uow()).record(
        g.actor, professional=given["professional"],
        pseudonyms=[Pseudonym(k["category"], k["element"], k["key_epoch"])
                    for k in given["matching_keys"]],
        given_by=given["given_by"],
        given_on=given["given_on"], valid_until=given["valid_until"],
        purposes=given["purposes"], holder_types=given.get("holder_types"))
    return json_response(_CONSENT_OUT, info, 201)


@bp.delete("/consents/<consent_id>")
def withdraw_consent(consent_id: str) -> Response:
    """Withdraw consent: no new requests under it, and its links are revoked."""
    revoked = ConsentService(uow()).withdraw(g.actor, consent_id,
                                               professional=_professional_param())
    return json_response(_CONSENT_WITHDRAWN_OUT, {"id": consent_id, "links_revoked": revoked})


@bp.get("/inbox")
def read_inbox() -> Response:
    """A professional's inbox (query parameters professional, and unread=1 for unread only)."""
    messages = inbox(uow(), g.actor, _professional_param(),
                     unread_only=request.args.get("unread") == "1")
    return json_response(_INBOX_OUT, {"messages": messages})
