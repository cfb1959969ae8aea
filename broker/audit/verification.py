"""``broker audit verify``: check the live log against its own hashes and signed checkpoints.

The check streams the events in sequence order (memory stays flat for any size), recomputes
every hash from the stored columns, follows the chain, rebuilds the Merkle tree's compact range
and compares it with every signed checkpoint and with the state row. It names the first problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from broker.audit.chain import GENESIS, Personal, content_of, entry_hash
from broker.audit.checkpoints import NoteKey, current_tree, parse_checkpoint
from broker.audit.merkle import Frontier
from broker.audit.models import AuditCheckpoint, AuditEvent

BATCH = 5_000
_COLUMNS = list(AuditEvent.__table__.columns)


@dataclass
class Problem:
    """The first thing found wrong."""

    kind: str
    message: str
    seq: int | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        where = f"event {self.seq} ({self.event_id}): " if self.seq is not None else ""
        return f"{where}{self.message}"


@dataclass
class VerifyReport:
    """What ``verify_log`` checked, and the first problem if any."""

    events: int = 0
    checkpoints: int = 0
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return self.problem is None


def verify_log(connection: Connection, key: NoteKey,
               progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Verify the log on ``connection`` against ``key``, up to the size its state row had when
    the check began (a running broker goes on appending meanwhile).

    The checkpoints are read before the state row: a log only grows, so every checkpoint read
    must lie within that state; one beyond it means events were removed.
    """
    report = VerifyReport()
    checkpoints = _checkpoints(connection, key, report)
    if report.problem:
        return report
    size, root, head = current_tree(connection)
    frontier = Frontier.empty()
    previous, expected_seq = GENESIS, 1
    pending = list(checkpoints)
    last_seq = 0
    while True:
        rows = connection.execute(
            select(*_COLUMNS).where(AuditEvent.seq > last_seq, AuditEvent.seq <= size)
            .order_by(AuditEvent.seq).limit(BATCH)
        ).mappings().all()
        if not rows:
            break
        for row in rows:
            problem = _check_event(row, expected_seq, previous)
            if problem:
                report.problem = problem
                return report
            frontier.append(bytes(row["entry_hash"]))
            previous, expected_seq = bytes(row["entry_hash"]), expected_seq + 1
            report.events += 1
            while pending and pending[0][0] == frontier.size:
                signed_size, signed_root = pending.pop(0)
                if frontier.root() != signed_root:
                    report.problem = Problem(
                        "checkpoint", f"the events up to {signed_size} do not match the "
                        f"signed checkpoint of size {signed_size}: an event before it was "
                        "altered", row["seq"], row["event_id"])
                    return report
        last_seq = rows[-1]["seq"]
        if progress:
            progress(report.events)
    if pending:
        report.problem = Problem("removed", f"a signed checkpoint covers {pending[0][0]} "
                                 f"events, but the log holds {report.events}: events were "
                                 "removed")
        return report
    if (size, root, head) != (report.events, frontier.root(), previous):
        report.problem = Problem("state", "the log's head does not match its events")
    return report


def _checkpoints(connection: Connection, key: NoteKey,
                 report: VerifyReport) -> list[tuple[int, bytes]]:
    """The signed checkpoints, each checked against its signature; sorted by size."""
    result: dict[int, bytes] = {}
    for note, size, root in connection.execute(
        select(AuditCheckpoint.note, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash)
        .order_by(AuditCheckpoint.tree_size, AuditCheckpoint.id)
    ):
        text = key.open(note)
        try:
            parsed = parse_checkpoint(text) if text else None
        except ValueError:
            parsed = None
        if parsed is None or parsed[1:] != (size, bytes(root)):
            report.problem = Problem("signature", f"the checkpoint of size {size} does not "
                                     "carry a valid signature of the audit key")
            return []
        if result.get(size, parsed[2]) != parsed[2]:
            report.problem = Problem("fork", f"two signed checkpoints of size {size} differ: "
                                     "the log was forked")
            return []
        result[size] = parsed[2]
        report.checkpoints += 1
    return sorted(result.items())


def _check_event(mapping: Mapping[Any, Any], expected_seq: int,
                 previous: bytes) -> Problem | None:
    seq, event_id = mapping["seq"], mapping["event_id"]
    if seq != expected_seq:
        kind = "removed" if seq > expected_seq else "inserted"
        return Problem(kind, f"expected event {expected_seq} next, found {seq}", seq, event_id)
    if bytes(mapping["prev_hash"]) != previous:
        return Problem("chain", "its previous hash is not the hash of the event before it",
                       seq, event_id)
    if entry_hash(content_of(mapping)) != bytes(mapping["entry_hash"]):
        return Problem("altered", "its content does not match its hash", seq, event_id)
    salt = mapping["personal_salt"]
    if salt is not None:
        personal = Personal(mapping["source_address"], mapping["justification"])
        if personal.digest(bytes(salt)) != mapping["personal_digest"]:
            return Problem("personal", "its personal details do not match their digest",
                           seq, event_id)
    return None
