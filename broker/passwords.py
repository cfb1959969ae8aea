"""Password hashing for professionals who sign in on the web form: argon2id (libsodium), behind
:class:`broker.interfaces.PasswordHasher`.

The broker hashes with libsodium's *interactive* limits. A test suite may choose the *minimum*
limits (:meth:`Argon2idHasher.cheapest`): a hash stays a real argon2id hash that either hasher
verifies (the limits are part of the hash string); only the cost of guessing it changes, so the
settings offer no way to choose it.
"""

from __future__ import annotations

from nacl import pwhash
from nacl.exceptions import InvalidkeyError


class Argon2idHasher:
    """argon2id hashes with the given limits (libsodium's interactive limits by default)."""

    def __init__(self, opslimit: int = pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                 memlimit: int = pwhash.argon2id.MEMLIMIT_INTERACTIVE) -> None:
        self.opslimit = opslimit
        self.memlimit = memlimit
        self._dummy: bytes | None = None

    @classmethod
    def cheapest(cls) -> Argon2idHasher:
        """The minimum limits libsodium allows: for test suites only (see the module)."""
        return cls(pwhash.argon2id.OPSLIMIT_MIN, pwhash.argon2id.MEMLIMIT_MIN)

    def hash(self, password: str) -> str:
        """An argon2id hash string of ``password``."""
        return pwhash.argon2id.str(password.encode("utf-8"), opslimit=self.opslimit,
                                   memlimit=self.memlimit).decode("ascii")

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; with no ``stored`` hash, a hash of the
        same cost is checked anyway, and False returned."""
        if self._dummy is None:
            # A real hash to compare against when the user name is unknown, so that a failed
            # sign-in takes the same time whether or not the user exists.
            self._dummy = self.hash("not-a-password").encode("ascii")
        try:
            matched = pwhash.verify(stored.encode("ascii") if stored else self._dummy,
                                    password.encode("utf-8"))
        except InvalidkeyError:
            return False
        return matched and stored is not None
