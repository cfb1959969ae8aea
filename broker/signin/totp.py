"""TOTP, the time-based one-time password of RFC 6238, as the second factor of web sign-in.

A primitive: no Flask, no database. The rules it implements:

1. The code for a time step is HOTP (RFC 4226 §5.3) over the step number as an 8-byte
   big-endian counter: HMAC-SHA1 with the shared secret, dynamic truncation, modulo 10^6.
2. The step is ``floor(unix time / 30)`` (RFC 6238 §4.2, X = 30, T0 = 0).
3. A code is accepted for the current step and one step either side (RFC 6238 §5.2 allows a
   small window for clock drift and network delay), and only for a step later than the last one
   accepted for the same secret: each code is used once (RFC 6238 §5.2: "the verifier MUST NOT
   accept the second attempt of the OTP after the successful validation").
4. Secrets are 160 random bits (RFC 4226 §4 R6 recommends 160), shown as unpadded base32 and as
   an ``otpauth://`` URI that authenticator apps read.

``python -m broker.signin.totp`` reads a base32 secret from standard input and prints the
current code: the demo's way to sign in without a phone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import sys
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20


def new_secret() -> bytes:
    """A fresh random secret of 160 bits."""
    return secrets.token_bytes(SECRET_BYTES)


def to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32, upper case, without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    """A secret from base32 as people type it (spaces and lower case allowed, padding optional).

    Raises ``ValueError`` on anything else."""
    cleaned = "".join(text.split()).upper().rstrip("=")
    if not cleaned or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in cleaned):
        raise ValueError("not a base32 secret")
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def step_at(moment: datetime) -> int:
    """The time step of ``moment`` (an aware datetime): rule 2."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """The code of ``step`` (rule 1; RFC 4226 §5.3 dynamic truncation)."""
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def matching_step(secret: bytes, code: str, moment: datetime, last_used_step: int | None
                  ) -> int | None:
    """The step whose code ``code`` is, within the window around ``moment`` and later than
    ``last_used_step`` (rule 3); None when there is none."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_at(moment)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def otpauth_uri(secret: bytes, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI of Google Authenticator's key-URI format (rule 4)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode({"secret": to_base32(secret), "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def main() -> int:
    """Print the current code for the base32 secret on standard input."""
    try:
        secret = from_base32(sys.stdin.readline())
    except ValueError:
        print("error: give a base32 secret on standard input", file=sys.stderr)
        return 1
    print(code_at(secret, step_at(datetime.now(UTC))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
