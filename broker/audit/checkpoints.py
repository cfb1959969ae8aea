"""Signed checkpoints of the audit log (C2SP signed notes, ``docs/audit-bundle.md``).

Rules this module guarantees:

- A checkpoint commits to the whole log: tree size, RFC 9162 root hash, time, signed with the
  broker's Ed25519 audit key (``keys/audit/signing.key``, mode 0600). The root comes from the
  state row's compact range, so a checkpoint costs the same for ten events as for ten million;
  that compact range is stored with the checkpoint, so a consistency proof from it to a later
  tree needs only the events after it (:mod:`broker.audit.witnessing`).
- A running broker signs one at least every minute while the log grows (the ``audit-checkpoint``
  job of ``broker worker``, broker.cli.jobs), and once more when the worker stops; a
  command-line run signs one when it is done. After each round the newest checkpoint is handed
  to the configured witnesses; one that could not be reached gets it in a later round, and the
  log goes on meanwhile.
- Checkpoints are append-only in the database, like the events.
"""

from __future__ import annotations

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
from broker.clock import utcnow
from broker.signing import ensure_signing_key, load_signing_key

__all__ = [
    "Checkpoint",
    "NoteKey",
    "audit_key_path",
    "checkpoint_body",
    "current_tree",
    "ensure_audit_key",
    "load_audit_key",
    "parse_checkpoint",
    "sign_checkpoint",
]


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


def _state(connection: Connection, *, lock: bool = False
           ) -> tuple[int, bytes, bytes, Frontier]:
    query = select(AuditLogState.size, AuditLogState.head, AuditLogState.frontier).where(
        AuditLogState.id == STATE_ID)
    size, head, blob = connection.execute(query.with_for_update() if lock else query).one()
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
        # The state row locked first: of two workers signing at once, the second waits, then
        # sees the first one's checkpoint and signs nothing (no checkpoint twice).
        size, root, _head, frontier = _state(connection, lock=True)
        last = connection.execute(select(func.max(AuditCheckpoint.tree_size))).scalar()
        if not force and last is not None and last >= size:
            return None
        at = to_millisecond(utcnow())
        note = key.sign(checkpoint_body(key.name, size, root, at))
        row_id = connection.execute(insert(AuditCheckpoint).values(
            tree_size=size, root_hash=root, signed_at=at, note=note,
            frontier=frontier.to_bytes()).returning(AuditCheckpoint.id)).scalar_one()
    return Checkpoint(size, root, at, note, row_id)
