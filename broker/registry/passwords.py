"""Password hashing for professionals who sign in on the web form (argon2id, libsodium)."""

from __future__ import annotations

from nacl import pwhash
from nacl.exceptions import InvalidkeyError

# A real hash to compare against when the user name is unknown, so that a failed sign-in takes
# the same time whether or not the user exists.
_DUMMY = pwhash.argon2id.str(b"not-a-password")


def hash_password(password: str) -> str:
    """An argon2id hash string (interactive limits) of ``password``."""
    return pwhash.argon2id.str(password.encode("utf-8")).decode("ascii")


def check_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; takes a hash's time even when there is none."""
    try:
        matched = pwhash.verify(stored.encode("ascii") if stored else _DUMMY,
                                password.encode("utf-8"))
    except InvalidkeyError:
        return False
    return matched and stored is not None
