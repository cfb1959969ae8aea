"""Signed checkpoints of the audit log (C2SP signed notes, ``docs/audit-bundle.md``).

Rules this module guarantees:

- A checkpoint commits to the whole log: tree size, RFC 9162 root hash, time, signed with the
  broker's Ed25519 audit key (``keys/audit/signing.key``, mode 0600). The root comes from the
  state row's compact range, so a checkpoint costs the same for ten events as for ten million.
- A running broker signs one at least every minute while the log grows (``Checkpointer``), and
  once more when it stops; a command-line run signs one when it is done.
- Checkpoints are append-only in the database, like the events.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Connection, func, insert, select

from broker.audit.chain import STATE_ID, timestamp, to_millisecond
from broker.audit.merkle import Frontier
from broker.audit.models import AuditCheckpoint, AuditLogState
from broker.db import utcnow
from broker.signing import ensure_signing_key, load_signing_key

if TYPE_CHECKING:
    from broker.core import Core

log = logging.getLogger("broker.audit")
SIGNATURE_TYPE_ED25519 = b"\x01"
_SIGNATURE_LINE = re.compile(r"\u2014 [^\s+]+ [A-Za-z0-9+/]+={0,2}")


def audit_key_path(keys_dir: Path) -> Path:
    """Where the audit signing key lives."""
    return keys_dir / "audit" / "signing.key"


def ensure_audit_key(keys_dir: Path) -> bool:
    """Create the audit key pair if missing; True when created."""
    return ensure_signing_key(audit_key_path(keys_dir))


class NoteKey:
    """A C2SP note key: a name (the log's origin) and an Ed25519 key."""

    def __init__(self, name: str, verify_key: VerifyKey,
                 signing_key: SigningKey | None = None) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError("a note key name may hold no spaces and no '+'")
        self.name = name
        self.verify_key = verify_key
        self.signing_key = signing_key
        self.key_id = hashlib.sha256(
            name.encode() + b"\n" + SIGNATURE_TYPE_ED25519 + bytes(verify_key)).digest()[:4]

    @classmethod
    def load(cls, name: str, keys_dir: Path) -> NoteKey:
        """The broker's audit key under ``name``; refused when missing or readable by others."""
        signing_key = load_signing_key(audit_key_path(keys_dir))
        return cls(name, signing_key.verify_key, signing_key)

    def verifier(self) -> str:
        """The verifier key: ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(SIGNATURE_TYPE_ED25519 + bytes(self.verify_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def sign(self, body: str) -> str:
        """``body`` (ending in a newline) as a signed note."""
        if self.signing_key is None:
            raise ValueError("this note key can verify only")
        signature = self.signing_key.sign(body.encode()).signature
        encoded = base64.b64encode(self.key_id + signature).decode()
        return f"{body}\n\u2014 {self.name} {encoded}\n"

    def open(self, note: str) -> str | None:
        """The note's text when it carries a valid signature of this key, else None."""
        text, separator, signatures = note.rpartition("\n\n")
        if not separator or not note.endswith("\n"):
            return None
        text += "\n"
        lines = signatures.removesuffix("\n").split("\n")
        if not all(_SIGNATURE_LINE.fullmatch(line) for line in lines):
            return None  # a signature block holds signature lines only
        prefix = f"\u2014 {self.name} "
        for line in lines:
            if not line.startswith(prefix):
                continue
            raw = base64.b64decode(line[len(prefix):])
            if raw[:4] != self.key_id:
                continue
            try:
                self.verify_key.verify(text.encode(), raw[4:])
            except BadSignatureError:
                return None
            return text
        return None


def checkpoint_body(origin: str, size: int, root: bytes, at: datetime) -> str:
    """The checkpoint text: origin, size, base64 root, time (c2sp.org/tlog-checkpoint)."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {timestamp(at)}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint."""

    tree_size: int
    root_hash: bytes
    signed_at: datetime
    note: str


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """Origin, size and root of an opened checkpoint text; ValueError when malformed."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("not a checkpoint")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("a checkpoint's root hash has 32 bytes")
    return lines[0], int(lines[1]), root


def current_tree(connection: Connection) -> tuple[int, bytes, bytes]:
    """The log's size, root hash and head (last event hash), from the state row."""
    size, head, frontier = connection.execute(
        select(AuditLogState.size, AuditLogState.head, AuditLogState.frontier)
        .where(AuditLogState.id == STATE_ID)
    ).one()
    return size, Frontier.from_bytes(size, bytes(frontier)).root(), bytes(head)


def sign_checkpoint(core: Core, *, force: bool = False) -> Checkpoint | None:
    """Sign a checkpoint of the current tree; unless ``force``, only when the log grew since the
    last one. Returns the checkpoint, or None when there was nothing new to sign."""
    key = core.audit_key()
    with core.transaction() as connection:
        size, root, _head = current_tree(connection)
        last = connection.execute(select(func.max(AuditCheckpoint.tree_size))).scalar()
        if not force and last is not None and last >= size:
            return None
        at = to_millisecond(utcnow())
        note = key.sign(checkpoint_body(key.name, size, root, at))
        connection.execute(insert(AuditCheckpoint).values(
            tree_size=size, root_hash=root, signed_at=at, note=note))
    return Checkpoint(size, root, at, note)


class Checkpointer:
    """Signs a checkpoint every ``interval`` seconds when the log grew, and once at stop."""

    def __init__(self, core: Core, interval: float) -> None:
        self.core = core
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sign()

    def _sign(self) -> None:
        try:
            sign_checkpoint(self.core)
        except Exception:  # a failed checkpoint must not stop the broker; the next one covers it
            log.exception("could not sign an audit checkpoint")

    def stop(self) -> None:
        """Stop the thread and sign a last checkpoint of what was written."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._sign()
