"""The ``Content-Digest`` field (RFC 9530 §2): a hash of the exact bytes of the message content.

A request signature (RFC 9421) covers the ``Content-Digest`` field, not the body itself; this
module ties the two together. The API checks the digest against the raw body *before* the body is
parsed, so a body that was changed in transit is refused before any of it is interpreted.

Rules this module guarantees:

- :func:`content_digest` produces ``sha-256=:<base64>:``, an RFC 8941 Dictionary with one Byte
  Sequence member (RFC 9530 §2 and §5: ``sha-256`` is the algorithm the registry marks "standard").
- :func:`verify_content_digest` parses the field as an RFC 8941 Dictionary (never by string
  matching). It accepts ``sha-256`` and ``sha-512``; other algorithms are ignored, as RFC 9530 §2
  allows ("a recipient MAY ignore any or all digests"). At least one accepted algorithm must be
  present, and *every* accepted algorithm that is present must match (RFC 9530 §6.7: a message
  carrying one good and one bad digest is refused, not half-trusted).
- Digests are compared in constant time (:func:`hmac.compare_digest`).
- Each failure raises a :class:`DigestError` subclass with a stable ``code``: missing, malformed
  (including a known algorithm whose value is not a Byte Sequence of the right length), or mismatch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from broker_primitives.errors import BilingualError
from broker_primitives.httpsig.structured_fields import Item, StructuredFieldError, parse_dictionary

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "DigestError",
    "DigestMalformed",
    "DigestMismatch",
    "DigestMissing",
    "content_digest",
    "verify_content_digest",
]

#: RFC 9530 §5 hash algorithm keys accepted here, with their :mod:`hashlib` names.
ACCEPTED_ALGORITHMS: dict[str, str] = {"sha-256": "sha256", "sha-512": "sha512"}


class DigestError(BilingualError):
    """The Content-Digest field is missing, malformed or does not match the body."""

    code = "content-digest"
    status = 400


class DigestMissing(DigestError):
    """The request has no Content-Digest field (or an empty one)."""

    code = "content-digest-missing"


class DigestMalformed(DigestError):
    """The Content-Digest field is not a Dictionary of accepted digests."""

    code = "content-digest-malformed"


class DigestMismatch(DigestError):
    """A digest in Content-Digest does not match the body that arrived."""

    code = "content-digest-mismatch"


def content_digest(body: bytes) -> str:
    """The Content-Digest field value for ``body``: ``sha-256=:<base64 of SHA-256(body)>:``."""
    encoded = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    return f"sha-256=:{encoded}:"


def verify_content_digest(header: str | None, body: bytes) -> None:
    """Check a Content-Digest field value against the body bytes exactly as received.

    Args:
        header: the field value (several field lines already combined with ", "), or None.
        body: the message content before any parsing or decoding.

    Raises:
        DigestMissing: no field, or an empty one.
        DigestMalformed: not an RFC 8941 Dictionary, no ``sha-256``/``sha-512`` member, or such a
            member is not a Byte Sequence of that algorithm's length.
        DigestMismatch: an accepted digest differs from the digest of ``body``.
    """
    if header is None or not header.strip(" \t"):
        raise DigestMissing(
            "The request has no Content-Digest field; send sha-256=:<base64 of the digest>:",
            "Het verzoek heeft geen Content-Digest-veld; stuur sha-256=:<base64 van de digest>:",
        )
    try:
        members = parse_dictionary(header)
    except StructuredFieldError as exc:
        raise DigestMalformed(
            f"Content-Digest is not a structured dictionary ({exc})",
            f"Content-Digest is geen gestructureerde dictionary ({exc})",
        ) from exc
    checked = 0
    for algorithm, hash_name in ACCEPTED_ALGORITHMS.items():
        member = members.get(algorithm)
        if member is None:
            continue
        expected = hashlib.new(hash_name, body).digest()
        if not (isinstance(member, Item) and isinstance(member.value, bytes)) or len(
            member.value
        ) != len(expected):
            raise DigestMalformed(
                f"Content-Digest member {algorithm} must be a byte sequence of "
                f"{len(expected)} bytes",
                f"Content-Digest-onderdeel {algorithm} moet een bytereeks van "
                f"{len(expected)} bytes zijn",
            )
        if not hmac.compare_digest(member.value, expected):
            raise DigestMismatch(
                f"Content-Digest {algorithm} does not match the body that arrived",
                f"Content-Digest {algorithm} komt niet overeen met de ontvangen body",
            )
        checked += 1
    if checked == 0:
        raise DigestMalformed(
            "Content-Digest has no sha-256 (or sha-512) member",
            "Content-Digest heeft geen sha-256- (of sha-512-)onderdeel",
        )
