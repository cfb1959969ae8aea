"""The client's half of the OPRF: blind, let the pseudonym service evaluate, unblind.

Used by the web form, the CLI and the Python client alike, so every door turns an identifier
into the same ``N = k·H(tagged canonical identifier)``. The identifier never leaves this function:
only blinded elements go to the evaluator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from broker_primitives import oprf
from broker_primitives.identifiers import Category, Identifier


@dataclass(frozen=True)
class Evaluation:
    """Evaluated elements, in the order of the request, and the key epoch used."""

    elements: list[bytes]
    key_epoch: int


@dataclass(frozen=True)
class Pseudonym:
    """``N = k·H(identifier)`` as a client unblinded it, with the OPRF epoch of ``k``."""

    category: Category
    element: bytes
    oprf_epoch: int

    def __repr__(self) -> str:
        return f"<Pseudonym {self.category} epoch={self.oprf_epoch}>"


Evaluator = Callable[[Sequence[bytes]], Evaluation]


def pseudonymise(identifiers: Sequence[Identifier], evaluate: Evaluator) -> list[Pseudonym]:
    """Turn identifiers into pseudonyms through one batched evaluation."""
    if not identifiers:
        return []
    blinded = [oprf.blind(identifier.tagged_bytes) for identifier in identifiers]
    evaluation = evaluate([element for _, element in blinded])
    if len(evaluation.elements) != len(identifiers):
        raise oprf.OprfError("the pseudonym service returned a different number of elements")
    return [
        Pseudonym(identifier.category, oprf.unblind(blind, element), evaluation.key_epoch)
        for identifier, (blind, _), element in zip(
            identifiers, blinded, evaluation.elements, strict=True
        )
    ]
