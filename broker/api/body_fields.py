"""The building blocks of the API's bodies: group elements, bounded lists and bounded codes.

Rules these guarantee (:mod:`broker.api.schemas` builds every body from them):

- A group element is exactly 43 base64url characters without padding (32 bytes, RFC 4648 §5) and
  documents itself so in the OpenAPI document.
- An :class:`Items` list checks its length before any item is validated.
- A string that ends up in a database column is bounded by that column's declared length, read
  from the model (:func:`column_length`), so that schemas and models cannot drift apart;
  PostgreSQL refuses a longer value, SQLite would silently store it.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import InstrumentedAttribute

from broker.audit.models import AuditEvent
from broker.contact.models import ContactRequest
from broker.registry.models import Involvement, Organisation, Professional

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


def doc(description: str) -> dict[str, str]:
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


CODE = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{1,63}$", error="Expected a short code.")


def code_of(attribute: InstrumentedAttribute[Any]) -> list[validate.Validator]:
    """A short code that fits ``attribute``'s column."""
    return [CODE, validate.Length(max=column_length(attribute))]


PROFESSIONAL = code_of(Professional.username)
PURPOSE = code_of(Involvement.purpose)
BASIS = code_of(AuditEvent.legal_basis)
END_REASON = code_of(Involvement.end_reason)
ORG_TYPE = code_of(Organisation.org_type)
STATUTE = validate.Length(1, min(column_length(AuditEvent.statute),
                                  column_length(ContactRequest.statute)))
CONSENT_REFERENCE = validate.Length(1, column_length(AuditEvent.consent_reference))
EPOCH = validate.Range(min=1, max=MAX_INTEGER)


class LegalGround(Strict):
    """Why and on what ground one asks (a look-up, a contact request): the purpose, the legal
    basis and the one piece of evidence that basis needs."""

    purpose = fields.String(
        required=True, validate=PURPOSE,
        metadata=doc("A purpose code of the policy."))
    basis = fields.String(
        required=True, validate=BASIS,
        metadata=doc("The legal basis: consent, legal_task or vital_interest."))
    consent_reference = fields.String(
        validate=CONSENT_REFERENCE,
        metadata=doc("With basis consent: the id of a consent record of your organisation "
                     "about this household (POST /v1/consents)."))
    statute = fields.String(
        validate=STATUTE,
        metadata=doc("With basis legal_task: a statute code the policy lists for the purpose."))
    justification = fields.String(
        validate=validate.Length(1, 4000),
        metadata=doc("With basis vital_interest: the written justification (the use is flagged "
                     "for review)."))
