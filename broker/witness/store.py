"""The witness's storage: one SQLite file, mode 0600, in the witness's own directory.

Rules this module guarantees:

- Per log (by origin) it holds the newest checkpoint the witness co-signed: size, root, the
  checkpoint as submitted and the cosignature. Every cosigned size is kept in a history, and a
  validly signed request that was refused as inconsistent is kept as evidence of the log's
  misbehaviour (tlog-witness allows this).
- Reading the newest checkpoint, checking a request against it and storing the next one happen
  in one ``BEGIN IMMEDIATE`` transaction, under a lock in the process: two requests can never
  both move from the same size (the rollback race tlog-witness describes), not even from two
  processes. The commit is durable (``synchronous=FULL``) before the witness answers.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from broker.db import private_database_file

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS latest (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "root BLOB NOT NULL, note TEXT NOT NULL, cosignature TEXT NOT NULL, "
    "cosigned_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, "
    "size INTEGER NOT NULL, root BLOB NOT NULL, cosigned_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY, origin TEXT NOT NULL, "
    "received_at INTEGER NOT NULL, reason TEXT NOT NULL, request TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Cosigned:
    """The newest checkpoint the witness co-signed for one log."""

    origin: str
    size: int
    root: bytes
    note: str
    cosignature: str
    cosigned_at: int


class Session:
    """The store inside one transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def latest(self, origin: str) -> Cosigned | None:
        """The newest cosigned checkpoint of ``origin``, if any."""
        row = self._connection.execute(
            "SELECT origin, size, root, note, cosignature, cosigned_at FROM latest "
            "WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else Cosigned(row[0], row[1], bytes(row[2]), *row[3:])

    def save(self, cosigned: Cosigned) -> None:
        """Make ``cosigned`` the newest of its log, and add it to the history."""
        self._connection.execute(
            "INSERT INTO latest (origin, size, root, note, cosignature, cosigned_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
            "root = excluded.root, note = excluded.note, cosignature = excluded.cosignature, "
            "cosigned_at = excluded.cosigned_at",
            (cosigned.origin, cosigned.size, cosigned.root, cosigned.note,
             cosigned.cosignature, cosigned.cosigned_at))
        self._connection.execute(
            "INSERT INTO history (origin, size, root, cosigned_at) VALUES (?, ?, ?, ?)",
            (cosigned.origin, cosigned.size, cosigned.root, cosigned.cosigned_at))

    def keep_evidence(self, origin: str, received_at: int, reason: str, request: str) -> None:
        """Keep a validly signed request that was refused, as proof of what the log sent."""
        self._connection.execute(
            "INSERT INTO evidence (origin, received_at, reason, request) VALUES (?, ?, ?, ?)",
            (origin, received_at, reason, request))

    def evidence(self, origin: str) -> list[tuple[str, str]]:
        """The reasons and requests kept as evidence against ``origin``, oldest first."""
        return [(reason, request) for reason, request in self._connection.execute(
            "SELECT reason, request FROM evidence WHERE origin = ? ORDER BY id", (origin,))]


class WitnessStore:
    """The SQLite file of one witness."""

    def __init__(self, path: Path) -> None:
        private_database_file(path)
        self.path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, timeout=30, isolation_level=None,
                                           check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._connection.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One serialised transaction: committed when the block ends, rolled back on error."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield Session(self._connection)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        self._connection.close()
