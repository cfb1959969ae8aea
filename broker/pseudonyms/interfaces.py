"""The evaluator of blinded elements as a small ``Protocol``, and the pseudonym service's wire
format shared by its server (:mod:`broker.pseudonym_service`) and the broker's remote client.

Two implementations: :class:`broker.pseudonyms.service.PseudonymService` evaluates in this
process with ``k`` from the key directory (the embedded default; the broker charges the quota in
its own database), and :class:`broker.pseudonyms.remote.RemoteEvaluator` asks the pseudonym
service over its RFC 9421-signed API (production; the service charges its own quota, and this
process never holds ``k``). ``BROKER_PSEUDONYM_SERVICE_URL`` chooses (:func:`build_evaluator`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from broker_primitives.blinding import Evaluation
from broker_primitives.httpsig.signature_policy import RESPONSE_COMPONENTS, SignaturePolicy

from broker.pseudonyms.quota import QuotaUse

#: The service's operations (evaluating; preparing and switching to the next epoch of ``k``, for
#: the broker's key only), and the key id of its answers' signatures.
EVALUATE_PATH = "/v1/evaluate"
NEXT_EPOCH_PATH = "/v1/keys/next"
ACTIVATE_PATH = "/v1/keys/activate"
SERVICE_KEY_ID = "pseudonym-service-1"
PROBLEM_PREFIX = "urn:broker:pseudonym-service:"
#: Tags of its own, so that no signature made for the broker's API is accepted here (or back).
REQUEST_TAG = "pseudonym-service-v1"
RESPONSE_TAG = "pseudonym-service-v1-response"
REQUEST_POLICY = SignaturePolicy(required_tag=REQUEST_TAG)
RESPONSE_POLICY = SignaturePolicy(required_components=RESPONSE_COMPONENTS,
                                  required_tag=RESPONSE_TAG, require_nonce=False)


@dataclass(frozen=True)
class Requester:
    """The organisation an evaluation is made for (its code and type: the type sets its quota)."""

    organisation: str
    organisation_type: str


@dataclass(frozen=True)
class EvaluatorAnswer:
    """Evaluated elements and, when the evaluator charged a quota itself, the quota after it."""

    evaluation: Evaluation
    quota: QuotaUse | None = None


@dataclass(frozen=True)
class NextEpoch:
    """The next epoch of ``k`` as the service hands it to the broker: its public half
    ``k_to·G`` and the factor ``k_to·k_from⁻¹`` that re-keys stored elements (never ``k``)."""

    from_epoch: int
    to_epoch: int
    public_key: bytes
    factor: bytes

    def __repr__(self) -> str:
        return f"<NextEpoch {self.from_epoch} -> {self.to_epoch}>"


class Evaluator(Protocol):
    """Evaluates blinded elements under ``k`` for an organisation (or for none)."""

    #: True when the evaluator charges the organisation's daily quota itself (the service).
    charges_quota: bool

    def evaluate(self, blinded_elements: Sequence[bytes], requester: Requester | None
                 ) -> EvaluatorAnswer:
        """Evaluate a batch; raises QuotaExceeded when the evaluator's own quota refuses it,
        ValidationError for a bad batch, and PseudonymServiceUnavailable when it cannot be
        reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def encode_element(element: bytes) -> str:
    """A group element (43 characters), a scalar or a proof (86) as base64url without padding,
    as the API sends it."""
    return base64.urlsafe_b64encode(element).rstrip(b"=").decode("ascii")


def decode_element(text: object) -> bytes:
    """The 32 bytes of a base64url element; ValueError for anything else."""
    return _decode_canonical(text, 43, "an element")


def decode_proof(text: object) -> bytes:
    """The 64 bytes of a base64url DLEQ proof (86 characters); ValueError for anything else."""
    return _decode_canonical(text, 86, "a proof")


def _decode_canonical(text: object, length: int, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != length or not text.isascii():
        raise ValueError(f"{what} is {length} base64url characters")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-length % 4))
    except binascii.Error:
        raise ValueError(f"{what} is {length} base64url characters") from None
    if encode_element(raw) != text:  # other characters, or non-canonical trailing bits
        raise ValueError(f"{what} is {length} canonical base64url characters")
    return raw
