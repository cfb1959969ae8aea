"""The API's request and response bodies (marshmallow); the OpenAPI document is made from these.

Unknown fields are refused (``RAISE``): a typo in a field name is an error, not silently ignored.
Group elements travel as base64url without padding and are decoded to exactly 32 bytes here.
Every field carries its description for the OpenAPI document.

What a hostile body can cost is bounded here (together with :mod:`broker.api.bodies`): every
incoming list is an :class:`~broker.api.body_fields.Items`, whose length is checked *before* any
item is validated, and every incoming string is bounded by the database column it is stored in
(:mod:`broker.api.body_fields`).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from broker.api.body_fields import (
    END_REASON,
    EPOCH,
    PROFESSIONAL,
    PURPOSE,
    Element,
    Items,
    LegalGround,
    Strict,
    doc,
)
from broker.api.body_fields import b64url as b64url  # noqa: PLC0414 - re-exported (PEP 484)
from broker.pseudonyms.service import MAX_BATCH as MAX_EVALUATIONS
from broker.registry.validation import MAX_BATCH, MAX_KEYS_PER_INVOLVEMENT


class EvaluateRequest(Strict):
    """Blinded elements to evaluate under the pseudonym service's key."""

    blinded_elements = Items(
        Element(), required=True, validate=validate.Length(1, MAX_EVALUATIONS),
        metadata=doc("Blinded elements B = r·H(input) to evaluate (RFC 9497 §3.3.1), 1 to 1000; "
                     "each counts against your organisation's daily quota."))


class EvaluateResponse(Schema):
    """Evaluated elements in request order, and the key epoch used."""

    evaluated_elements = fields.List(
        Element(), required=True,
        metadata=doc("The evaluated elements k·B, in request order; unblind each with its r."))
    key_epoch = fields.Integer(
        required=True,
        metadata=doc("The epoch of the pseudonym service's key k that evaluated them; send it back"
                     " with each matching key."))


class MatchingKeyIn(Strict):
    """``N = k·H(identifier)`` as the client unblinded it."""

    category = fields.String(
        required=True, validate=validate.OneOf(["person", "address"]),
        metadata=doc("What the identifier was: person (a BSN, or family name, initial and date of "
                     "birth) or address."))
    element = Element(required=True, metadata=doc("N = k·H(identifier), unblinded by the client."))
    key_epoch = fields.Integer(
        required=True, validate=EPOCH,
        metadata=doc("The epoch of k under which N was made (from the evaluation's answer)."))


class NewInvolvementIn(Strict):
    """One involvement to register."""

    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("User name of the contact professional of your organisation."))
    purpose = fields.String(
        required=True, validate=PURPOSE,
        metadata=doc("A purpose code of the policy (e.g. protection)."))
    ends_on = fields.Date(
        load_default=None,
        metadata=doc("Last day (ISO 8601 date); absent or null: the policy's default period, never"
                     " beyond its maximum."))
    matching_keys = Items(
        fields.Nested(MatchingKeyIn), required=True, validate=validate.Length(1,
        MAX_KEYS_PER_INVOLVEMENT),
        metadata=doc("The household's matching keys, 1 to 50."))


class RegisterRequest(Strict):
    """One involvement, or a batch of up to 1000, registered all or none."""

    involvements = Items(
        fields.Nested(NewInvolvementIn), required=True, validate=validate.Length(1, MAX_BATCH),
        metadata=doc("1 to 1000 involvements, registered all or none."))


class InvolvementOut(Schema):
    """An involvement of the caller's organisation (its matching keys never leave)."""

    id = fields.String(required=True, metadata=doc("The involvement's id (a UUID)."))
    organisation = fields.String(
        required=True, attribute="organisation_identifier",
        metadata=doc("Your organisation's code."))
    professional = fields.String(
        required=True, attribute="professional_username",
        metadata=doc("The contact professional's user name."))
    purpose = fields.String(required=True, metadata=doc("The purpose code."))
    starts_on = fields.Date(required=True, metadata=doc("First day (ISO 8601 date)."))
    ends_on = fields.Date(required=True, metadata=doc("Last day (ISO 8601 date)."))
    state = fields.String(required=True, metadata=doc("active or ended."))
    end_reason = fields.String(
        allow_none=True,
        metadata=doc("Why it ended (a code); null while active."))
    key_count = fields.Integer(
        required=True,
        metadata=doc("How many matching keys it holds (the keys themselves never leave the "
                     "broker)."))


class InvolvementList(Schema):
    """Registered involvements, in request order."""

    involvements = fields.List(
        fields.Nested(InvolvementOut), required=True,
        metadata=doc("The registered involvements, in request order."))


class InvolvementPatch(Strict):
    """One change: renew (``ends_on``), change the contact (``professional``) or end
    (``state: ended``, optionally with ``end_reason``)."""

    ends_on = fields.Date(metadata={"description": "Renew: the new last day (ISO 8601 date)."})
    professional = fields.String(
        validate=PROFESSIONAL,
        metadata=doc("Change the contact professional to this user name."))
    state = fields.String(
        validate=validate.Equal("ended"),
        metadata=doc("End it now: the value ended."))
    end_reason = fields.String(
        validate=END_REASON,
        metadata=doc("With state ended: why (a code; default concern_resolved)."))

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

    professional = fields.String(
        required=True, validate=PROFESSIONAL,
        metadata=doc("The professional to register as contact."))
    ends_on = fields.Date(
        load_default=None,
        metadata=doc("Last day of your registration (ISO 8601 date; default: the policy's "
                     "period)."))


class LookupRequest(LegalGround):
    """A question about a household, with its purpose and legal basis."""

    matching_keys = Items(
        fields.Nested(MatchingKeyIn), required=True, validate=validate.Length(1,
        MAX_KEYS_PER_INVOLVEMENT),
        metadata=doc("The household's matching keys, 1 to 50."))
    professional = fields.String(
        validate=PROFESSIONAL,
        metadata=doc("The professional of your organisation on whose behalf you look."))
    register = fields.Nested(
        RegisterToo,
        metadata=doc("Register your own involvement first (reciprocity), with these details."))


class MatchOut(Schema):
    """Another organisation's involvement, as far as the policy reveals it."""

    match_id = fields.String(
        required=True,
        metadata=doc("Handle of this match, to ask for contact with."))
    matched_on = fields.List(
        fields.String(), required=True,
        metadata=doc("Which kinds of key matched: person and/or address (never which identifier)."))
    reveal = fields.String(
        required=True,
        metadata=doc("What the policy reveals before contact: nothing, org_type or organisation."))
    org_type = fields.String(
        allow_none=True, required=True,
        metadata=doc("The other organisation's type, when revealed; else null."))
    organisation = fields.String(
        allow_none=True, required=True,
        metadata=doc("The other organisation's code, when revealed; else null."))
    contact = fields.String(
        required=True,
        metadata=doc("How contact can be asked for under the policy's rule."))
    rule_id = fields.String(required=True, metadata=doc("The policy rule that decided."))


class LookupResponse(Schema):
    """The answer to a look-up."""

    lookup_id = fields.String(
        required=True,
        metadata=doc("The id of this look-up (give it with a contact request)."))
    matches = fields.List(
        fields.Nested(MatchOut), required=True,
        metadata=doc("The organisations the policy lets you see. The policy may withhold "
                     "others: an empty list does not mean that no one else is involved."))
    registration_required = fields.Boolean(
        required=True,
        metadata=doc("The policy shows some kinds of organisation only to organisations "
                     "registered on the household themselves (reciprocity, judged per "
                     "household), and yours is not registered on every identifier of this "
                     "question: register on them and ask again. It depends on the policy and "
                     "your own registrations only, never on anyone else's."))
    policy_version = fields.String(
        required=True,
        metadata=doc("Content hash of the policy that decided."))
    flagged_for_review = fields.Boolean(
        required=True,
        metadata=doc("True when the look-up was flagged for an auditor's review."))


class Problem(Schema):
    """RFC 9457 problem details: ``type`` (``urn:broker:problem:<code>``, stable), ``title``,
    ``status`` and ``detail`` (what to do, in the client's language); for invalid fields
    ``errors`` (field path → messages; at most 20 fields) and ``errors_omitted`` (how many more
    fields were invalid)."""

    type = fields.String(
        required=True,
        metadata=doc("urn:broker:problem:<code>; the code is stable."))
    title = fields.String(required=True, metadata=doc("A short summary of the problem type."))
    status = fields.Integer(required=True, metadata=doc("The HTTP status code."))
    detail = fields.String(
        required=True,
        metadata=doc("What was wrong and what to do, in Dutch or English (Accept-Language)."))
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata=doc("Field path → messages; at most 20 fields."))
    errors_omitted = fields.Integer(
        metadata=doc("How many more fields were invalid than errors lists."))
