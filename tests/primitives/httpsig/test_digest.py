"""Tests for broker_primitives.httpsig.digest: the RFC 9530 Content-Digest field."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from broker_primitives.httpsig.digest import (
    DigestMalformed,
    DigestMismatch,
    DigestMissing,
    content_digest,
    verify_content_digest,
)

# RFC 9421 Appendix B.2, the test-request: its body and its (sha-512) Content-Digest.
RFC9421_BODY = b'{"hello": "world"}'
RFC9421_DIGEST = (
    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmT"
    "HWXvJwew==:"
)
BODY = b'{"purpose": "safety"}'


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_content_digest_is_a_sha256_dictionary_member() -> None:
    assert content_digest(BODY) == f"sha-256=:{_b64(hashlib.sha256(BODY).digest())}:"
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def test_own_digest_verifies() -> None:
    verify_content_digest(content_digest(BODY), BODY)


def test_rfc9421_test_request_sha512_digest_verifies() -> None:
    verify_content_digest(RFC9421_DIGEST, RFC9421_BODY)


def test_other_algorithms_are_ignored_and_every_accepted_one_must_match() -> None:
    sha512 = f"sha-512=:{_b64(hashlib.sha512(BODY).digest())}:"
    verify_content_digest(f"md5=:AAAA:, unixsum=42, {content_digest(BODY)}, {sha512}", BODY)
    bad512 = f"sha-512=:{_b64(hashlib.sha512(b'other').digest())}:"
    with pytest.raises(DigestMismatch):
        verify_content_digest(f"{content_digest(BODY)}, {bad512}", BODY)


@pytest.mark.parametrize("header", [None, "", "  "])
def test_missing(header: str | None) -> None:
    with pytest.raises(DigestMissing) as caught:
        verify_content_digest(header, BODY)
    assert caught.value.code == "content-digest-missing"


@pytest.mark.parametrize(
    "header",
    [
        "sha-256=abc",  # a token, not a byte sequence
        f"sha-256=:{_b64(b'short')}:",  # wrong length
        f"sha-256=(:{_b64(hashlib.sha256(BODY).digest())}:)",  # an inner list
        "sha-256=:!!!:",  # not base64: not a structured dictionary
        "SHA-256=:AAAA:",  # keys are lower case
        "md5=:AAAA:",  # no accepted algorithm
        "unixsum=42",
        "sha-256",  # a bare key: Boolean true
    ],
)
def test_malformed(header: str) -> None:
    with pytest.raises(DigestMalformed) as caught:
        verify_content_digest(header, BODY)
    assert caught.value.code == "content-digest-malformed"


def test_mismatch() -> None:
    with pytest.raises(DigestMismatch) as caught:
        verify_content_digest(content_digest(BODY), BODY + b" ")
    assert caught.value.code == "content-digest-mismatch"
    assert caught.value.status == 400


def test_digests_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # digest.py calls hmac.compare_digest
    verify_content_digest(content_digest(BODY), BODY)
    assert calls == [(hashlib.sha256(BODY).digest(), hashlib.sha256(BODY).digest())]
