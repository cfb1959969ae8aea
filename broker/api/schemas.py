"""The API's request and response bodies (marshmallow); the OpenAPI document is made from these.

Unknown fields are refused (``RAISE``): a typo in a field name is an error, not silently ignored.
Group elements travel as base64url without padding and are decoded to exactly 32 bytes here.

What a hostile body can cost is bounded here (together with :mod:`broker.api.bodies`): every
incoming list is a :class:`Items`, whose length is checked *before* any item is validated, and
every incoming string is bounded by the database column it is stored in (:func:`column_length`,
read from the models, so that the two cannot drift apart) — PostgreSQL refuses a longer value,
SQLite would silently store it.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import InstrumentedAttribute

from broker.audit.models import AuditEvent
from broker.contact.models import ContactRequest
from broker.pseudonyms.service import MAX_BATCH as MAX_EVALUATIONS
from broker.registry.models import Involvement, Organisation, Professional
from broker.registry.validation import MAX_BATCH, MAX_KEYS_PER_INVOLVEMENT

_B64URL = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, unpadded


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


ELEMENT_DESCRIPTION = ("A ristretto255 group element (RFC 9496 §4.3), 32 bytes, as base64url "
                       "without padding (RFC 4648 §5): exactly 43 characters.")


class Element(fields.Field[bytes]):
    """A ristretto255 element: 43 base64url characters (32 bytes) in JSON, bytes in Python.

    Its OpenAPI description (type, pattern, length, encoding) is added to whatever the field's
    own ``metadata`` says.
    """

    def __init__(self, **kwargs: Any) -> None:
        """Like any field; ``metadata["description"]`` says what this element is."""
        metadata = dict(kwargs.pop("metadata", None) or {})
        what = metadata.get("description")
        metadata.update(type="string", pattern=_B64URL.pattern, minLength=43, maxLength=43,
                        description=f"{what} {ELEMENT_DESCRIPTION}" if what else
                        ELEMENT_DESCRIPTION)
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else b64url(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or not _B64URL.match(value):
            raise ValidationError("Expected 43 base64url characters (32 bytes, no padding).")
        try:
            return base64.urlsafe_b64decode(value + "=")
        except (binascii.Error, ValueError):
            raise ValidationError("Not valid base64url.") from None


def _doc(description: str) -> dict[str, str]:
    """A field's description in the OpenAPI document."""
    return {"description": description}


def column_length(attribute: InstrumentedAttribute[Any]) -> int:
    """The declared length of a model's string column (``String(64)`` → 64)."""
    length = attribute.property.columns[0].type.length
    if not isinstance(length, int):
        raise TypeError(f"{attribute} has no declared length")
    return length


#: The largest value of an ``Integer`` column on both databases (32-bit signed in PostgreSQL).
MAX_INTEGER = 2**31 - 1


class Items(fields.List[Any]):
    """A list whose length (its ``validate.Length``) is checked before any item is validated.

    marshmallow validates every item first and the length afterwards: 50,000 empty objects would
    cost 150,000 field errors before the length refused them.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list | tuple):
            for validator in self.validators:
                if isinstance(validator, validate.Length):
                    validator(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Strict(Schema):
    """Refuses unknown fields."""

    class Meta:
        unknown = RAISE


_CODE = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{1,63}$", error="Expected a short code.")


def _code(attribute: InstrumentedAttribute[Any]) -> list[validate.Validator]:
    """A short code that fits ``attribute``'s column."""
    return [_CODE, validate.Length(max=column_length(attribute))]


_PROFESSIONAL = _code(Professional.username)
_PURPOSE = _code(Involvement.purpose)
_BASIS = _code(AuditEvent.legal_basis)
_END_REASON = _code(Involvement.end_reason)
_ORG_TYPE = _code(Organisation.org_type)
_STATUTE = validate.Length(1, min(column_length(AuditEvent.statute),
                                  column_length(ContactRequest.statute)))
_CONSENT_REFERENCE = validate.Length(1, column_length(AuditEvent.consent_reference))
_EPOCH = validate.Range(min=1, max=MAX_INTEGER)


class EvaluateRequest(Strict):
    """Blinded elements to evaluate under the pseudonym service's key."""

    blinded_elements = Items(Element(), required=True,
                                   validate=validate.Length(1, MAX_EVALUATIONS),
        metadata=_doc("Blinded elements B = r·H(input) to evaluate (RFC 9497 §3.3.1), 1 to 1000; "
                      "each counts against your organisation's daily quota."))


class EvaluateResponse(Schema):
    """Evaluated elements in request order, and the key epoch used."""

    evaluated_elements = fields.List(Element(), required=True,
        metadata=_doc("The evaluated elements k·B, in request order; unblind each with its r."))
    key_epoch = fields.Integer(required=True,
        metadata=_doc("The epoch of the pseudonym service's key k that evaluated them; send it "
                      "back with each matching key."))


class MatchingKeyIn(Strict):
    """``N = k·H(identifier)`` as the client unblinded it."""

    category = fields.String(required=True, validate=validate.OneOf(["person", "address"]),
        metadata=_doc("What the identifier was: person (a BSN, or family name, initial and date "
                      "of birth) or address."))
    element = Element(required=True,
        metadata=_doc("N = k·H(identifier), unblinded by the client."))
    key_epoch = fields.Integer(required=True, validate=_EPOCH,
        metadata=_doc("The epoch of k under which N was made (from the evaluation's answer)."))


class NewInvolvementIn(Strict):
    """One involvement to register."""

    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("User name of the contact professional of your organisation."))
    purpose = fields.String(required=True, validate=_PURPOSE,
        metadata=_doc("A purpose code of the policy (e.g. protection)."))
    ends_on = fields.Date(load_default=None,
        metadata=_doc("Last day (ISO 8601 date); absent or null: the policy's default period, "
                      "never beyond its maximum."))
    matching_keys = Items(fields.Nested(MatchingKeyIn), required=True,
                                validate=validate.Length(1, MAX_KEYS_PER_INVOLVEMENT),
        metadata=_doc("The household's matching keys, 1 to 50."))


class RegisterRequest(Strict):
    """One involvement, or a batch of up to 1000, registered all or none."""

    involvements = Items(fields.Nested(NewInvolvementIn), required=True,
                               validate=validate.Length(1, MAX_BATCH),
        metadata=_doc("1 to 1000 involvements, registered all or none."))


class InvolvementOut(Schema):
    """An involvement of the caller's organisation (its matching keys never leave)."""

    id = fields.String(required=True,
        metadata=_doc("The involvement's id (a UUID)."))
    organisation = fields.String(required=True, attribute="organisation_identifier",
        metadata=_doc("Your organisation's code."))
    professional = fields.String(required=True, attribute="professional_username",
        metadata=_doc("The contact professional's user name."))
    purpose = fields.String(required=True,
        metadata=_doc("The purpose code."))
    starts_on = fields.Date(required=True,
        metadata=_doc("First day (ISO 8601 date)."))
    ends_on = fields.Date(required=True,
        metadata=_doc("Last day (ISO 8601 date)."))
    state = fields.String(required=True,
        metadata=_doc("active or ended."))
    end_reason = fields.String(allow_none=True,
        metadata=_doc("Why it ended (a code); null while active."))
    key_count = fields.Integer(required=True,
        metadata=_doc("How many matching keys it holds (the keys themselves never leave the "
                      "broker)."))


class InvolvementList(Schema):
    """Registered involvements, in request order."""

    involvements = fields.List(fields.Nested(InvolvementOut), required=True,
        metadata=_doc("The registered involvements, in request order."))


class InvolvementPatch(Strict):
    """One change: renew (``ends_on``), change the contact (``professional``) or end
    (``state: ended``, optionally with ``end_reason``)."""

    ends_on = fields.Date(metadata={"description": "Renew: the new last day (ISO 8601 date)."})
    professional = fields.String(validate=_PROFESSIONAL,
        metadata=_doc("Change the contact professional to this user name."))
    state = fields.String(validate=validate.Equal("ended"),
        metadata=_doc("End it now: the value ended."))
    end_reason = fields.String(validate=_END_REASON,
        metadata=_doc("With state ended: why (a code; default concern_resolved)."))

    @validates_schema
    def _one_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        # One change per request, so that a request is carried out whole or not at all.
        changes = [name for name in ("ends_on", "professional", "state") if name in data]
        if len(changes) != 1:
            raise ValidationError("Give exactly one of ends_on, professional, or state: ended.")
        if "end_reason" in data and data.get("state") != "ended":
            raise ValidationError("end_reason goes with state: ended.", "end_reason")


class RegisterToo(Strict):
    """Register the caller's own involvement before the look-up (reciprocity)."""

    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("The professional to register as contact."))
    ends_on = fields.Date(load_default=None,
        metadata=_doc("Last day of your registration (ISO 8601 date; default: the policy's "
                      "period)."))


class LookupRequest(Strict):
    """A question about a household, with its purpose and legal basis."""

    matching_keys = Items(fields.Nested(MatchingKeyIn), required=True,
                                validate=validate.Length(1, MAX_KEYS_PER_INVOLVEMENT),
        metadata=_doc("The household's matching keys, 1 to 50."))
    purpose = fields.String(required=True, validate=_PURPOSE,
        metadata=_doc("Why you look: a purpose code of the policy."))
    basis = fields.String(required=True, validate=_BASIS,
        metadata=_doc("The legal basis: consent, legal_task or vital_interest."))
    consent_reference = fields.String(validate=_CONSENT_REFERENCE,
        metadata=_doc("With basis consent: the id of the consent record."))
    statute = fields.String(validate=_STATUTE,
        metadata=_doc("With basis legal_task: a statute code the policy lists for the purpose."))
    justification = fields.String(validate=validate.Length(1, 4000),
        metadata=_doc("With basis vital_interest: the written justification (the look-up is "
                      "flagged for review)."))
    professional = fields.String(validate=_PROFESSIONAL,
        metadata=_doc("The professional of your organisation on whose behalf you look."))
    register = fields.Nested(RegisterToo,
        metadata=_doc("Register your own involvement first (reciprocity), with these details."))


class MatchOut(Schema):
    """Another organisation's involvement, as far as the policy reveals it."""

    match_id = fields.String(required=True,
        metadata=_doc("Handle of this match, to ask for contact with."))
    matched_on = fields.List(fields.String(), required=True,
        metadata=_doc("Which kinds of key matched: person and/or address (never which "
                      "identifier)."))
    reveal = fields.String(required=True,
        metadata=_doc("What the policy reveals before contact: nothing, org_type or organisation."))
    org_type = fields.String(allow_none=True, required=True,
        metadata=_doc("The other organisation's type, when revealed; else null."))
    organisation = fields.String(allow_none=True, required=True,
        metadata=_doc("The other organisation's code, when revealed; else null."))
    contact = fields.String(required=True,
        metadata=_doc("How contact can be asked for under the policy's rule."))
    rule_id = fields.String(required=True,
        metadata=_doc("The policy rule that decided."))


class LookupResponse(Schema):
    """The answer to a look-up."""

    lookup_id = fields.String(required=True,
        metadata=_doc("The id of this look-up (give it with a contact request)."))
    matches = fields.List(fields.Nested(MatchOut), required=True,
        metadata=_doc("Other organisations' involvements, as far as the policy reveals them."))
    registration_required = fields.Boolean(required=True,
        metadata=_doc("True when the policy requires you to register first (reciprocity)."))
    policy_version = fields.String(required=True,
        metadata=_doc("Content hash of the policy that decided."))
    flagged_for_review = fields.Boolean(required=True,
        metadata=_doc("True when the look-up was flagged for an auditor's review."))


class Problem(Schema):
    """RFC 9457 problem details: ``type`` (``urn:broker:problem:<code>``, stable), ``title``,
    ``status`` and ``detail`` (what to do, in the client's language); for invalid fields
    ``errors`` (field path → messages; at most 20 fields) and ``errors_omitted`` (how many more
    fields were invalid)."""

    type = fields.String(required=True,
        metadata=_doc("urn:broker:problem:<code>; the code is stable."))
    title = fields.String(required=True,
        metadata=_doc("A short summary of the problem type."))
    status = fields.Integer(required=True,
        metadata=_doc("The HTTP status code."))
    detail = fields.String(required=True,
        metadata=_doc("What was wrong and what to do, in Dutch or English (Accept-Language)."))
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
        metadata=_doc("Field path → messages; at most 20 fields."))
    errors_omitted = fields.Integer(
        metadata=_doc("How many more fields were invalid than errors lists."))


# -- contact hand-over ---------------------------------------------------------------------------

_HANDLE = validate.Regexp(r"^[A-Za-z0-9_-]{10,64}$", error="Expected a match id.")
_UUID = validate.Regexp(r"^[0-9a-f-]{36}$", error="Expected an id.")


class ContactRequestIn(Strict):
    """Ask for contact on a match of one of your look-ups."""

    lookup_id = fields.String(required=True, validate=_UUID,
        metadata=_doc("The look-up that showed the match."))
    match_id = fields.String(required=True, validate=_HANDLE,
        metadata=_doc("The match's handle from that look-up."))
    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("The professional of your organisation who asks."))
    purpose = fields.String(required=True, validate=_PURPOSE,
        metadata=_doc("A purpose code of the policy."))
    basis = fields.String(required=True, validate=_BASIS,
        metadata=_doc("The legal basis: consent, legal_task or vital_interest."))
    consent_reference = fields.String(validate=_CONSENT_REFERENCE,
        metadata=_doc("With basis consent: the id of the consent record."))
    statute = fields.String(validate=_STATUTE,
        metadata=_doc("With basis legal_task: a statute code the policy lists for the purpose."))
    justification = fields.String(validate=validate.Length(1, 4000),
        metadata=_doc("With basis vital_interest: the written justification."))


class DecisionIn(Strict):
    """The holder's answer to a contact request."""

    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("The professional of the holder's organisation who decides."))
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "deny"]),
        metadata=_doc("approve or deny."))
    message = fields.String(validate=validate.Length(1, 2000),
        metadata=_doc("An optional message to the requester (1 to 2000 characters)."))


class WithdrawalIn(Strict):
    """The requester takes back a pending request."""

    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("The professional of your organisation who withdraws the request."))


class ContactRequestOut(Schema):
    """A contact request as either side sees it; ``link_tokens`` holds the tokens of the
    caller's links on it, in the first GET after approval only (never again, never in a POST's
    answer)."""

    id = fields.String(required=True,
        metadata=_doc("The contact request's id (a UUID)."))
    status = fields.String(required=True,
        metadata=_doc("Where the request stands (pending, approved, denied, withdrawn, expired)."))
    mode = fields.String(required=True,
        metadata=_doc("direct (no approval needed) or approval."))
    purpose = fields.String(required=True,
        metadata=_doc("The purpose code."))
    legal_basis = fields.String(required=True,
        metadata=_doc("The legal basis."))
    requester_organisation = fields.String(required=True,
        metadata=_doc("The asking organisation's code."))
    requester_role = fields.String(required=True,
        metadata=_doc("The asking professional's role."))
    created_at = fields.DateTime(required=True,
        metadata=_doc("When it was asked (ISO 8601, UTC)."))
    expires_at = fields.DateTime(required=True,
        metadata=_doc("When an unanswered request expires (ISO 8601, UTC)."))
    decision_message = fields.String(allow_none=True, required=True,
        metadata=_doc("The holder's message with the decision; null if none."))
    link_tokens = fields.List(fields.String(), required=True,
        metadata=_doc("Tokens of your organisation's contact links on this request: in the first "
                      "GET after approval only, never again."))


class ContactCardOut(Schema):
    """What a contact link shows: the fields the policy allows, the others null."""

    link_id = fields.String(required=True,
        metadata=_doc("The contact link's id."))
    request_id = fields.String(required=True,
        metadata=_doc("The contact request it belongs to."))
    expires_at = fields.DateTime(required=True,
        metadata=_doc("When the link expires (ISO 8601, UTC)."))
    name = fields.String(allow_none=True, required=True,
        metadata=_doc("The contact's name, or null when the policy withholds it."))
    role = fields.String(allow_none=True, required=True,
        metadata=_doc("The contact's role, or null when the policy withholds it."))
    phone = fields.String(allow_none=True, required=True,
        metadata=_doc("The contact's phone number, or null when the policy withholds it."))
    email = fields.String(allow_none=True, required=True,
        metadata=_doc("The contact's e-mail address, or null when the policy withholds it."))
    organisation = fields.String(allow_none=True, required=True,
        metadata=_doc("The contact's organisation, or null when the policy withholds it."))


class LinkRevokedOut(Schema):
    """A revoked link."""

    link_id = fields.String(required=True,
        metadata=_doc("The revoked link's id."))
    revoked = fields.Boolean(required=True,
        metadata=_doc("Always true."))


class ConsentIn(Strict):
    """A consent given to your organisation, for the ``consent`` legal basis."""

    professional = fields.String(required=True, validate=_PROFESSIONAL,
        metadata=_doc("The professional of your organisation who records it."))
    given_by = fields.String(required=True,
                             validate=validate.OneOf(["person", "parent", "guardian"]),
        metadata=_doc("Who consented: person, parent or guardian."))
    given_on = fields.Date(required=True,
        metadata=_doc("The day consent was given (ISO 8601 date)."))
    valid_until = fields.Date(required=True,
        metadata=_doc("The last day it is valid (ISO 8601 date)."))
    purposes = Items(fields.String(validate=_PURPOSE), required=True,
                     validate=validate.Length(1, 20),
        metadata=_doc("The purposes it covers (codes), 1 to 20."))
    holder_types = Items(fields.String(validate=_ORG_TYPE), validate=validate.Length(0, 20),
        metadata=_doc("The organisation types it may reach (codes), at most 20; empty or absent: "
                      "any."))


class ConsentOut(Schema):
    """A consent record (no name, no identifier)."""

    id = fields.String(required=True,
        metadata=_doc("The consent record's id; give it as consent_reference."))
    given_by = fields.String(required=True,
        metadata=_doc("Who consented: person, parent or guardian."))
    given_on = fields.Date(required=True,
        metadata=_doc("The day consent was given."))
    valid_until = fields.Date(required=True,
        metadata=_doc("The last day it is valid."))
    purposes = fields.List(fields.String(), required=True,
        metadata=_doc("The purposes it covers."))
    holder_types = fields.List(fields.String(), required=True,
        metadata=_doc("The organisation types it may reach; empty: any."))
    recorded_by = fields.String(required=True,
        metadata=_doc("User name of the professional who recorded it."))
    withdrawn = fields.Boolean(required=True,
        metadata=_doc("True once withdrawn."))


class ConsentWithdrawnOut(Schema):
    """A withdrawn consent and how many contact links it took with it."""

    id = fields.String(required=True,
        metadata=_doc("The withdrawn consent's id."))
    links_revoked = fields.Integer(required=True,
        metadata=_doc("How many contact links were revoked with it."))


class InboxEntryOut(Schema):
    """A message in a professional's inbox: what happened and to what (no names)."""

    id = fields.Integer(required=True,
        metadata=_doc("The message's number."))
    kind = fields.String(required=True,
        metadata=_doc("What happened (a code)."))
    reference = fields.String(required=True,
        metadata=_doc("The public id of the request, link or look-up it is about."))
    created_at = fields.DateTime(required=True,
        metadata=_doc("When (ISO 8601, UTC)."))
    read_at = fields.DateTime(allow_none=True, required=True,
        metadata=_doc("When it was read; null while unread."))


class InboxOut(Schema):
    """A professional's inbox, newest first."""

    messages = fields.List(fields.Nested(InboxEntryOut), required=True,
        metadata=_doc("The professional's messages, newest first."))
