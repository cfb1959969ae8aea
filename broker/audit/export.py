"""``broker audit export``: a bundle an auditor verifies offline (``docs/audit-bundle.md``).

The export signs a fresh checkpoint first, so the bundle always ends in a signed tree that holds
every exported event, and hands it to the configured witnesses: their cosignatures travel with
the checkpoints in the bundle (``scripts/verify-audit --witness-key`` checks them; a witness
co-signs only a tree consistent with, and not older than, the newest it co-signed before).
Proofs are computed from the stored leaf hashes, read once in sequence order into one flat
buffer (32 bytes per event).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, overload

from broker_primitives.merkle import SubtreeCache, consistency_proof, inclusion_proof
from sqlalchemy import Connection, func, select

from broker.audit.chain import FORMAT, canonical, content_of, timestamp
from broker.audit.checkpoints import sign_checkpoint
from broker.audit.events import Event
from broker.audit.interfaces import LogHost
from broker.audit.models import AuditCheckpoint, AuditCosignature, AuditEvent
from broker.audit.services import Actor, record_event
from broker.audit.witnessing import hand_to_witnesses
from broker.errors import ValidationError

BATCH = 5_000
_COLUMNS = list(AuditEvent.__table__.columns)


class LeafBuffer(Sequence[bytes]):
    """Leaf hashes in one bytearray: a Sequence the proof functions can index."""

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        self._data += leaf

    def __len__(self) -> int:
        return len(self._data) // 32

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return bytes(self._data[index * 32:(index + 1) * 32])


@dataclass(frozen=True)
class ExportReport:
    """What was written."""

    directory: Path
    first_seq: int
    last_seq: int
    checkpoints: int
    tree_size: int

    @property
    def event_count(self) -> int:
        """The number of events in the bundle."""
        return self.last_seq - self.first_seq + 1


def export_bundle(core: LogHost, actor: Actor, out: Path, start: datetime, end: datetime,
                  progress: Callable[[str], None] | None = None) -> ExportReport:
    """Write the events that occurred in ``[start, end)`` and their proofs to ``out``.

    ``out`` must not exist or be an empty directory: a bundle is never mixed with an older one.
    The export is itself an audit event (``audit:exported``), written before the final
    checkpoint, so a bundle whose period includes today holds its own export.
    """
    if end <= start:
        raise ValidationError("the end of the period must come after its start")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValidationError("%(out)s exists and is not an empty directory", out=out)
    say = progress or (lambda _message: None)
    with core.transaction() as connection:
        record_event(connection, actor, Event.AUDIT_EXPORTED,
                     details={"from": timestamp(start), "to": timestamp(end)})
    final = sign_checkpoint(core, force=True)
    hand_to_witnesses(core)
    key = core.audit_key()
    with core.transaction() as connection:
        first, last = _range(connection, start, end, final.tree_size)
        notes = connection.execute(
            select(AuditCheckpoint.tree_size, AuditCheckpoint.id, AuditCheckpoint.note)
            .where(AuditCheckpoint.tree_size.between(first, last),
                   AuditCheckpoint.tree_size < final.tree_size)
            .order_by(AuditCheckpoint.tree_size, AuditCheckpoint.id)
        ).all()
        chosen: dict[int, tuple[int, str]] = {}
        for size, row_id, note in notes:
            chosen.setdefault(size, (row_id, note))
        chosen[final.tree_size] = (final.id, final.note)
        checkpoints = _with_cosignatures(connection, chosen, first)
        out.mkdir(parents=True, exist_ok=True)
        say(f"events {first}..{last} of {final.tree_size}")
        leaves = _write_events(connection, out / "events.jsonl", first, last,
                               final.tree_size, say)
    sizes = sorted(checkpoints)
    proofs = _proofs(leaves, sizes, first, last)
    (out / "checkpoints.txt").write_text("\n".join(checkpoints[s] for s in sizes),
                                         encoding="utf-8")
    (out / "proofs.json").write_text(json.dumps(proofs, indent=1) + "\n", encoding="utf-8")
    (out / "audit-key.pub").write_text(key.verifier() + "\n", encoding="utf-8")
    manifest = {
        "format": FORMAT, "origin": key.name, "first_seq": first, "last_seq": last,
        "event_count": max(0, last - first + 1), "from": timestamp(start), "to": timestamp(end),
        "created_at": timestamp(final.signed_at), "tree_size": final.tree_size,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return ExportReport(out, first, last, len(sizes), final.tree_size)


def _with_cosignatures(connection: Connection, chosen: dict[int, tuple[int, str]],
                       first: int) -> dict[int, str]:
    """Each chosen checkpoint's note with the witnesses' cosignature lines added."""
    ids = {row_id for row_id, _note in chosen.values()}
    lines: dict[int, list[str]] = {}
    for checkpoint_id, line in connection.execute(
            select(AuditCosignature.checkpoint_id, AuditCosignature.signature)
            .join(AuditCheckpoint, AuditCheckpoint.id == AuditCosignature.checkpoint_id)
            .where(AuditCheckpoint.tree_size >= first).order_by(AuditCosignature.id)):
        if checkpoint_id in ids:
            lines.setdefault(checkpoint_id, []).append(line)
    return {size: note + "".join(lines.get(row_id, [])) for size, (row_id, note) in chosen.items()}


def _range(connection: Connection, start: datetime, end: datetime,
           size: int) -> tuple[int, int]:
    """The first and last sequence numbers in the period (an empty range: last = first − 1)."""
    first, last = connection.execute(
        select(func.min(AuditEvent.seq), func.max(AuditEvent.seq))
        .where(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end,
               AuditEvent.seq <= size)
    ).one()
    if first is None:
        return 1, 0
    return int(first), int(last)


def _write_events(connection: Connection, path: Path, first: int, last: int, size: int,
                  say: Callable[[str], None]) -> LeafBuffer:
    """Write events ``first..last`` and return the leaf hashes of the whole tree of ``size``."""
    leaves = LeafBuffer()
    with path.open("w", encoding="utf-8") as handle:
        for row in _rows(connection, size):
            leaves.append(bytes(row["entry_hash"]))
            if first <= row["seq"] <= last:
                handle.write(canonical(_line(row)).decode("utf-8") + "\n")
            if row["seq"] % 1_000_000 == 0:
                say(f"{row['seq']:,} events read")
    return leaves


def _rows(connection: Connection, size: int) -> Iterator[Any]:
    last = 0
    while last < size:
        rows = connection.execute(
            select(*_COLUMNS).where(AuditEvent.seq > last, AuditEvent.seq <= size)
            .order_by(AuditEvent.seq).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        yield from rows
        last = rows[-1]["seq"]


def _line(row: Any) -> dict[str, Any]:
    """An event line: its content, its hash and, while they exist, its personal details."""
    line = content_of(row)
    line["hash"] = bytes(row["entry_hash"]).hex()
    if row["personal_salt"] is not None:
        line["personal"] = {"justification": row["justification"],
                            "source_address": row["source_address"],
                            "salt": bytes(row["personal_salt"]).hex()}
    return line


def _proofs(leaves: LeafBuffer, sizes: list[int], first: int,
            last: int) -> dict[str, list[dict[str, Any]]]:
    """Inclusion proofs that pin each checkpoint to the bundle's events, and consistency proofs
    between consecutive checkpoints."""
    cache = SubtreeCache()  # the proofs share most of their perfect subtrees
    pinned = [(size - 1, size) for size in sizes if first <= size <= last]
    if last >= first:
        pinned.append((last - 1, sizes[-1]))
    inclusion = [
        {"leaf_index": index, "tree_size": size,
         "path": [h.hex() for h in inclusion_proof(leaves, index, size, cache=cache)]}
        for index, size in pinned
    ]
    consistency = [
        {"first": m, "second": n,
         "path": [h.hex() for h in consistency_proof(leaves, m, n, cache=cache)]}
        for m, n in itertools.pairwise(sizes)
    ]
    return {"inclusion": inclusion, "consistency": consistency}
