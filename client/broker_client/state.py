"""The local state of ``broker-client sync``: which CSV row became which involvement.

The file (JSON, UTF-8, mode 0600) looks like::

    {"version": 1,
     "fingerprint_key": "<16 hex digits: a check value of the fingerprint key>",
     "involvements": {
        "<external_id>": {"involvement_id": "<uuid>", "fingerprint": "<64 hex digits>",
                          "professional": "<username>", "ends_on": "YYYY-MM-DD" | null,
                          "status": "active" | "ended"}}}

Rules this module guarantees:

- **No identifier is stored, not even as a plain hash.** A BSN has fewer than 10⁹ values, so an
  unkeyed hash could be reversed by trying them all; the ``fingerprint`` is an HMAC-SHA-256 under
  a key derived from the organisation's private signing key (:func:`fingerprint_key`), over the
  row's purpose and its sorted canonical identifiers. Without that key file the state file says
  nothing about who is registered. ``fingerprint_key`` is a check value, not the key.
- **Writes are atomic**: a temporary file in the same directory, flushed and fsynced, then
  renamed over the old one (:func:`os.replace`), so a crash leaves the old or the new state,
  never half of one.
- A state file of another version, or one that is not valid, is refused with :class:`SyncError`,
  never guessed at; so is one made under another signing key (unless the caller re-keys).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from broker_client.rows import SyncError, SyncRow

STATE_VERSION = 1
_FINGERPRINT_CONTEXT = b"broker-client/sync-fingerprint/v1"


def fingerprint_key(private_key: SigningKey) -> bytes:
    """The key of the row fingerprints, derived from the organisation's signing key seed."""
    return hmac.new(bytes(private_key), _FINGERPRINT_CONTEXT, hashlib.sha256).digest()


def key_check(key: bytes) -> str:
    """A short value that tells whether a state file was made with ``key``; reveals nothing."""
    return hashlib.sha256(b"key-check\n" + key).hexdigest()[:16]


def fingerprint(key: bytes, row: SyncRow) -> str:
    """HMAC-SHA-256 over the row's purpose and sorted canonical identifiers (not professional
    or dates: those are changed in place, a change here needs a new registration)."""
    canonicals = sorted({identifier.canonical for identifier in row.identifiers})
    message = "\n".join(["v1", row.purpose, *canonicals]).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class StateEntry:
    """What the last run did with one external id."""

    involvement_id: str
    fingerprint: str
    professional: str
    ends_on: str | None
    status: str

    @classmethod
    def from_json(cls, data: Any) -> StateEntry:
        """Read one entry; :class:`ValueError` when it does not have the documented shape."""
        if not isinstance(data, dict):
            raise ValueError("an entry is not an object")
        strings = ("involvement_id", "fingerprint", "professional", "status")
        if any(not isinstance(data.get(name), str) for name in strings):
            raise ValueError("an entry lacks a text field")
        if data.get("ends_on") is not None and not isinstance(data["ends_on"], str):
            raise ValueError("ends_on is not text")
        if data["status"] not in ("active", "ended"):
            raise ValueError("status is not active or ended")
        return cls(data["involvement_id"], data["fingerprint"], data["professional"],
                   data.get("ends_on"), data["status"])

    def to_json(self) -> dict[str, Any]:
        """The entry as stored."""
        return asdict(self)


class SyncState:
    """The state file's content in memory; :meth:`save` writes it atomically."""

    def __init__(self, path: Path, check: str, entries: dict[str, StateEntry] | None = None,
                 *, rekeyed: bool = False) -> None:
        """A state for ``path`` under the fingerprint key with check value ``check``."""
        self.path = path
        self.check = check
        self.entries: dict[str, StateEntry] = entries or {}
        #: True when the file was made under another key and its fingerprints must be renewed.
        self.rekeyed = rekeyed

    @classmethod
    def load(cls, path: Path, check: str, *, rekey: bool = False) -> SyncState:
        """Read the state at ``path``; an absent file is an empty state.

        Raises:
            SyncError: the file is unreadable, of another version, or (without ``rekey``) made
                under another signing key.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, check)
        except (OSError, ValueError) as exc:
            raise SyncError(f"{path}: cannot read the state file ({type(exc).__name__})"
                            ) from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise SyncError(f"{path}: not a version {STATE_VERSION} sync state file")
        try:
            raw = data.get("involvements")
            if not isinstance(raw, dict):
                raise ValueError("no involvements object")
            entries = {str(k): StateEntry.from_json(v) for k, v in raw.items()}
        except ValueError as exc:
            raise SyncError(f"{path}: the state file is damaged ({exc})") from None
        if data.get("fingerprint_key") != check:
            if not rekey:
                raise SyncError(
                    f"{path} was written with another signing key. Run sync once more with the "
                    "old key, then once with the new key and --rekey (which takes the rows' "
                    "current identifiers as those of the registered involvements)."
                )
            return cls(path, check, entries, rekeyed=True)
        return cls(path, check, entries)

    def to_json(self) -> dict[str, Any]:
        """The whole state as stored."""
        return {
            "version": STATE_VERSION,
            "fingerprint_key": self.check,
            "involvements": {k: entry.to_json() for k, entry in self.entries.items()},
        }

    def entries_digest(self, external_ids: Iterable[str]) -> bytes:
        """SHA-256 of the entries of ``external_ids`` (absent ones as null), in that order."""
        chosen = [
            [k, None if (e := self.entries.get(k)) is None else e.to_json()]
            for k in external_ids
        ]
        return hashlib.sha256(
            json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode("utf-8")
        ).digest()

    def save(self) -> None:
        """Write the state atomically, mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, sort_keys=True, ensure_ascii=False)
        # mkstemp creates the file with mode 0600.
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                             dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
