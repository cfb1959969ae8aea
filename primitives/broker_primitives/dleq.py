"""RFC 9497 §2.2 discrete-log-equality proofs over ristretto255-SHA512.

The pseudonym service proves with every batch it evaluates that it used the key ``k`` whose
public half ``pkS = k·G`` the broker pinned: ``evaluated[i] = k·blinded[i]`` for every ``i``.
Without the proof a service (or anyone answering in its place) could evaluate some requests under
another key — for example one key per organisation, splitting the registry into islands that never
match — and nobody would notice.

Rules this module guarantees:

* The proof is exactly RFC 9497's: ComputeComposites (§2.2.1, batched with per-element weights
  from a seed over ``pkS``), the challenge transcript and ``proof = c || s`` (§2.2.1
  GenerateProof, §2.2.2 VerifyProof), hashed under the VOPRF context string (mode 1); the RFC's
  Appendix A.1.2 vectors prove it.
* The broker's elements are hashed in OPRF mode (mode 0), so that stored matching keys stay
  ``N = k·H(input)`` for the inputs every client already made; the proof only attests the
  relation between blinded and evaluated elements, which does not depend on how the inputs were
  hashed. This is the one departure from a full VOPRF run, and it is why the proof, not the mode,
  is what we adopt.
* :func:`verify_proof` validates every element and both scalars before using them and returns a
  plain boolean; it never raises for a wrong proof.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import pysodium

from broker_primitives import oprf

__all__ = ["PROOF_SIZE", "generate_proof", "public_key", "verify_proof"]

PROOF_SIZE = 2 * oprf.SCALAR_SIZE
_CONTEXT = oprf.context_string(oprf.MODE_VOPRF)


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def public_key(sk: bytes) -> bytes:
    """``pkS = sk·G`` (RFC 9497 §3.2)."""
    oprf.validate_scalar(sk)
    return bytes(pysodium.crypto_scalarmult_ristretto255_base(sk))


def _hash_to_scalar(transcript: bytes) -> bytes:
    return oprf.hash_to_scalar(transcript, dst=b"HashToScalar-" + _CONTEXT)


def _add(a: bytes, b: bytes) -> bytes:
    return bytes(pysodium.crypto_core_ristretto255_add(a, b))


def _mult(scalar: bytes, element: bytes) -> bytes:
    return bytes(pysodium.crypto_scalarmult_ristretto255(scalar, element))


def _composites(pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes]
                ) -> tuple[bytes, bytes]:
    """ComputeComposites (§2.2.1): ``M = Σ dᵢ·Cᵢ`` and ``Z = Σ dᵢ·Dᵢ``."""
    seed_dst = b"Seed-" + _CONTEXT
    seed = hashlib.sha512(_prefixed(pk) + _prefixed(seed_dst)).digest()
    m = z = bytes(oprf.ELEMENT_SIZE)  # the identity
    for index, (c, d) in enumerate(zip(blinded, evaluated, strict=True)):
        transcript = (_prefixed(seed) + index.to_bytes(2, "big") + _prefixed(c) + _prefixed(d)
                      + b"Composite")
        weight = _hash_to_scalar(transcript)
        m = _add(_mult(weight, c), m)
        z = _add(_mult(weight, d), z)
    return m, z


def _challenge(pk: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes) -> bytes:
    transcript = b"".join(_prefixed(part) for part in (pk, m, z, t2, t3)) + b"Challenge"
    return _hash_to_scalar(transcript)


def generate_proof(sk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes],
                   r: bytes | None = None) -> bytes:
    """Server: ``c || s`` proving ``evaluated[i] = sk·blinded[i]`` for all ``i`` (§2.2.1).

    ``r`` is drawn at random unless given (the RFC vectors give it).
    """
    if not blinded or len(blinded) != len(evaluated):
        raise oprf.OprfError("a proof needs as many evaluated as blinded elements, at least one")
    pk = public_key(sk)
    m, _ = _composites(pk, blinded, evaluated)
    z = _mult(sk, m)  # ComputeCompositesFast
    nonce = oprf.generate_key() if r is None else oprf.validate_scalar(r)
    t2 = bytes(pysodium.crypto_scalarmult_ristretto255_base(nonce))
    t3 = _mult(nonce, m)
    c = _challenge(pk, m, z, t2, t3)
    s = bytes(pysodium.crypto_core_ristretto255_scalar_sub(
        nonce, pysodium.crypto_core_ristretto255_scalar_mul(c, sk)))
    return c + s


def verify_proof(pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes],
                 proof: bytes) -> bool:
    """Client: True when ``proof`` shows ``evaluated[i] = k·blinded[i]`` for the ``k`` of
    ``pk`` (§2.2.2 VerifyProof)."""
    if (not blinded or len(blinded) != len(evaluated) or not isinstance(proof, bytes)
            or len(proof) != PROOF_SIZE):
        return False
    c, s = proof[:oprf.SCALAR_SIZE], proof[oprf.SCALAR_SIZE:]
    try:
        for element in (pk, *blinded, *evaluated):
            oprf.validate_element(element)
        for scalar in (c, s):
            oprf.validate_scalar(scalar)
        m, z = _composites(pk, blinded, evaluated)
        t2 = _add(bytes(pysodium.crypto_scalarmult_ristretto255_base(s)), _mult(c, pk))
        t3 = _add(_mult(s, m), _mult(c, z))
    except (oprf.OprfError, ValueError):
        return False
    return hmac.compare_digest(_challenge(pk, m, z, t2, t3), c)
