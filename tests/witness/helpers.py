"""A small log in memory that asks a witness to co-sign its checkpoints, for the witness tests."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from broker_primitives.merkle import consistency_proof, root_of
from nacl.signing import SigningKey

from broker.audit.notes import NoteKey, checkpoint_body


class ToyLog:
    """A log of made-up leaves with its own note key."""

    def __init__(self, origin: str = "toy.example/log", seed: int = 0) -> None:
        signing = SigningKey(hashlib.sha256(f"{origin}{seed}".encode()).digest())
        self.key = NoteKey(origin, signing.verify_key, signing)
        self.leaves: list[bytes] = []
        self.salt = seed

    def append(self, count: int) -> None:
        """Add ``count`` leaves."""
        start = len(self.leaves)
        self.leaves += [hashlib.sha256(f"{self.salt}:{i}".encode()).digest()
                        for i in range(start, start + count)]

    def note(self, size: int | None = None) -> str:
        """The signed checkpoint of the first ``size`` leaves (default: all)."""
        size = len(self.leaves) if size is None else size
        at = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
        return self.key.sign(checkpoint_body(self.key.name, size, root_of(self.leaves[:size]),
                                             at))

    def request(self, old: int, size: int | None = None, note: str | None = None) -> bytes:
        """An add-checkpoint body from ``old`` to ``size``."""
        size = len(self.leaves) if size is None else size
        proof = consistency_proof(self.leaves, old, size)
        lines = "".join(base64.b64encode(node).decode() + "\n" for node in proof)
        return f"old {old}\n{lines}\n{note or self.note(size)}".encode()
