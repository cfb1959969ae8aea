"""RFC 9497 oblivious PRF, OPRF mode (mode 0), suite ristretto255-SHA512, over libsodium.

This module is the cryptographic core of the matching key (DESIGN.md, "Matching key"): the client
blinds an identifier, the pseudonym service evaluates it under its key ``k`` without learning it,
and the client unblinds to ``N = k·HashToGroup(input)``. The broker then stores ``T = b·N``.

Rules this module guarantees:

* Every byte string handed in is checked before it is used. Elements must be the canonical
  32-byte ristretto255 encoding of a point other than the identity (RFC 9497 §4.1,
  DeserializeElement; §3.3.1); anything else raises :class:`InvalidElementError`. Scalars must be
  32 bytes, little-endian, canonical (< group order L) and non-zero (RFC 9497 §4.1,
  DeserializeScalar; §3.2); anything else raises :class:`InvalidScalarError`.
* No operation returns the identity element: a zero result from libsodium's scalar
  multiplication becomes an :class:`OprfError`, never a silent all-zero output.
* A batch is validated whole before any element is evaluated, so one bad element refuses the
  batch and the error names its index.
* Hashing follows RFC 9380 §5.3.1 (expand_message_xmd with SHA-512) with the domain separation
  tags of RFC 9497 §4.1; key derivation follows RFC 9497 §3.2.1; blinding, evaluation and
  finalisation follow RFC 9497 §3.3.1. The RFC 9497 Appendix A.1.1 test vectors prove it.
* Because the pseudonym stored is the group element ``N`` and not the Finalize hash, keys can be
  rotated in place: :func:`rotation_factor` gives ``k_new·k_old⁻¹``.

Python cannot wipe memory, so secret scalars live as ordinary ``bytes``; keep their lifetime
short and never log them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import pysodium

__all__ = [
    "ELEMENT_SIZE",
    "MODE_OPRF",
    "MODE_POPRF",
    "MODE_VOPRF",
    "SCALAR_SIZE",
    "SUITE_ID",
    "DeriveKeyPairError",
    "InvalidElementError",
    "InvalidScalarError",
    "OprfError",
    "blind",
    "blind_evaluate",
    "blind_evaluate_batch",
    "context_string",
    "derive_key_pair",
    "evaluate",
    "expand_message_xmd",
    "finalize",
    "generate_key",
    "hash_to_group",
    "hash_to_scalar",
    "rotation_factor",
    "scalar_invert",
    "scalar_mul",
    "scalar_mult",
    "unblind",
    "validate_element",
    "validate_scalar",
]

SUITE_ID = "ristretto255-SHA512"
MODE_OPRF = 0
# Modes 1 and 2 exist only so that the RFC's key-derivation vectors for them can be checked;
# this module implements the OPRF protocol (mode 0) only.
MODE_VOPRF = 1
MODE_POPRF = 2
ELEMENT_SIZE = 32  # Ne, RFC 9497 §4.1
SCALAR_SIZE = 32  # Ns, RFC 9497 §4.1

_MODES = (MODE_OPRF, MODE_VOPRF, MODE_POPRF)
_HASH_SIZE = 64  # Nh for SHA-512
_HASH_BLOCK_SIZE = 128  # s_in_bytes for SHA-512, RFC 9380 §5.3.1
_UNIFORM_BYTES = 64  # 64 uniform bytes per element or scalar, RFC 9497 §4.1
_MAX_I2OSP2 = 0xFFFF  # largest length I2OSP(_, 2) can encode
_MAX_DST = 255  # RFC 9380 §5.3.1: len(DST) must fit in one byte
_MAX_COUNTER = 255  # RFC 9497 §3.2.1
_IDENTITY = bytes(ELEMENT_SIZE)  # ristretto255 encodes the identity as 32 zero bytes


class OprfError(Exception):
    """Base class of every error raised by this module."""


class InvalidElementError(OprfError):
    """An element is not a canonical ristretto255 encoding, or it is the identity.

    ``index`` is set when the element came from a batch, so the caller can say which one.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        """Keep the message and, for a batch, the position of the bad element."""
        super().__init__(message)
        self.index = index


class InvalidScalarError(OprfError):
    """A scalar has the wrong length, is zero, or is not canonical (not below the group order)."""


class DeriveKeyPairError(OprfError):
    """DeriveKeyPair got an unusable seed or info, or found no non-zero scalar (RFC 9497 §3.2.1)."""


# --- encoding helpers -------------------------------------------------------------------------


def _i2osp(value: int, length: int) -> bytes:
    """I2OSP from RFC 8017 §4.1: ``value`` as ``length`` big-endian bytes."""
    return value.to_bytes(length, "big")


def _length_prefixed(data: bytes, what: str) -> bytes:
    """``I2OSP(len(data), 2) || data``, refusing data too long to prefix (RFC 9497 §3.3.1)."""
    if len(data) > _MAX_I2OSP2:
        raise OprfError(f"{what} is {len(data)} bytes; at most {_MAX_I2OSP2} are allowed")
    return _i2osp(len(data), 2) + data


def context_string(mode: int) -> bytes:
    """Return ``"OPRFV1-" || I2OSP(mode, 1) || "-" || SUITE_ID`` (RFC 9497 §3.1).

    Raises :class:`OprfError` for a mode other than 0 (OPRF), 1 (VOPRF) or 2 (POPRF).
    """
    if mode not in _MODES:
        raise OprfError(f"unknown RFC 9497 mode {mode!r}; expected one of {_MODES}")
    return b"OPRFV1-" + _i2osp(mode, 1) + b"-" + SUITE_ID.encode("ascii")


# --- hashing ------------------------------------------------------------------------------------


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """Expand ``msg`` to ``len_in_bytes`` uniform bytes with SHA-512 (RFC 9380 §5.3.1).

    Raises :class:`OprfError` when the DST is empty or longer than 255 bytes (this module never
    needs RFC 9380 §5.3.3's oversize-DST hashing), or when ``len_in_bytes`` is not in
    1..min(255·64, 65535).
    """
    if not 1 <= len(dst) <= _MAX_DST:
        raise OprfError(f"DST must be 1..{_MAX_DST} bytes, got {len(dst)}")
    ell = -(-len_in_bytes // _HASH_SIZE)
    if len_in_bytes < 1 or ell > _MAX_COUNTER or len_in_bytes > _MAX_I2OSP2:
        raise OprfError(f"cannot expand to {len_in_bytes} bytes with SHA-512")
    dst_prime = dst + _i2osp(len(dst), 1)
    z_pad = bytes(_HASH_BLOCK_SIZE)
    msg_prime = z_pad + msg + _i2osp(len_in_bytes, 2) + _i2osp(0, 1) + dst_prime
    b_0 = hashlib.sha512(msg_prime).digest()
    b_i = hashlib.sha512(b_0 + _i2osp(1, 1) + dst_prime).digest()
    uniform = [b_i]
    for i in range(2, ell + 1):
        chained = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha512(chained + _i2osp(i, 1) + dst_prime).digest()
        uniform.append(b_i)
    return b"".join(uniform)[:len_in_bytes]


def hash_to_group(msg: bytes, mode: int = MODE_OPRF) -> bytes:
    """Hash ``msg`` to a ristretto255 element (RFC 9497 §4.1, RFC 9380 hash_to_ristretto255).

    Uses DST ``"HashToGroup-" || contextString`` and maps 64 uniform bytes with libsodium's
    ``crypto_core_ristretto255_from_hash`` (RFC 9496 §4.3.4). The result may in theory be the
    identity; :func:`blind` and :func:`evaluate` refuse that case.
    """
    dst = b"HashToGroup-" + context_string(mode)
    uniform = expand_message_xmd(msg, dst, _UNIFORM_BYTES)
    return bytes(pysodium.crypto_core_ristretto255_from_hash(uniform))


def hash_to_scalar(msg: bytes, mode: int = MODE_OPRF, dst: bytes | None = None) -> bytes:
    """Hash ``msg`` to a scalar mod L (RFC 9497 §4.1): 64 uniform bytes, reduced little-endian.

    The DST defaults to ``"HashToScalar-" || contextString``. The result may be zero; callers
    that need a non-zero scalar check for it (as :func:`derive_key_pair` does).
    """
    if dst is None:
        dst = b"HashToScalar-" + context_string(mode)
    uniform = expand_message_xmd(msg, dst, _UNIFORM_BYTES)
    return bytes(pysodium.crypto_core_ristretto255_scalar_reduce(uniform))


# --- validation ---------------------------------------------------------------------------------


def validate_element(element: bytes) -> bytes:
    """Return ``element`` if it is a valid, non-identity ristretto255 encoding.

    RFC 9497 §4.1 DeserializeElement: the 32 bytes must decode canonically (RFC 9496 §4.3.1) and
    must not be the identity. Raises :class:`InvalidElementError` otherwise.
    """
    if not isinstance(element, bytes) or len(element) != ELEMENT_SIZE:
        size = len(element) if isinstance(element, bytes) else type(element).__name__
        raise InvalidElementError(f"an element must be {ELEMENT_SIZE} bytes, got {size}")
    if not pysodium.crypto_core_ristretto255_is_valid_point(element):
        raise InvalidElementError("not a canonical ristretto255 encoding")
    # libsodium accepts the identity as a valid point; RFC 9497 §4.1 says to refuse it.
    if hmac.compare_digest(element, _IDENTITY):
        raise InvalidElementError("the identity element is not allowed")
    return element


def _is_canonical_scalar(scalar: bytes) -> bool:
    """True when the 32 little-endian bytes are below L (reduction leaves them unchanged)."""
    reduced = pysodium.crypto_core_ristretto255_scalar_reduce(scalar + bytes(SCALAR_SIZE))
    return hmac.compare_digest(bytes(reduced), scalar)


def validate_scalar(scalar: bytes) -> bytes:
    """Return ``scalar`` if it is 32 bytes, canonical (< L) and non-zero.

    RFC 9497 §4.1 DeserializeScalar refuses non-canonical scalars; keys and blinds must be
    non-zero (§3.2, §3.3.1). Raises :class:`InvalidScalarError` otherwise.
    """
    if not isinstance(scalar, bytes) or len(scalar) != SCALAR_SIZE:
        size = len(scalar) if isinstance(scalar, bytes) else type(scalar).__name__
        raise InvalidScalarError(f"a scalar must be {SCALAR_SIZE} bytes, got {size}")
    if not _is_canonical_scalar(scalar):
        raise InvalidScalarError("scalar is not canonical (not below the group order)")
    if hmac.compare_digest(scalar, bytes(SCALAR_SIZE)):
        raise InvalidScalarError("scalar is zero")
    return scalar


# --- group operations ---------------------------------------------------------------------------


def scalar_mult(scalar: bytes, element: bytes) -> bytes:
    """Return ``scalar·element`` after validating both; never returns the identity.

    Raises :class:`InvalidScalarError` or :class:`InvalidElementError` for bad input, and
    :class:`OprfError` if libsodium refuses the product (it refuses an identity result).
    """
    validate_scalar(scalar)
    validate_element(element)
    try:
        product = bytes(pysodium.crypto_scalarmult_ristretto255(scalar, element))
    except ValueError as exc:
        # In a prime-order group a non-zero scalar times a non-identity element is never the
        # identity, so this is unreachable for validated input; keep it loud all the same.
        raise OprfError("scalar multiplication gave the identity element") from exc
    return validate_element(product)


def scalar_mult_trusted(scalar: bytes, element: bytes) -> bytes:
    """``scalar·element`` for a scalar and an element the caller has already validated.

    For the broker's hot path: its keys are validated when loaded and clients' elements once on
    arrival, so the repeated encoding checks of :func:`scalar_mult` (about 15 µs each) are
    skipped. libsodium still decodes ``element`` canonically and refuses an invalid encoding,
    the identity, and an identity result: all of these raise :class:`InvalidElementError`.
    """
    try:
        return bytes(pysodium.crypto_scalarmult_ristretto255(scalar, element))
    except ValueError as exc:
        raise InvalidElementError("invalid element, or an identity input or result") from exc


def _scalar_mult_base(scalar: bytes) -> bytes:
    """Return ``scalar·G`` for a validated scalar (RFC 9497 ScalarMultGen)."""
    validate_scalar(scalar)
    try:
        return validate_element(bytes(pysodium.crypto_scalarmult_ristretto255_base(scalar)))
    except ValueError as exc:
        raise OprfError("base-point multiplication gave the identity element") from exc


def scalar_mul(a: bytes, b: bytes) -> bytes:
    """Return ``a·b mod L`` for two valid non-zero scalars (the product is then non-zero)."""
    validate_scalar(a)
    validate_scalar(b)
    return bytes(pysodium.crypto_core_ristretto255_scalar_mul(a, b))


def scalar_invert(s: bytes) -> bytes:
    """Return ``s⁻¹ mod L`` for a valid non-zero scalar."""
    validate_scalar(s)
    try:
        return bytes(pysodium.crypto_core_ristretto255_scalar_invert(s))
    except ValueError as exc:  # libsodium refuses only zero, which validate_scalar has excluded
        raise InvalidScalarError("scalar has no inverse") from exc


def rotation_factor(old_sk: bytes, new_sk: bytes) -> bytes:
    """Return ``new_sk·old_sk⁻¹``, so that ``T_new = rotation_factor·T_old`` (DESIGN.md).

    Applying it with :func:`scalar_mult` to every stored element re-keys them in place, without
    the identifiers and without re-registration.
    """
    return scalar_mul(new_sk, scalar_invert(old_sk))


# --- keys ---------------------------------------------------------------------------------------


def derive_key_pair(seed: bytes, info: bytes, mode: int = MODE_OPRF) -> tuple[bytes, bytes]:
    """Derive ``(skS, pkS)`` deterministically from a 32-byte seed and public info (§3.2.1).

    Raises :class:`DeriveKeyPairError` for a seed that is not 32 bytes, info longer than
    65535 bytes, or (with negligible probability) 256 zero candidates in a row.
    """
    if len(seed) != SCALAR_SIZE:
        raise DeriveKeyPairError(f"seed must be {SCALAR_SIZE} bytes, got {len(seed)}")
    if len(info) > _MAX_I2OSP2:
        raise DeriveKeyPairError(f"info is {len(info)} bytes; at most {_MAX_I2OSP2} are allowed")
    derive_input = seed + _i2osp(len(info), 2) + info
    dst = b"DeriveKeyPair" + context_string(mode)
    for counter in range(_MAX_COUNTER + 1):
        sk = hash_to_scalar(derive_input + _i2osp(counter, 1), dst=dst)
        if not hmac.compare_digest(sk, bytes(SCALAR_SIZE)):
            return sk, _scalar_mult_base(sk)
    raise DeriveKeyPairError("no non-zero scalar after 256 attempts")


def generate_key() -> bytes:
    """Return a fresh random non-zero scalar (RFC 9497 RandomScalar), for keys and blinds."""
    while True:
        # libsodium already excludes zero; the loop keeps the guarantee local and explicit.
        candidate = bytes(pysodium.crypto_core_ristretto255_scalar_random())
        if not hmac.compare_digest(candidate, bytes(SCALAR_SIZE)):
            return validate_scalar(candidate)


# --- protocol (RFC 9497 §3.3.1) ---------------------------------------------------------------


def _input_element(input: bytes) -> bytes:
    """HashToGroup(input) in OPRF mode, refusing the identity (RFC 9497 InvalidInputError)."""
    _length_prefixed(input, "input")  # Finalize must be able to encode the length
    element = hash_to_group(input, MODE_OPRF)
    if hmac.compare_digest(element, _IDENTITY):
        raise OprfError("InvalidInputError: the input hashes to the identity element")
    return element


def blind(input: bytes, blind: bytes | None = None) -> tuple[bytes, bytes]:
    """Client: return ``(blind, blindedElement)`` with ``blindedElement = blind·H(input)``.

    A random blind is drawn when none is given; a given blind must be a valid non-zero scalar
    (tests pass the RFC vectors' blinds). Raises :class:`OprfError` ("InvalidInputError") if the
    input hashes to the identity.
    """
    r = generate_key() if blind is None else validate_scalar(blind)
    # r is validated and H(input) is ours and not the identity: nothing left to check twice.
    return r, scalar_mult_trusted(r, _input_element(input))


def blind_evaluate(sk: bytes, blinded_element: bytes) -> bytes:
    """Server: return ``evaluatedElement = sk·blindedElement`` after validating both."""
    return scalar_mult(sk, blinded_element)


def blind_evaluate_batch(sk: bytes, blinded_elements: Sequence[bytes]) -> list[bytes]:
    """Server: evaluate many blinded elements under ``sk``, all or none.

    Every element is validated before any is evaluated, so one bad element refuses the whole
    batch with an :class:`InvalidElementError` whose ``index`` (and message) names it. An empty
    batch gives an empty list.
    """
    validate_scalar(sk)
    for index, element in enumerate(blinded_elements):
        try:
            validate_element(element)
        except InvalidElementError as exc:
            raise InvalidElementError(f"blinded element {index}: {exc}", index=index) from exc
    return [scalar_mult(sk, element) for element in blinded_elements]


def unblind(blind: bytes, evaluated_element: bytes) -> bytes:
    """Client: return ``N = blind⁻¹·evaluatedElement`` (= k·H(input)), the element we store.

    The evaluated element comes from the service and is validated (:func:`validate_element`);
    the blind is validated by :func:`scalar_invert`, whose result needs no second check.
    """
    validate_element(evaluated_element)
    return scalar_mult_trusted(scalar_invert(blind), evaluated_element)


def _output(input: bytes, element: bytes) -> bytes:
    """Hash(I2OSP(len(input),2) || input || I2OSP(len(element),2) || element || "Finalize")."""
    hash_input = (
        _length_prefixed(input, "input") + _length_prefixed(element, "element") + b"Finalize"
    )
    return hashlib.sha512(hash_input).digest()


def finalize(input: bytes, blind: bytes, evaluated_element: bytes) -> bytes:
    """Client: return the 64-byte RFC 9497 §3.3.1 Finalize output for ``input``.

    The broker stores :func:`unblind`'s element instead, so keys can rotate; this function
    exists to prove the primitive against the RFC vectors.
    """
    return _output(input, unblind(blind, evaluated_element))


def evaluate(sk: bytes, input: bytes) -> bytes:
    """Server-side full evaluation (RFC 9497 §3.3.1 Evaluate): the Finalize output of ``input``.

    For tests and benchmarks only: it needs both the key and the plain input.
    """
    return _output(input, scalar_mult(sk, _input_element(input)))
