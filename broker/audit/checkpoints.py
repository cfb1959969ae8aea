"""Signed checkpoints of the audit log (C2SP signed notes, ``docs/audit-bundle.md``).

Rules this module guarantees:

- A checkpoint commits to the whole log: tree size, RFC 9162 root hash, time, signed with the
  broker's Ed25519 audit key (``keys/audit/signing.key``, mode 0600). The root comes from the
  state row's compact range, so a checkpoint costs the same for ten events as for ten million;
  that compact range is stored with the checkpoint, so a consistency proof from it to a later
  tree needs only the events after it (:mod:`broker.audit.witnessing`).
- A running broker signs one at least every minute while the log grows (``Checkpointer``), and
  once more when it stops; a command-line run signs one when it is done. After each round the
  newest checkpoint is handed to the configured witnesses; one that could not be reached gets it
  in a later round, and the log goes on meanwhile.
- Checkpoints are append-only in the database, like the events.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, overload

from broker_primitives.merkle import Frontier
from sqlalchemy import Connection, func, insert, select

from broker.audit.chain import STATE_ID, to_millisecond
from broker.audit.interfaces import LogHost
from broker.audit.models import AuditCheckpoint, AuditLogState
from broker.audit.notes import NoteKey, checkpoint_body, parse_checkpoint
from broker.audit.witnessing import configured_witnesses, hand_to_witnesses, quorum
from broker.clock import utcnow
from broker.signing import ensure_signing_key, load_signing_key

__all__ = [
    "Checkpoint",
    "Checkpointer",
    "NoteKey",
    "audit_key_path",
    "checkpoint_body",
    "current_tree",
    "ensure_audit_key",
    "load_audit_key",
    "parse_checkpoint",
    "sign_checkpoint",
]

log = logging.getLogger("broker.audit")


def audit_key_path(keys_dir: Path) -> Path:
    """Where the audit signing key lives."""
    return keys_dir / "audit" / "signing.key"


def ensure_audit_key(keys_dir: Path) -> bool:
    """Create the audit key pair if missing; True when created."""
    return ensure_signing_key(audit_key_path(keys_dir))


def load_audit_key(name: str, keys_dir: Path) -> NoteKey:
    """The broker's audit key under ``name``; refused when missing or readable by others."""
    signing_key = load_signing_key(audit_key_path(keys_dir))
    return NoteKey(name, signing_key.verify_key, signing_key)


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint."""

    tree_size: int
    root_hash: bytes
    signed_at: datetime
    note: str
    id: int = 0  # its row


def current_tree(connection: Connection) -> tuple[int, bytes, bytes]:
    """The log's size, root hash and head (last event hash), from the state row."""
    size, root, head, _frontier = _state(connection)
    return size, root, head


def _state(connection: Connection) -> tuple[int, bytes, bytes, Frontier]:
    size, head, blob = connection.execute(
        select(AuditLogState.size, AuditLogState.head, AuditLogState.frontier)
        .where(AuditLogState.id == STATE_ID)
    ).one()
    frontier = Frontier.from_bytes(size, bytes(blob))
    return size, frontier.root(), bytes(head), frontier


@overload
def sign_checkpoint(core: LogHost, *, force: Literal[True]) -> Checkpoint: ...


@overload
def sign_checkpoint(core: LogHost, *, force: bool = False) -> Checkpoint | None: ...


def sign_checkpoint(core: LogHost, *, force: bool = False) -> Checkpoint | None:
    """Sign a checkpoint of the current tree; unless ``force``, only when the log grew since the
    last one. Returns the checkpoint, or None when there was nothing new to sign."""
    key = core.audit_key()
    with core.transaction() as connection:
        size, root, _head, frontier = _state(connection)
        last = connection.execute(select(func.max(AuditCheckpoint.tree_size))).scalar()
        if not force and last is not None and last >= size:
            return None
        at = to_millisecond(utcnow())
        note = key.sign(checkpoint_body(key.name, size, root, at))
        row_id = connection.execute(insert(AuditCheckpoint).values(
            tree_size=size, root_hash=root, signed_at=at, note=note,
            frontier=frontier.to_bytes()).returning(AuditCheckpoint.id)).scalar_one()
    return Checkpoint(size, root, at, note, row_id)


class Checkpointer:
    """Signs a checkpoint every ``interval`` seconds when the log grew, hands the newest to the
    witnesses, and does both once more at stop."""

    def __init__(self, core: LogHost, interval: float) -> None:
        # Witness settings that do not fit together stop the start, not each later round.
        configured_witnesses(core.settings)
        quorum(core.settings)
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
        try:
            hand_to_witnesses(self.core)
        except Exception:  # a witness's trouble must not stop the broker; the next round retries
            log.exception("could not hand the audit checkpoint to the witnesses")

    def stop(self) -> None:
        """Stop the thread and sign a last checkpoint of what was written."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._sign()
