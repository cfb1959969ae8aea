"""API v1 for the contact hand-over: requests, decisions, links, consents. Thin, and declared
like broker.api.views (route, body and answer schemas, operation: the OpenAPI document's source).

Link tokens travel in the path of ``/v1/contact-links/{token}``;
:class:`broker.contact.links.TokenRedaction` keeps them out of the access logs.
"""

from __future__ import annotations

import re
from typing import Any

from broker_primitives.blinding import Pseudonym
from flask import g, request

from broker.api import contact_schemas
from broker.api.idempotency import idempotent
from broker.api.openapi import (
    CONSENT_ID,
    PROFESSIONAL_PATTERN,
    PROFESSIONAL_QUERY,
    REQUEST_ID,
    TOKEN,
)
from broker.api.views import bp
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
_PROFESSIONAL = re.compile(PROFESSIONAL_PATTERN)  # as documented


def _professional_param() -> str:
    value = request.args.get("professional", "")
    if not _PROFESSIONAL.fullmatch(value):
        raise ValidationError("Name the acting professional: ?professional=<user name>.")
    return value


@bp.route("/contact-requests", methods=["POST"])
@bp.operation("requestContact", idempotency_key=True)
@idempotent
@bp.response(201, _REQUEST_OUT)
@bp.arguments(_REQUEST_IN)
def request_contact(ask: dict[str, Any]) -> Any:
    """Ask for contact with the holder of a match of one of your look-ups"""
    return ContactService(uow()).request(
        g.actor, professional=ask["professional"], lookup_id=ask["lookup_id"],
        match_id=ask["match_id"], purpose=ask["purpose"], basis=ask["basis"],
        evidence=Evidence(ask.get("consent_reference"), ask.get("statute"),
                          ask.get("justification")))


@bp.route("/contact-requests/<request_id>", methods=["GET"], parameters=[REQUEST_ID])
@bp.operation("getContactRequest")
@bp.response(200, _REQUEST_OUT)
def get_contact_request(request_id: str) -> Any:
    """A contact request of, or to, your organisation"""
    return ContactService(uow()).get(g.actor, request_id)


@bp.route("/contact-requests/<request_id>/decision", methods=["POST"], parameters=[REQUEST_ID])
@bp.operation("decideContactRequest", idempotency_key=True)
@idempotent
@bp.response(200, _REQUEST_OUT)
@bp.arguments(_DECISION_IN)
def decide_contact_request(answer: dict[str, Any], request_id: str) -> Any:
    """Approve or deny a contact request made to your organisation"""
    return ContactService(uow()).decide(
        g.actor, request_id, professional=answer["professional"],
        approve=answer["decision"] == "approve", message=answer.get("message"))


@bp.route("/contact-requests/<request_id>/withdrawal", methods=["POST"], parameters=[REQUEST_ID])
@bp.operation("withdrawContactRequest", idempotency_key=True)
@idempotent
@bp.response(200, _REQUEST_OUT)
@bp.arguments(_WITHDRAWAL_IN)
def withdraw_contact_request(who: dict[str, Any], request_id: str) -> Any:
    """Take back a pending contact request"""
    return ContactService(uow()).withdraw(g.actor, request_id, professional=who["professional"])


@bp.route("/contact-links/<token>", methods=["GET"], parameters=[TOKEN])
@bp.operation("openContactLink")
@bp.response(200, _CARD_OUT)
def open_contact_link(token: str) -> Any:
    """The contact details a link issued to your organisation shows"""
    return LinkService(uow()).open_by_token(g.actor, token)


@bp.route("/contact-links/<token>", methods=["DELETE"], parameters=[TOKEN])
@bp.operation("revokeContactLink")
@bp.response(200, _REVOKED_OUT)
def revoke_contact_link(token: str) -> dict[str, Any]:
    """Revoke a contact link (either side)"""
    return {"link_id": LinkService(uow()).revoke(g.actor, token=token), "revoked": True}


@bp.route("/consents", methods=["POST"])
@bp.operation("recordConsent", idempotency_key=True)
@idempotent
@bp.response(201, _CONSENT_OUT)
@bp.arguments(_CONSENT_IN)
def record_consent(given: dict[str, Any]) -> Any:
    """Record consent given to your organisation about one household (its matching keys)"""
    return ConsentService(uow()).record(
        g.actor, professional=given["professional"],
        pseudonyms=[Pseudonym(k["category"], k["element"], k["key_epoch"])
                    for k in given["matching_keys"]],
        given_by=given["given_by"],
        given_on=given["given_on"], valid_until=given["valid_until"],
        purposes=given["purposes"], holder_types=given.get("holder_types"))


@bp.route("/consents/<consent_id>", methods=["DELETE"], parameters=[CONSENT_ID])
@bp.operation("withdrawConsent", parameters=[PROFESSIONAL_QUERY])
@bp.response(200, _CONSENT_WITHDRAWN_OUT)
def withdraw_consent(consent_id: str) -> dict[str, Any]:
    """Withdraw consent (query parameter professional): its links are revoked"""
    revoked = ConsentService(uow()).withdraw(g.actor, consent_id,
                                             professional=_professional_param())
    return {"id": consent_id, "links_revoked": revoked}


@bp.route("/inbox", methods=["GET"])
@bp.operation("readInbox", parameters=[PROFESSIONAL_QUERY])
@bp.response(200, _INBOX_OUT)
def read_inbox() -> dict[str, Any]:
    """A professional's inbox, newest first (query parameters professional, unread)
    ---
    unread=1 lists the unread messages only.
    """
    messages = inbox(uow(), g.actor, _professional_param(),
                     unread_only=request.args.get("unread") == "1")
    return {"messages": messages}
