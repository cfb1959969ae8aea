"""The pseudonym service in this process (the embedded default): evaluates blinded elements
under the OPRF key ``k`` read from the key directory. It is one :class:`Evaluator`
(:mod:`broker.pseudonyms.interfaces`); the broker charges the quota in its own database
(:meth:`broker.core.UnitOfWork.evaluate`), so this evaluator charges none. In production the
pseudonym service runs as its own process (:mod:`broker.pseudonym_service`) and the broker uses
:class:`broker.pseudonyms.remote.RemoteEvaluator` instead.

It sees only blinded elements (RFC 9497 §3.3.1: ``blindedElement = blind·H(input)``), never an
identifier and never an unblinded result. Every batch is validated whole before any evaluation:
one bad element refuses the batch and says which one.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker_primitives import oprf
from broker_primitives.blinding import Evaluation

from broker.errors import ValidationError
from broker.pseudonyms.interfaces import EvaluatorAnswer, Requester
from broker.pseudonyms.keys import FileKeyStore

MAX_BATCH = 1000


class PseudonymService:
    """Evaluates batches of blinded elements with the current OPRF key."""

    charges_quota = False

    def __init__(self, keystore: FileKeyStore) -> None:
        self.keystore = keystore

    def evaluate(self, blinded_elements: Sequence[bytes], requester: Requester | None = None
                 ) -> EvaluatorAnswer:
        """Evaluate a batch of 1 to :data:`MAX_BATCH` blinded elements (for whomever: the
        broker charged the quota before asking)."""
        if not 1 <= len(blinded_elements) <= MAX_BATCH:
            raise ValidationError(
                "Send between 1 and %(max_batch)s blinded elements per request.",
                code="batch-size", max_batch=MAX_BATCH)
        epoch, k = self.keystore.current("oprf")
        try:
            elements = oprf.blind_evaluate_batch(k, blinded_elements)
        except oprf.OprfError as exc:
            raise ValidationError(
                "A blinded element is not valid: %(exc)s",
                code="invalid-element", exc=exc) from exc
        return EvaluatorAnswer(Evaluation(elements, epoch))

    def close(self) -> None:
        """Nothing to release."""
