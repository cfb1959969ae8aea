"""Tests for broker_primitives.oprf: RFC 9497 vectors, refusals and group properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pysodium
import pytest
from broker_primitives import oprf
from hypothesis import example, given, settings
from hypothesis import strategies as st

VECTORS_PATH = Path(__file__).parent / "data" / "rfc9497-ristretto255-sha512.json"
SUITES: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())

# Group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 9496 §4).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def _suite(mode: int) -> dict[str, Any]:
    (suite,) = [s for s in SUITES if s["mode"] == mode]
    return suite


def _mode0_cases() -> list[tuple[str, dict[str, Any]]]:
    suite = _suite(oprf.MODE_OPRF)
    return [(suite["skSm"], v) for v in suite["vectors"]]


def _split(field: str) -> list[bytes]:
    """Batch vectors list their values comma-separated (RFC 9497 Appendix A)."""
    return [bytes.fromhex(part) for part in field.split(",")]


def _random_element() -> bytes:
    return bytes(pysodium.crypto_core_ristretto255_random())


# --- RFC 9497 Appendix A.1.1 (ristretto255-SHA512) -----------------------------------------------


def test_vectors_cover_all_three_modes() -> None:
    assert sorted(s["mode"] for s in SUITES) == [0, 1, 2]
    assert all(s["identifier"] == oprf.SUITE_ID for s in SUITES)
    assert _suite(0)["vectors"], "mode 0 must have vectors to verify"


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_group_dst_matches_vectors(mode: int) -> None:
    expected = bytes.fromhex(_suite(mode)["groupDST"])
    assert b"HashToGroup-" + oprf.context_string(mode) == expected


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_derive_key_pair_matches_vectors(mode: int) -> None:
    suite = _suite(mode)
    sk, pk = oprf.derive_key_pair(
        bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"]), mode
    )
    assert sk.hex() == suite["skSm"]
    if "pkSm" in suite:  # only the verifiable modes publish pkS
        assert pk.hex() == suite["pkSm"]
    assert pk == bytes(pysodium.crypto_scalarmult_ristretto255_base(sk))


@pytest.mark.parametrize(("sk_hex", "vector"), _mode0_cases())
def test_mode0_vector(sk_hex: str, vector: dict[str, Any]) -> None:
    sk = bytes.fromhex(sk_hex)
    inputs = _split(vector["Input"])
    blinds = _split(vector["Blind"])
    blinded = _split(vector["BlindedElement"])
    evaluated = _split(vector["EvaluationElement"])
    outputs = _split(vector["Output"])
    assert len(inputs) == vector["Batch"]

    for x, r, want_blinded, want_evaluated, want_output in zip(
        inputs, blinds, blinded, evaluated, outputs, strict=True
    ):
        assert oprf.blind(x, r) == (r, want_blinded)
        assert oprf.blind_evaluate(sk, want_blinded) == want_evaluated
        assert oprf.finalize(x, r, want_evaluated) == want_output
        assert oprf.evaluate(sk, x) == want_output
        assert oprf.unblind(r, want_evaluated) == oprf.scalar_mult(sk, oprf.hash_to_group(x))

    # The batch path must give the same answers, whatever the vector's batch size.
    assert oprf.blind_evaluate_batch(sk, blinded) == evaluated


# --- RFC 9380 Appendix K.3: expand_message_xmd(SHA-512) ----------------------------------------

XMD_DST = b"QUUX-V01-CS02-with-expander-SHA512-256"
XMD_VECTORS = [
    (b"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"),
    (b"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"),
    (
        b"",
        0x80,
        "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
        "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
        "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
        "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961",
    ),
    (
        b"abc",
        0x80,
        "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
        "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
        "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
        "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1",
    ),
]


@pytest.mark.parametrize(("msg", "length", "expected"), XMD_VECTORS)
def test_expand_message_xmd_rfc9380(msg: bytes, length: int, expected: str) -> None:
    assert oprf.expand_message_xmd(msg, XMD_DST, length).hex() == expected


@pytest.mark.parametrize(
    ("dst", "length"),
    [(b"", 32), (b"x" * 256, 32), (XMD_DST, 0), (XMD_DST, 255 * 64 + 1)],
)
def test_expand_message_xmd_refuses_bad_parameters(dst: bytes, length: int) -> None:
    with pytest.raises(oprf.OprfError):
        oprf.expand_message_xmd(b"msg", dst, length)


# --- constants and errors -----------------------------------------------------------------------


def test_context_string() -> None:
    assert oprf.context_string(oprf.MODE_OPRF) == b"OPRFV1-\x00-ristretto255-SHA512"
    with pytest.raises(oprf.OprfError, match="unknown"):
        oprf.context_string(3)


def test_error_tree() -> None:
    for error in (oprf.InvalidElementError, oprf.InvalidScalarError, oprf.DeriveKeyPairError):
        assert issubclass(error, oprf.OprfError)


# --- element validation -------------------------------------------------------------------------

# Non-canonical or invalid encodings from RFC 9496 Appendix A.2 style cases: a field element
# >= p, a "negative" (odd) s, and bytes that decode to no point.
BAD_ENCODINGS = [
    pytest.param(b"\xff" * 32, id="not-below-p"),
    pytest.param(b"\xed" + b"\xff" * 30 + b"\x7f", id="equals-p"),
    pytest.param(b"\x01" + bytes(31), id="negative-s"),
    pytest.param(bytes.fromhex("26" * 32), id="not-on-curve"),
    pytest.param(bytes(31), id="too-short"),
    pytest.param(bytes(33), id="too-long"),
    pytest.param(b"", id="empty"),
    pytest.param(bytes(32), id="identity"),
]


@pytest.mark.parametrize("encoding", BAD_ENCODINGS)
def test_invalid_elements_are_refused(encoding: bytes) -> None:
    with pytest.raises(oprf.InvalidElementError):
        oprf.validate_element(encoding)
    with pytest.raises(oprf.InvalidElementError):
        oprf.blind_evaluate(oprf.generate_key(), encoding)
    with pytest.raises(oprf.InvalidElementError):
        oprf.unblind(oprf.generate_key(), encoding)


def test_identity_refusal_says_so() -> None:
    with pytest.raises(oprf.InvalidElementError, match="identity"):
        oprf.validate_element(bytes(32))


def test_valid_element_is_returned() -> None:
    element = _random_element()
    assert oprf.validate_element(element) is element


def test_batch_with_one_bad_element_is_refused_with_its_index() -> None:
    sk = oprf.generate_key()
    batch = [_random_element(), _random_element(), bytes(32), _random_element()]
    with pytest.raises(oprf.InvalidElementError, match="blinded element 2") as caught:
        oprf.blind_evaluate_batch(sk, batch)
    assert caught.value.index == 2


def test_batch_evaluates_each_element() -> None:
    sk = oprf.generate_key()
    batch = [_random_element() for _ in range(3)]
    assert oprf.blind_evaluate_batch(sk, batch) == [oprf.blind_evaluate(sk, e) for e in batch]
    assert oprf.blind_evaluate_batch(sk, []) == []


# --- scalar validation --------------------------------------------------------------------------

BAD_SCALARS = [
    pytest.param(bytes(32), id="zero"),
    pytest.param(GROUP_ORDER.to_bytes(32, "little"), id="equals-L"),
    pytest.param((GROUP_ORDER + 1).to_bytes(32, "little"), id="above-L"),
    pytest.param(b"\xff" * 32, id="all-ones"),
    pytest.param(b"\x01" * 31, id="too-short"),
    pytest.param(b"\x01" * 33, id="too-long"),
]


@pytest.mark.parametrize("scalar", BAD_SCALARS)
def test_invalid_scalars_are_refused(scalar: bytes) -> None:
    with pytest.raises(oprf.InvalidScalarError):
        oprf.validate_scalar(scalar)
    with pytest.raises(oprf.InvalidScalarError):
        oprf.blind_evaluate(scalar, _random_element())
    with pytest.raises(oprf.InvalidScalarError):
        oprf.blind(b"bsn|123456782", scalar)
    with pytest.raises(oprf.InvalidScalarError):
        oprf.scalar_invert(scalar)


def test_largest_canonical_scalar_is_accepted() -> None:
    top = (GROUP_ORDER - 1).to_bytes(32, "little")
    assert oprf.validate_scalar(top) is top


def test_generate_key_gives_distinct_valid_scalars() -> None:
    keys = {oprf.generate_key() for _ in range(16)}
    assert len(keys) == 16
    for key in keys:
        oprf.validate_scalar(key)


def test_derive_key_pair_refuses_bad_seed_and_info() -> None:
    with pytest.raises(oprf.DeriveKeyPairError, match="seed"):
        oprf.derive_key_pair(bytes(31), b"")
    with pytest.raises(oprf.DeriveKeyPairError, match="info"):
        oprf.derive_key_pair(bytes(32), bytes(0x10000))


def test_input_too_long_for_finalize_is_refused() -> None:
    with pytest.raises(oprf.OprfError, match="input"):
        oprf.blind(bytes(0x10000))


# --- protocol and group properties --------------------------------------------------------------

scalars = st.builds(lambda _: oprf.generate_key(), st.integers())
inputs = st.binary(max_size=64)


@settings(max_examples=20, deadline=None)
@given(x=inputs, k=scalars)
def test_unblind_gives_k_times_hash(x: bytes, k: bytes) -> None:
    r, blinded = oprf.blind(x)
    n = oprf.unblind(r, oprf.blind_evaluate(k, blinded))
    assert n == oprf.scalar_mult(k, oprf.hash_to_group(x))
    assert oprf.finalize(x, r, oprf.blind_evaluate(k, blinded)) == oprf.evaluate(k, x)


def test_blinding_hides_the_input() -> None:
    x = b"bsn|123456782"
    (_, first), (_, second) = oprf.blind(x), oprf.blind(x)
    assert first != second
    assert oprf.hash_to_group(x) not in (first, second)


@settings(max_examples=10, deadline=None)
@given(k1=scalars, k2=scalars, x=inputs)
def test_rotation_factor_moves_old_key_to_new(k1: bytes, k2: bytes, x: bytes) -> None:
    p = oprf.hash_to_group(x)
    rotated = oprf.scalar_mult(oprf.rotation_factor(k1, k2), oprf.scalar_mult(k1, p))
    assert rotated == oprf.scalar_mult(k2, p)


@settings(max_examples=10, deadline=None)
@given(b=scalars, k=scalars, x=inputs)
def test_two_step_pseudonym_commutes(b: bytes, k: bytes, x: bytes) -> None:
    p = oprf.hash_to_group(x)
    assert oprf.scalar_mult(b, oprf.scalar_mult(k, p)) == oprf.scalar_mult(
        k, oprf.scalar_mult(b, p)
    )
    assert oprf.scalar_mult(oprf.scalar_mul(b, k), p) == oprf.scalar_mult(b, oprf.scalar_mult(k, p))


def test_scalar_invert_is_an_inverse() -> None:
    s = oprf.generate_key()
    one = (1).to_bytes(32, "little")
    assert oprf.scalar_mul(s, oprf.scalar_invert(s)) == one
    assert oprf.rotation_factor(s, s) == one


def test_hash_to_scalar_default_dst() -> None:
    msg = b"bsn|123456782"
    explicit = oprf.hash_to_scalar(msg, dst=b"HashToScalar-" + oprf.context_string(0))
    assert oprf.hash_to_scalar(msg) == explicit
    assert oprf.hash_to_scalar(msg, mode=1) != explicit


@settings(max_examples=300)
@given(st.binary(min_size=32, max_size=32))
@example(bytes(32))
@example(b"\xff" * 32)
def test_scalar_mult_trusted_refuses_exactly_what_validation_refuses(data: bytes) -> None:
    key = oprf.generate_key()
    try:
        oprf.validate_element(data)
        valid = True
    except oprf.InvalidElementError:
        valid = False
    try:
        oprf.scalar_mult_trusted(key, data)
        accepted = True
    except oprf.InvalidElementError:
        accepted = False
    assert accepted == valid
