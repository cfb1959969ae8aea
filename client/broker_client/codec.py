"""Encodings the API contract fixes: base64url without padding, Ed25519 keys as hex.

Rules this module guarantees:

- :func:`b64url_encode` writes RFC 4648 §5 base64url without ``=`` padding;
  :func:`b64url_decode` accepts exactly that alphabet (padding optional) and raises
  :class:`ValueError` on anything else, never silently dropping characters.
- Keys are read strictly: a signing key file holds the 32-byte Ed25519 seed as 64 hex digits
  (surrounding whitespace allowed); a public key is 32 raw bytes or 64 hex digits. Errors say
  what was expected and never echo the key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
KEY_SIZE = 32


def b64url_encode(data: bytes) -> str:
    """``data`` as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; :class:`ValueError` on any other character."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None:
        raise ValueError("not a base64url string")
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not a base64url string") from exc


def _hex_key(text: str, what: str) -> bytes:
    value = text.strip()
    if len(value) != 2 * KEY_SIZE:
        raise ValueError(f"{what} must be {2 * KEY_SIZE} hexadecimal digits ({KEY_SIZE} bytes)")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} must be {2 * KEY_SIZE} hexadecimal digits") from None


def signing_key(key: SigningKey | bytes | str) -> SigningKey:
    """An Ed25519 signing key from a key, its 32-byte seed, or the seed as hex."""
    if isinstance(key, SigningKey):
        return key
    if isinstance(key, str):
        return SigningKey(_hex_key(key, "the private key"))
    if len(key) != KEY_SIZE:
        raise ValueError(f"the private key seed must be {KEY_SIZE} bytes")
    return SigningKey(key)


def read_signing_key(path: Path) -> SigningKey:
    """Read a key file written by ``broker-client keygen`` (the seed as 64 hex digits)."""
    return SigningKey(_hex_key(path.read_text(encoding="ascii"), f"the key file {path}"))


def verify_key(key: VerifyKey | bytes | str) -> VerifyKey:
    """An Ed25519 public key from a key, its 32 raw bytes, or 64 hex digits."""
    if isinstance(key, VerifyKey):
        return key
    if isinstance(key, str):
        return VerifyKey(_hex_key(key, "the broker's public key"))
    if len(key) == 2 * KEY_SIZE:  # hex given as bytes, e.g. read from a file
        return VerifyKey(_hex_key(key.decode("ascii", "replace"), "the broker's public key"))
    if len(key) != KEY_SIZE:
        raise ValueError(f"the broker's public key must be {KEY_SIZE} bytes or 64 hex digits")
    return VerifyKey(key)
