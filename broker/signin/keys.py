"""The sign-in key: one secret file from which the sign-in code derives two keys.

``keys/signin/signin.key`` (32 random bytes, hex, mode 0600 in a 0700 directory, created by
``broker init``) is never used directly. Rules:

- Second-factor secrets are stored sealed with XChaCha20-Poly1305 under a derived key, with the
  account's database id as associated data: a database dump reveals no secret, and a sealed
  secret copied onto another account does not open.
- Throttling counts failures per user name and per source address under a keyed hash (HMAC-SHA256
  under the other derived key), so that the table holds neither a typed name (which may be a
  password typed in the wrong field) nor an address.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from nacl import bindings
from nacl.exceptions import CryptoError

from broker.keyfiles import check_directory, check_private_file

KEY_FILE = Path("signin") / "signin.key"
_NONCE_BYTES = bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


def signin_key_path(keys_dir: Path) -> Path:
    """Where the sign-in key lives."""
    return keys_dir / KEY_FILE


def ensure_signin_key(keys_dir: Path) -> bool:
    """Create the sign-in key if missing; True when created."""
    path = signin_key_path(keys_dir)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True


class SignInKey:
    """The derived keys; built from the file by :meth:`load`."""

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise ValueError("the sign-in key must be 32 bytes")
        self._seal_key = hashlib.blake2b(key=master, person=b"broker-totp-seal",
                                         digest_size=32).digest()
        self._throttle_key = hashlib.blake2b(key=master, person=b"broker-throttle",
                                             digest_size=32).digest()

    @classmethod
    def load(cls, keys_dir: Path) -> SignInKey:
        """The key under ``keys_dir``; refused (with the fix) when missing or readable by others."""
        path = signin_key_path(keys_dir)
        check_private_file(path)
        check_directory(path.parent)
        return cls(bytes.fromhex(path.read_text().strip()))

    def throttle_key(self, scope: str, value: str) -> bytes:
        """The keyed hash under which failures of ``value`` (a user name or an address) count."""
        return hmac.new(self._throttle_key, f"{scope}\0{value}".encode(), hashlib.sha256).digest()

    def seal(self, secret: bytes, professional_id: int) -> bytes:
        """``secret`` encrypted and bound to one account."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            secret, _associated(professional_id), nonce, self._seal_key)

    def open(self, sealed: bytes, professional_id: int) -> bytes:
        """The secret :meth:`seal` sealed for this account; ``ValueError`` for anything else."""
        nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                box, _associated(professional_id), nonce, self._seal_key)
        except CryptoError:
            raise ValueError("the sealed secret does not open for this account") from None


def _associated(professional_id: int) -> bytes:
    return f"broker-totp-secret|{professional_id}".encode()
