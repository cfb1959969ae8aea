"""The contact hand-over's request and response bodies (marshmallow), as in broker.api.schemas.

Unknown fields are refused; lists are measured before their items and every string is bounded
by the database column it is stored in (:mod:`broker.api.body_fields`).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from broker.api.body_fields import (
    ORG_TYPE,
    PROFESSIONAL,
    PURPOSE,
    Items,
    LegalGround,
    Strict,
    doc,
)
from broker.api.schemas import MatchingKeyIn
from broker.registry.validation import MAX_KEYS_PER_INVOLVEMENT

_HANDLE = validate.Regexp(r"^[A-Za-z0-9_-]{10,64}$", error="Expected a match id.")
_UUID = validate.Regexp(r"^[0-9a-f-]{36}$", error="Expected an id.")


class ContactRequestIn(LegalGround):
    """Ask for contact on a match of one of your look-ups."""

    lookup_id = fields.String(
        required=True, validate=_UUID,
        metadata=doc("The look-up that showed the match."))
    match_id = fields.String(
        required=True, validate=_HANDLE,
        metadata=doc("The match's handle from that look-up."))
    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("The professional of your organisation who asks."))


class DecisionIn(Strict):
    """The holder's answer to a contact request."""

    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("The professional of the holder's organisation who decides."))
    decision = fields.String(
        required=True, validate=validate.OneOf(["approve", "deny"]),
        metadata=doc("approve or deny."))
    message = fields.String(
        validate=validate.Length(1, 2000),
        metadata=doc("An optional message to the requester (1 to 2000 characters)."))


class WithdrawalIn(Strict):
    """The requester takes back a pending request."""

    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("The professional of your organisation who withdraws the request."))


class ContactRequestOut(Schema):
    """A contact request as either side sees it; ``link_tokens`` holds the tokens of the
    caller's links on it, in the first GET after approval only (never again, never in a POST's
    answer)."""

    id = fields.String(required=True, metadata=doc("The contact request's id (a UUID)."))
    status = fields.String(
        required=True,
        metadata=doc("Where the request stands (pending, approved, denied, withdrawn, expired)."))
    mode = fields.String(required=True, metadata=doc("direct (no approval needed) or approval."))
    purpose = fields.String(required=True, metadata=doc("The purpose code."))
    legal_basis = fields.String(required=True, metadata=doc("The legal basis."))
    requester_organisation = fields.String(
        required=True,
        metadata=doc("The asking organisation's code."))
    requester_role = fields.String(required=True, metadata=doc("The asking professional's role."))
    created_at = fields.DateTime(required=True, metadata=doc("When it was asked (ISO 8601, UTC)."))
    expires_at = fields.DateTime(
        required=True,
        metadata=doc("When an unanswered request expires (ISO 8601, UTC)."))
    decision_message = fields.String(
        allow_none=True, required=True,
        metadata=doc("The holder's message with the decision; null if none."))
    link_tokens = fields.List(
        fields.String(), required=True,
        metadata=doc("Tokens of your organisation's contact links on this request: in the first "
                     "GET after approval only, never again."))
    approvals_required = fields.Integer(
        required=True,
        metadata=doc("Approvals of the holder's professionals the rule asks (0: granted "
                     "directly; 2: require_second_approver)."))
    approved_by = fields.List(
        fields.String(), required=True,
        metadata=doc("The holder's professionals (user names) who approved so far; shown to the "
                     "holder's organisation only (empty for the requester)."))


class ContactCardOut(Schema):
    """What a contact link shows: the fields the policy allows, the others null."""

    link_id = fields.String(required=True, metadata=doc("The contact link's id."))
    request_id = fields.String(required=True, metadata=doc("The contact request it belongs to."))
    expires_at = fields.DateTime(
        required=True,
        metadata=doc("When the link expires (ISO 8601, UTC)."))
    name = fields.String(
        allow_none=True, required=True,
        metadata=doc("The contact's name, or null when the policy withholds it."))
    role = fields.String(
        allow_none=True, required=True,
        metadata=doc("The contact's role, or null when the policy withholds it."))
    phone = fields.String(
        allow_none=True, required=True,
        metadata=doc("The contact's phone number, or null when the policy withholds it."))
    email = fields.String(
        allow_none=True, required=True,
        metadata=doc("The contact's e-mail address, or null when the policy withholds it."))
    organisation = fields.String(
        allow_none=True, required=True,
        metadata=doc("The contact's organisation, or null when the policy withholds it."))


class LinkRevokedOut(Schema):
    """A revoked link."""

    link_id = fields.String(required=True, metadata=doc("The revoked link's id."))
    revoked = fields.Boolean(required=True, metadata=doc("Always true."))


class ConsentIn(Strict):
    """A consent given to your organisation about one household, for the ``consent`` legal
    basis; the household's matching keys are made exactly as for a registration."""

    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("The professional of your organisation who records it."))
    matching_keys = Items(
        fields.Nested(MatchingKeyIn), required=True,
        validate=validate.Length(1, MAX_KEYS_PER_INVOLVEMENT),
        metadata=doc("The household's matching keys (as for a registration), 1 to 50."))
    given_by = fields.String(
        required=True, validate=validate.OneOf(["person", "parent", "guardian"]),
        metadata=doc("Who consented: person, parent or guardian."))
    given_on = fields.Date(
        required=True,
        metadata=doc("The day consent was given (ISO 8601 date)."))
    valid_until = fields.Date(
        required=True,
        metadata=doc("The last day it is valid (ISO 8601 date)."))
    purposes = Items(
        fields.String(validate=PURPOSE), required=True, validate=validate.Length(1, 20),
        metadata=doc("The purposes it covers (codes), 1 to 20."))
    holder_types = Items(
        fields.String(validate=ORG_TYPE), validate=validate.Length(0, 20),
        metadata=doc("The organisation types it may reach (codes), at most 20; empty or absent: "
                     "any."))


class ConsentOut(Schema):
    """A consent record (no name, no identifier, never its matching keys); its ``id`` is the
    consent reference of look-ups and contact requests."""

    id = fields.String(
        required=True,
        metadata=doc("The consent record's id; give it as consent_reference."))
    given_by = fields.String(
        required=True,
        metadata=doc("Who consented: person, parent or guardian."))
    given_on = fields.Date(required=True, metadata=doc("The day consent was given."))
    valid_until = fields.Date(required=True, metadata=doc("The last day it is valid."))
    purposes = fields.List(fields.String(), required=True, metadata=doc("The purposes it covers."))
    holder_types = fields.List(
        fields.String(), required=True,
        metadata=doc("The organisation types it may reach; empty: any."))
    recorded_by = fields.String(
        required=True,
        metadata=doc("User name of the professional who recorded it."))
    withdrawn = fields.Boolean(required=True, metadata=doc("True once withdrawn."))


class ConsentWithdrawnOut(Schema):
    """A withdrawn consent and how many contact links it took with it."""

    id = fields.String(required=True, metadata=doc("The withdrawn consent's id."))
    links_revoked = fields.Integer(
        required=True,
        metadata=doc("How many contact links were revoked with it."))


class AboutOut(Schema):
    """Who a message is about, as far as the policy lets its reader learn it."""

    organisation = fields.String(
        allow_none=True, required=True,
        metadata=doc("The organisation's name; null when the policy reveals only its kind."))
    org_type = fields.String(
        required=True, metadata=doc("The kind of organisation (a code of the policy)."))


class InboxEntryOut(Schema):
    """A message in a professional's inbox: what happened and to what (no person's name)."""

    id = fields.Integer(required=True, metadata=doc("The message's number."))
    kind = fields.String(required=True, metadata=doc("What happened (a code)."))
    reference = fields.String(
        required=True,
        metadata=doc("The public id of the request, link or look-up it is about."))
    created_at = fields.DateTime(required=True, metadata=doc("When (ISO 8601, UTC)."))
    read_at = fields.DateTime(
        allow_none=True, required=True,
        metadata=doc("When it was read; null while unread."))
    about = fields.Nested(
        AboutOut, allow_none=True, required=True,
        metadata=doc("Who a new match is about (the organisation that registered) as far as "
                     "the policy lets the reader learn it; null when it reveals nothing, and "
                     "for other kinds. The same as the web inbox shows."))


class InboxOut(Schema):
    """A professional's inbox, newest first."""

    messages = fields.List(
        fields.Nested(InboxEntryOut), required=True,
        metadata=doc("The professional's messages, newest first."))
