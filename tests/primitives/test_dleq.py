"""Tests for broker_primitives.dleq: the RFC 9497 Appendix A.1.2 (VOPRF) proof vectors, and
refusals of proofs that do not fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from broker_primitives import dleq, oprf

VECTORS_PATH = Path(__file__).parent / "data" / "rfc9497-ristretto255-sha512.json"
(VOPRF,) = [s for s in json.loads(VECTORS_PATH.read_text()) if s["mode"] == oprf.MODE_VOPRF]


def _split(field: str) -> list[bytes]:
    return [bytes.fromhex(part) for part in field.split(",")]


@pytest.mark.parametrize("vector", VOPRF["vectors"], ids=lambda v: f"batch{v['Batch']}")
def test_the_rfc_vectors_prove_and_verify(vector: dict[str, Any]) -> None:
    sk, pk = bytes.fromhex(VOPRF["skSm"]), bytes.fromhex(VOPRF["pkSm"])
    blinded, evaluated = _split(vector["BlindedElement"]), _split(vector["EvaluationElement"])
    assert dleq.public_key(sk) == pk
    assert oprf.blind_evaluate_batch(sk, blinded) == evaluated
    proof = dleq.generate_proof(sk, blinded, evaluated, r=bytes.fromhex(vector["Proof"]["r"]))
    assert proof.hex() == vector["Proof"]["proof"]
    assert dleq.verify_proof(pk, blinded, evaluated, proof)


def test_a_proof_fails_for_another_key_another_element_or_a_changed_byte() -> None:
    sk, other = oprf.generate_key(), oprf.generate_key()
    blinded = [oprf.blind(b"bsn|123456782")[1], oprf.blind(b"bsn|111222333")[1]]
    evaluated = oprf.blind_evaluate_batch(sk, blinded)
    proof = dleq.generate_proof(sk, blinded, evaluated)
    assert dleq.verify_proof(dleq.public_key(sk), blinded, evaluated, proof)
    assert not dleq.verify_proof(dleq.public_key(other), blinded, evaluated, proof)
    mixed = [evaluated[0], oprf.blind_evaluate(other, blinded[1])]
    assert not dleq.verify_proof(dleq.public_key(sk), blinded, mixed, proof)
    assert not dleq.verify_proof(dleq.public_key(sk), blinded, evaluated,
                                 proof[:-1] + bytes([proof[-1] ^ 1]))
    assert not dleq.verify_proof(dleq.public_key(sk), blinded, evaluated, proof[:10])
    assert not dleq.verify_proof(dleq.public_key(sk), blinded, evaluated[:1], proof)
    assert not dleq.verify_proof(dleq.public_key(sk), [bytes(32)] * 2, evaluated, proof)
