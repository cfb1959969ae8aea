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


class Element(fields.Field[bytes]):
    """A ristretto255 element: 43 base64url characters (32 bytes) in JSON, bytes in Python."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else b64url(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or not _B64URL.match(value):
            raise ValidationError("Expected 43 base64url characters (32 bytes, no padding).")
        try:
            return base64.urlsafe_b64decode(value + "=")
        except (binascii.Error, ValueError):
            raise ValidationError("Not valid base64url.") from None


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
                                   validate=validate.Length(1, MAX_EVALUATIONS))


class EvaluateResponse(Schema):
    """Evaluated elements in request order, and the key epoch used."""

    evaluated_elements = fields.List(Element(), required=True)
    key_epoch = fields.Integer(required=True)


class MatchingKeyIn(Strict):
    """``N = k·H(identifier)`` as the client unblinded it."""

    category = fields.String(required=True, validate=validate.OneOf(["person", "address"]))
    element = Element(required=True)
    key_epoch = fields.Integer(required=True, validate=_EPOCH)


class NewInvolvementIn(Strict):
    """One involvement to register."""

    professional = fields.String(required=True, validate=_PROFESSIONAL)
    purpose = fields.String(required=True, validate=_PURPOSE)
    ends_on = fields.Date(load_default=None)
    matching_keys = Items(fields.Nested(MatchingKeyIn), required=True,
                                validate=validate.Length(1, MAX_KEYS_PER_INVOLVEMENT))


class RegisterRequest(Strict):
    """One involvement, or a batch of up to 1000, registered all or none."""

    involvements = Items(fields.Nested(NewInvolvementIn), required=True,
                               validate=validate.Length(1, MAX_BATCH))


class InvolvementOut(Schema):
    """An involvement of the caller's organisation (its matching keys never leave)."""

    id = fields.String(required=True)
    organisation = fields.String(required=True, attribute="organisation_identifier")
    professional = fields.String(required=True, attribute="professional_username")
    purpose = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    state = fields.String(required=True)
    end_reason = fields.String(allow_none=True)
    key_count = fields.Integer(required=True)


class InvolvementList(Schema):
    """Registered involvements, in request order."""

    involvements = fields.List(fields.Nested(InvolvementOut), required=True)


class InvolvementPatch(Strict):
    """One change: renew (``ends_on``), change the contact (``professional``) or end
    (``state: ended``, optionally with ``end_reason``)."""

    ends_on = fields.Date()
    professional = fields.String(validate=_PROFESSIONAL)
    state = fields.String(validate=validate.Equal("ended"))
    end_reason = fields.String(validate=_END_REASON)

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

    professional = fields.String(required=True, validate=_PROFESSIONAL)
    ends_on = fields.Date(load_default=None)


class LookupRequest(Strict):
    """A question about a household, with its purpose and legal basis."""

    matching_keys = Items(fields.Nested(MatchingKeyIn), required=True,
                                validate=validate.Length(1, MAX_KEYS_PER_INVOLVEMENT))
    purpose = fields.String(required=True, validate=_PURPOSE)
    basis = fields.String(required=True, validate=_BASIS)
    consent_reference = fields.String(validate=_CONSENT_REFERENCE)
    statute = fields.String(validate=_STATUTE)
    justification = fields.String(validate=validate.Length(1, 4000))
    professional = fields.String(validate=_PROFESSIONAL)
    register = fields.Nested(RegisterToo)


class MatchOut(Schema):
    """Another organisation's involvement, as far as the policy reveals it."""

    match_id = fields.String(required=True)
    matched_on = fields.List(fields.String(), required=True)
    reveal = fields.String(required=True)
    org_type = fields.String(allow_none=True, required=True)
    organisation = fields.String(allow_none=True, required=True)
    contact = fields.String(required=True)
    rule_id = fields.String(required=True)


class LookupResponse(Schema):
    """The answer to a look-up."""

    lookup_id = fields.String(required=True)
    matches = fields.List(fields.Nested(MatchOut), required=True)
    registration_required = fields.Boolean(required=True)
    policy_version = fields.String(required=True)
    flagged_for_review = fields.Boolean(required=True)


class Problem(Schema):
    """RFC 9457 problem details: ``type`` (``urn:broker:problem:<code>``, stable), ``title``,
    ``status`` and ``detail`` (what to do, in the client's language); for invalid fields
    ``errors`` (field path → messages; at most 20 fields) and ``errors_omitted`` (how many more
    fields were invalid)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    errors_omitted = fields.Integer()


# -- contact hand-over ---------------------------------------------------------------------------

_HANDLE = validate.Regexp(r"^[A-Za-z0-9_-]{10,64}$", error="Expected a match id.")
_UUID = validate.Regexp(r"^[0-9a-f-]{36}$", error="Expected an id.")


class ContactRequestIn(Strict):
    """Ask for contact on a match of one of your look-ups."""

    lookup_id = fields.String(required=True, validate=_UUID)
    match_id = fields.String(required=True, validate=_HANDLE)
    professional = fields.String(required=True, validate=_PROFESSIONAL)
    purpose = fields.String(required=True, validate=_PURPOSE)
    basis = fields.String(required=True, validate=_BASIS)
    consent_reference = fields.String(validate=_CONSENT_REFERENCE)
    statute = fields.String(validate=_STATUTE)
    justification = fields.String(validate=validate.Length(1, 4000))


class DecisionIn(Strict):
    """The holder's answer to a contact request."""

    professional = fields.String(required=True, validate=_PROFESSIONAL)
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "deny"]))
    message = fields.String(validate=validate.Length(1, 2000))


class WithdrawalIn(Strict):
    """The requester takes back a pending request."""

    professional = fields.String(required=True, validate=_PROFESSIONAL)


class ContactRequestOut(Schema):
    """A contact request as either side sees it; ``link_tokens`` holds the tokens of the
    caller's links on it, in the first GET after approval only (never again, never in a POST's
    answer)."""

    id = fields.String(required=True)
    status = fields.String(required=True)
    mode = fields.String(required=True)
    purpose = fields.String(required=True)
    legal_basis = fields.String(required=True)
    requester_organisation = fields.String(required=True)
    requester_role = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    decision_message = fields.String(allow_none=True, required=True)
    link_tokens = fields.List(fields.String(), required=True)


class ContactCardOut(Schema):
    """What a contact link shows: the fields the policy allows, the others null."""

    link_id = fields.String(required=True)
    request_id = fields.String(required=True)
    expires_at = fields.DateTime(required=True)
    name = fields.String(allow_none=True, required=True)
    role = fields.String(allow_none=True, required=True)
    phone = fields.String(allow_none=True, required=True)
    email = fields.String(allow_none=True, required=True)
    organisation = fields.String(allow_none=True, required=True)


class LinkRevokedOut(Schema):
    """A revoked link."""

    link_id = fields.String(required=True)
    revoked = fields.Boolean(required=True)


class ConsentIn(Strict):
    """A consent given to your organisation, for the ``consent`` legal basis."""

    professional = fields.String(required=True, validate=_PROFESSIONAL)
    given_by = fields.String(required=True,
                             validate=validate.OneOf(["person", "parent", "guardian"]))
    given_on = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    purposes = Items(fields.String(validate=_PURPOSE), required=True,
                     validate=validate.Length(1, 20))
    holder_types = Items(fields.String(validate=_ORG_TYPE), validate=validate.Length(0, 20))


class ConsentOut(Schema):
    """A consent record (no name, no identifier)."""

    id = fields.String(required=True)
    given_by = fields.String(required=True)
    given_on = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    purposes = fields.List(fields.String(), required=True)
    holder_types = fields.List(fields.String(), required=True)
    recorded_by = fields.String(required=True)
    withdrawn = fields.Boolean(required=True)


class ConsentWithdrawnOut(Schema):
    """A withdrawn consent and how many contact links it took with it."""

    id = fields.String(required=True)
    links_revoked = fields.Integer(required=True)


class InboxEntryOut(Schema):
    """A message in a professional's inbox: what happened and to what (no names)."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    reference = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True, required=True)


class InboxOut(Schema):
    """A professional's inbox, newest first."""

    messages = fields.List(fields.Nested(InboxEntryOut), required=True)
