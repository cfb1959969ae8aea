"""``broker audit verify``: check the live log against its own hashes, its signed checkpoints,
its witnesses' cosignatures and the witnesses' own copies.

Rules this module guarantees, checked in this order, naming the first problem:

1. Every checkpoint carries a valid signature of the audit key, its stored compact range gives
   its root, and two checkpoints of one size have one root. Every stored cosignature of a
   trusted witness verifies over its checkpoint.
2. Streaming the events in sequence order (memory stays flat for any size): every hash
   recomputes from the stored columns, the chain follows, the event's subject rows have exactly
   the categories its hash commits to, its personal details match their digest, and details the
   digest commits to are missing only when a later ``audit:details_erased`` event names them.
3. The Merkle tree rebuilt from the events has every signed checkpoint's root at its size, and
   every witness's copy's root at its size: a copy larger than the log means the log was cut
   back, another root at its size that the log was rewritten. The state row matches the events.

What the witnesses hold is read *before* the log (the caller fetches it first), and the log up
to the size its state row had when the check began: a log only grows, so an honest log is never
smaller than a copy read before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker_primitives.merkle import EMPTY_ROOT, Frontier
from sqlalchemy import Connection, select

from broker.audit.chain import GENESIS, Personal, content_of, entry_hash, timestamp
from broker.audit.checkpoints import current_tree
from broker.audit.erasures import ERASED, Erasure, Erasures
from broker.audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditSubject
from broker.audit.notes import CosignerKey, NoteError, NoteKey, parse_checkpoint
from broker.audit.witnessing import WitnessCopy

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
    cosignatures: int = 0
    copies: int = 0
    newest_checkpoint: int | None = None
    witnessed_size: int | None = None  # the largest size a quorum of witnesses co-signed
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return self.problem is None

    @property
    def awaiting_cosignatures(self) -> bool:
        """Whether the newest checkpoint lacks its quorum of cosignatures (a witness was not
        reached, or is not yet)."""
        return self.newest_checkpoint is not None and (
            self.witnessed_size is None or self.witnessed_size < self.newest_checkpoint)


@dataclass
class _Anchor:
    """A root the events must give at a size: a signed checkpoint's, or a witness's copy's."""

    size: int
    root: bytes
    label: str
    copy: bool = False


@dataclass
class _Stream:
    """The state of step 2 and 3 between batches."""

    erasures: Erasures
    erasure_details: dict[int, dict[str, Any]]
    anchors: list[_Anchor] = field(default_factory=list)
    frontier: Frontier = field(default_factory=Frontier.empty)
    previous: bytes = GENESIS


def verify_log(connection: Connection, key: NoteKey,
               progress: Callable[[int], None] | None = None, *,
               witnesses: Sequence[CosignerKey] = (), quorum: int = 1,
               copies: Sequence[WitnessCopy] = ()) -> VerifyReport:
    """Verify the log on ``connection`` against the audit ``key``, the trusted ``witnesses``'
    stored cosignatures (``quorum`` of them make a checkpoint witnessed) and the witnesses'
    ``copies`` (read before this call)."""
    report = VerifyReport()
    checkpoints = _checkpoints(connection, key, report)
    if report.problem is None and witnesses:
        _cosignatures(connection, witnesses, quorum, report)
    if report.problem:
        return report
    size, root, head = current_tree(connection)
    stream = _stream(connection, size, checkpoints, copies)
    if stream is None:
        report.problem = Problem("witness", "a witness's copy of an empty log has another root")
        return report
    report.copies = len(copies)
    last_seq = 0
    while report.problem is None:
        rows = connection.execute(
            select(*_COLUMNS).where(AuditEvent.seq > last_seq, AuditEvent.seq <= size)
            .order_by(AuditEvent.seq).limit(BATCH)
        ).mappings().all()
        if not rows:
            break
        report.problem = _check_batch(connection, rows, stream, report)
        last_seq = rows[-1]["seq"]
        if progress:
            progress(report.events)
    if report.problem is None:
        report.problem = _check_end(stream, report.events, (size, root, head))
    return report


def _stream(connection: Connection, size: int, checkpoints: list[tuple[int, bytes]],
            copies: Sequence[WitnessCopy]) -> _Stream | None:
    erasure_details: dict[int, dict[str, Any]] = {}
    erasures = []
    for seq, details in connection.execute(
            select(AuditEvent.seq, AuditEvent.details)
            .where(AuditEvent.event_type == ERASED, AuditEvent.seq <= size)):
        erasure_details[seq] = dict(details or {})
        erasure = Erasure.of(seq, erasure_details[seq])
        if erasure is not None:
            erasures.append(erasure)
    anchors = [_Anchor(s, r, f"the signed checkpoint of size {s}") for s, r in checkpoints]
    for copy in copies:
        if copy.size == 0:
            if copy.root != EMPTY_ROOT:
                return None
            continue
        anchors.append(_Anchor(copy.size, copy.root, f"the checkpoint of size {copy.size} that "
                               f"{', '.join(copy.cosigners)} co-signed ({copy.source})",
                               copy=True))
    anchors.sort(key=lambda anchor: anchor.size)
    return _Stream(Erasures(erasures), erasure_details, anchors)


def _check_batch(connection: Connection, rows: Sequence[Mapping[Any, Any]], stream: _Stream,
                 report: VerifyReport) -> Problem | None:
    subjects = _subject_categories(connection, rows)
    for row in rows:
        problem = _check_event(row, report.events + 1, stream.previous) \
            or _check_subjects(row, subjects.get(row["id"], [])) \
            or _check_erasure(row, stream)
        if problem:
            return problem
        stream.frontier.append(bytes(row["entry_hash"]))
        stream.previous = bytes(row["entry_hash"])
        report.events += 1
        while stream.anchors and stream.anchors[0].size == stream.frontier.size:
            anchor = stream.anchors.pop(0)
            if stream.frontier.root() != anchor.root:
                return Problem(
                    "witness" if anchor.copy else "checkpoint",
                    f"the events up to {anchor.size} do not give the root of {anchor.label}: "
                    "an event before it was altered, or the log rewritten",
                    row["seq"], row["event_id"])
    return None


def _check_end(stream: _Stream, events: int, state: tuple[int, bytes, bytes]) -> Problem | None:
    copies = [anchor for anchor in stream.anchors if anchor.copy]
    if copies:
        anchor = copies[-1]
        return Problem("cut back", f"{anchor.label} holds {anchor.size} events, but the log "
                       f"holds {events}: the log was cut back (events {events + 1} to "
                       f"{anchor.size} are gone)")
    if stream.anchors:
        return Problem("removed", f"a signed checkpoint covers {stream.anchors[0].size} "
                       f"events, but the log holds {events}: events were removed")
    if state != (events, stream.frontier.root(), stream.previous):
        return Problem("state", "the log's head does not match its events")
    return None


def _checkpoints(connection: Connection, key: NoteKey,
                 report: VerifyReport) -> list[tuple[int, bytes]]:
    """The signed checkpoints, each checked against its signature; sorted by size."""
    result: dict[int, bytes] = {}
    for note, size, root, frontier in connection.execute(
        select(AuditCheckpoint.note, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash,
               AuditCheckpoint.frontier)
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
        if frontier is not None and not _frontier_gives(size, bytes(frontier), bytes(root)):
            report.problem = Problem("checkpoint", f"the compact range stored with the "
                                     f"checkpoint of size {size} does not give its root")
            return []
        if result.get(size, parsed[2]) != parsed[2]:
            report.problem = Problem("fork", f"two signed checkpoints of size {size} differ: "
                                     "the log was forked")
            return []
        result[size] = parsed[2]
        report.checkpoints += 1
        report.newest_checkpoint = size
    return sorted(result.items())


def _frontier_gives(size: int, blob: bytes, root: bytes) -> bool:
    try:
        return Frontier.from_bytes(size, blob).root() == root
    except ValueError:
        return False


def _cosignatures(connection: Connection, witnesses: Sequence[CosignerKey], quorum: int,
                  report: VerifyReport) -> None:
    """Check every stored cosignature of a trusted witness; note how far a quorum reaches."""
    trusted = {(w.name, w.key_id.hex()): w for w in witnesses}
    reached: dict[str, int] = {}
    last_id = 0
    while True:
        rows = connection.execute(
            select(AuditCosignature.id, AuditCosignature.witness, AuditCosignature.key_id,
                   AuditCosignature.signature, AuditCheckpoint.tree_size, AuditCheckpoint.note)
            .join(AuditCheckpoint, AuditCheckpoint.id == AuditCosignature.checkpoint_id)
            .where(AuditCosignature.id > last_id).order_by(AuditCosignature.id).limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            witness = trusted.get((row.witness, row.key_id))
            if witness is None:
                continue  # a witness no longer trusted: its lines are ignored (signed-note)
            try:
                witness.cosignatures(row.note + row.signature)
            except NoteError:
                report.problem = Problem("cosignature", f"the cosignature of {row.witness} on "
                                         f"the checkpoint of size {row.tree_size} does not "
                                         "verify")
                return
            report.cosignatures += 1
            reached[row.witness] = max(reached.get(row.witness, 0), row.tree_size)
        last_id = rows[-1].id
    sizes = sorted(reached.values(), reverse=True)
    report.witnessed_size = sizes[quorum - 1] if len(sizes) >= quorum else None


def _subject_categories(connection: Connection,
                        rows: Sequence[Mapping[Any, Any]]) -> dict[int, list[str]]:
    """The categories of the subject rows of the events in ``rows``, by event id."""
    ids = [row["id"] for row in rows]
    found: dict[int, list[str]] = {}
    for event_id, category in connection.execute(
            select(AuditSubject.event_id, AuditSubject.category)
            .where(AuditSubject.event_id.between(min(ids), max(ids)))):
        found.setdefault(event_id, []).append(category)
    return found


def _check_subjects(row: Mapping[Any, Any], categories: list[str]) -> Problem | None:
    if sorted(categories) != list(row["subject_categories"] or []):
        return Problem("subjects", f"its subject rows ({', '.join(sorted(categories)) or 'none'}) "
                       "are not those its hash commits to "
                       f"({', '.join(row['subject_categories'] or []) or 'none'}): subject "
                       "rows were deleted, added or changed", row["seq"], row["event_id"])
    return None


def _check_erasure(row: Mapping[Any, Any], stream: _Stream) -> Problem | None:
    """Missing details only as an erasure named them; an erasure as it was read before."""
    seq = row["seq"]
    if row["event_type"] == ERASED and stream.erasure_details.get(seq) != row["details"]:
        return Problem("altered", "the erasure changed while the log was checked", seq,
                       row["event_id"])
    if row["personal_digest"] is None or row["personal_salt"] is not None:
        return None
    if not stream.erasures.covers(seq, timestamp(row["occurred_at"])):
        return Problem("personal", "its personal details are gone, but no erasure by the "
                       "retention path (audit:details_erased) names them", seq, row["event_id"])
    return None


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
    elif mapping["source_address"] is not None or mapping["justification"] is not None:
        return Problem("personal", "it holds personal details without the salt of their "
                       "digest", seq, event_id)
    return None

