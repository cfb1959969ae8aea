"""Handing the audit log's checkpoints to witnesses (c2sp.org/tlog-witness), the broker's side.

Rules this module guarantees:

- Each configured witness (``BROKER_WITNESS_URLS`` with ``BROKER_WITNESS_KEYS``, paired in
  order) is handed the newest signed checkpoint with ``POST <prefix>/add-checkpoint``: the size
  the witness last cosigned (``old``), the RFC 9162 consistency proof from that size, and the
  signed checkpoint. The proof comes from the Merkle state: the compact range stored with the
  checkpoint of the old size and the events appended since (:mod:`broker.audit.compact_proofs`),
  and is checked here before it leaves.
- Only a cosignature that verifies under the witness's configured key, over exactly the
  checkpoint's text, is kept (``audit_cosignatures``, append-only). Lines of other keys are
  ignored.
- A ``409`` names the size the witness holds: the broker proves consistency from there. A witness
  that holds a larger tree than the log is not handed anything and the broker says so loudly:
  the log has been cut back, or the database restored from a backup.
- An unreachable or refusing witness is logged and tried again in the next round; the log goes on.
- Settings that do not fit together stop the start with a message saying which and why.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx
from broker_primitives.merkle import Frontier, verify_consistency
from sqlalchemy import Connection, func, insert, select

from broker.audit.compact_proofs import consistency_proof_from, tail_start
from broker.audit.interfaces import LogHost
from broker.audit.models import AuditCheckpoint, AuditCosignature, AuditEvent, AuditLogState
from broker.audit.notes import CosignerKey, NoteError, NoteKey, split_note, tree_head
from broker.config import Settings
from broker.errors import ConfigurationError

log = logging.getLogger("broker.audit")
SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63  # tlog-witness: a client sends at most 63 consistency proof lines
_BATCH = 5_000


@dataclass(frozen=True)
class Witness:
    """A configured witness: its submission (and monitoring) URL prefix and its key."""

    url: str
    key: CosignerKey

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self.key.name


def configured_witnesses(settings: Settings) -> list[Witness]:
    """The witnesses the settings name; ConfigurationError when they do not fit together."""
    urls, keys = settings.witness_urls, settings.witness_keys
    if len(urls) != len(keys):
        raise ConfigurationError(
            "BROKER_WITNESS_URLS names %(urls_count)s witnesses but BROKER_WITNESS_KEYS "
            "%(keys_count)s: give one verifier key per URL, in the same order",
            urls_count=len(urls), keys_count=len(keys))
    witnesses = []
    for url, text in zip(urls, keys, strict=True):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ConfigurationError(
                "BROKER_WITNESS_URLS: %(url)s is not an http(s) URL prefix",
                url=repr(url))
        try:
            key = CosignerKey.from_verifier(text)
        except NoteError as error:
            raise ConfigurationError(
                "BROKER_WITNESS_KEYS: %(text)s is not a witness's verifier key (%(error)s); "
                "print it with: broker witness key",
                text=repr(text[:60]), error=error) from None
        witnesses.append(Witness(url.rstrip("/"), key))
    if len({w.key.verifier() for w in witnesses}) != len(witnesses):
        raise ConfigurationError("BROKER_WITNESS_KEYS names one witness twice")
    return witnesses


def quorum(settings: Settings) -> int:
    """How many witnesses' cosignatures a checkpoint needs (default: every one configured)."""
    count = len(settings.witness_urls)
    wanted = count if settings.witness_quorum is None else settings.witness_quorum
    if count and not 1 <= wanted <= count:
        raise ConfigurationError(
            "BROKER_WITNESS_QUORUM is %(wanted)s, but %(count)s witnesses are configured",
            wanted=wanted, count=count)
    return wanted


Status = Literal["cosigned", "current", "unreachable", "refused", "nothing"]


@dataclass(frozen=True)
class Handed:
    """What handing the newest checkpoint to one witness gave."""

    witness: str
    status: Status
    tree_size: int = 0
    detail: str = ""


@dataclass(frozen=True)
class _Stored:
    id: int
    size: int
    root: bytes
    note: str


def hand_to_witnesses(core: LogHost) -> list[Handed]:
    """Hand the newest checkpoint to every configured witness that has not cosigned it."""
    witnesses = configured_witnesses(core.settings)
    if not witnesses:
        return []
    with httpx.Client(timeout=core.settings.witness_timeout) as client:
        return [_hand(core, client, witness) for witness in witnesses]


def _hand(core: LogHost, client: httpx.Client, witness: Witness) -> Handed:
    with core.transaction() as connection:
        newest = _newest(connection)
        if newest is None:
            return Handed(witness.name, "nothing")
        if _cosigned(connection, newest.id, witness):
            return Handed(witness.name, "current", newest.size)
        old = _last_cosigned_size(connection, witness)
    for _attempt in range(3):
        outcome = _submit(core, client, witness, old, newest)
        if isinstance(outcome, Handed):
            return outcome
        if outcome[0] == old:  # refused from the very size it holds: another tree of that size
            log.critical("witness %s holds another tree of %d events than this log: the audit "
                         "log was rewritten", witness.name, old)
            return Handed(witness.name, "refused", newest.size,
                          f"the witness holds another tree of {old} events")
        old, newest = outcome  # the witness holds another size: prove from there
    return Handed(witness.name, "refused", newest.size, "the witness kept changing its size")


def _submit(core: LogHost, client: httpx.Client, witness: Witness, old: int,
            newest: _Stored) -> Handed | tuple[int, _Stored]:
    """One add-checkpoint request; a Handed, or the size to prove from next."""
    try:
        with core.transaction() as connection:
            body = _request(connection, old, newest)
    except ValueError as error:
        log.error("cannot prove the checkpoint of size %d consistent with size %d for "
                  "witness %s: %s", newest.size, old, witness.name, error)
        return Handed(witness.name, "refused", newest.size, str(error))
    try:
        response = client.post(f"{witness.url}/add-checkpoint", content=body,
                               headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as error:
        log.warning("witness %s unreachable (%s): checkpoint of size %d kept for the next "
                    "round", witness.name, type(error).__name__, newest.size)
        return Handed(witness.name, "unreachable", newest.size, type(error).__name__)
    if response.status_code == 200:
        return _keep(core, witness, newest, response.text)
    held = _held_size(response)
    if held is None:
        log.error("witness %s refused the checkpoint of size %d: HTTP %d %s", witness.name,
                  newest.size, response.status_code, response.text[:200])
        return Handed(witness.name, "refused", newest.size, f"HTTP {response.status_code}")
    return _conflict(core, witness, held, newest)


def _conflict(core: LogHost, witness: Witness, held: int,
              newest: _Stored) -> Handed | tuple[int, _Stored]:
    """The witness holds ``held`` events of this log: prove from there, unless it holds more
    than the log (cut back) or than the newest checkpoint (another process was quicker)."""
    with core.transaction() as connection:
        log_size = connection.execute(select(AuditLogState.size)).scalar_one()
        if held > newest.size:
            newest = _newest(connection) or newest
    if held > log_size:
        log.critical("witness %s has co-signed a tree of %d events, but the log holds %d: "
                     "the audit log was cut back", witness.name, held, log_size)
        return Handed(witness.name, "refused", newest.size,
                      f"the witness holds {held} events, the log {log_size}")
    if held > newest.size:
        return Handed(witness.name, "current", held)
    return held, newest


def _held_size(response: httpx.Response) -> int | None:
    """The size a 409 names, or None for any other answer."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    text = response.text
    if response.status_code != 409 or content_type != SIZE_TYPE or not text.endswith("\n") \
            or not text[:-1].isdecimal() or not text[:-1].isascii():
        return None
    return int(text[:-1])


def _newest(connection: Connection) -> _Stored | None:
    row = connection.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash,
               AuditCheckpoint.note)
        .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1)
    ).first()
    return None if row is None else _Stored(row.id, row.tree_size, bytes(row.root_hash),
                                            row.note)


def _cosigned(connection: Connection, checkpoint_id: int, witness: Witness) -> bool:
    return connection.execute(
        select(func.count()).select_from(AuditCosignature)
        .where(AuditCosignature.checkpoint_id == checkpoint_id,
               AuditCosignature.witness == witness.name,
               AuditCosignature.key_id == witness.key.key_id.hex())
    ).scalar_one() > 0


def _last_cosigned_size(connection: Connection, witness: Witness) -> int:
    size = connection.execute(
        select(func.max(AuditCheckpoint.tree_size))
        .join(AuditCosignature, AuditCosignature.checkpoint_id == AuditCheckpoint.id)
        .where(AuditCosignature.witness == witness.name,
               AuditCosignature.key_id == witness.key.key_id.hex())
    ).scalar()
    return int(size or 0)


def _request(connection: Connection, old: int, newest: _Stored) -> bytes:
    """The add-checkpoint body: ``old N``, the proof lines, an empty line, the checkpoint."""
    if old > newest.size:
        raise ValueError(f"no consistency proof from {old} back to {newest.size}")
    first = frontier_at(connection, old)
    tail = _leaves(connection, tail_start(old), newest.size)
    proof = consistency_proof_from(first, tail, newest.size)
    if not verify_consistency(old, newest.size, first.root(), newest.root, proof):
        raise ValueError(f"the stored Merkle state does not prove the checkpoint of size "
                         f"{newest.size} consistent with size {old}")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError("a consistency proof of more than 63 hashes")
    lines = [f"old {old}\n", *(_b64(node) + "\n" for node in proof), "\n", newest.note]
    return "".join(lines).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def frontier_at(connection: Connection, size: int) -> Frontier:
    """The compact range of the first ``size`` events: stored with the checkpoint of that size,
    or (for a checkpoint signed before migration 0010, or a size only the witness knew) rebuilt
    from the events."""
    stored = connection.execute(
        select(AuditCheckpoint.frontier, AuditCheckpoint.root_hash)
        .where(AuditCheckpoint.tree_size == size, AuditCheckpoint.frontier.is_not(None))
        .limit(1)
    ).first()
    if stored is not None:
        frontier = Frontier.from_bytes(size, bytes(stored.frontier))
        if frontier.root() == bytes(stored.root_hash):
            return frontier
    frontier = Frontier.empty()
    frontier.extend(_leaves(connection, 0, size))
    return frontier


def _leaves(connection: Connection, after: int, upto: int) -> list[bytes]:
    """The hashes of events ``after + 1`` to ``upto``, in order; ValueError when one is missing."""
    leaves: list[bytes] = []
    last = after
    while last < upto:
        batch = [bytes(h) for (h,) in connection.execute(
            select(AuditEvent.entry_hash).where(AuditEvent.seq > last, AuditEvent.seq <= upto)
            .order_by(AuditEvent.seq).limit(_BATCH))]
        if not batch:
            break
        leaves.extend(batch)
        last += len(batch)
    if len(leaves) != upto - after:
        raise ValueError(f"events {after + 1} to {upto} are not all in the log")
    return leaves


def _keep(core: LogHost, witness: Witness, newest: _Stored, answer: str) -> Handed:
    """Store the witness's valid cosignatures on ``newest``."""
    try:
        text, lines = witness.key.cosignatures(newest.note + answer)
    except NoteError as error:
        log.error("witness %s answered with an unusable cosignature: %s", witness.name, error)
        return Handed(witness.name, "refused", newest.size, str(error))
    if text != split_note(newest.note)[0] or not lines:
        log.error("witness %s answered without its cosignature", witness.name)
        return Handed(witness.name, "refused", newest.size, "no cosignature of its key")
    with core.transaction() as connection:
        for moment, line in lines:
            connection.execute(insert(AuditCosignature).values(
                checkpoint_id=newest.id, witness=witness.name,
                key_id=witness.key.key_id.hex(),
                cosigned_at=datetime.fromtimestamp(moment, UTC), signature=line))
    return Handed(witness.name, "cosigned", newest.size)


# -- the witness's copy, for verification --------------------------------------------------------


@dataclass(frozen=True)
class WitnessCopy:
    """A checkpoint of this log that a trusted witness co-signed: where it came from, what it
    commits to, and who co-signed it."""

    source: str
    size: int
    root: bytes
    cosigners: tuple[str, ...]


def read_witness_copy(source: str, note: str, log_key: NoteKey,
                      witnesses: Sequence[CosignerKey]) -> WitnessCopy:
    """A witness's copy checked: signed by the log's key and co-signed by at least one trusted
    witness; NoteError saying what is wrong otherwise."""
    text = log_key.open(note)
    if text is None:
        raise NoteError(f"{source}: not a checkpoint signed by the audit key {log_key.name}")
    head = tree_head(text)
    if head.origin != log_key.name:
        raise NoteError(f"{source}: a checkpoint of another log ({head.origin})")
    cosigners = []
    for key in witnesses:
        _text, lines = key.cosignatures(note)
        if lines:
            cosigners.append(key.name)
    if not cosigners:
        raise NoteError(f"{source}: no valid cosignature of a trusted witness")
    return WitnessCopy(source, head.size, head.root, tuple(cosigners))


def fetch_witness_copy(client: httpx.Client, witness: Witness, origin: str) -> str | None:
    """The witness's newest cosigned checkpoint of ``origin`` (``GET <prefix>/checkpoint/``
    ``<origin>``), or None when it holds none; httpx.HTTPError when it cannot be reached or
    answers otherwise."""
    response = client.get(f"{witness.url}/checkpoint/{quote(origin, safe='/')}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.text


@dataclass
class Gathered:
    """The witnesses' copies a verification compares the log with, and what could not be had."""

    copies: list[WitnessCopy]
    asked: int = 0  # configured witnesses asked
    answered: int = 0  # of those, the ones that answered
    warnings: list[str] = field(default_factory=list)


def gather_copies(settings: Settings, log_key: NoteKey, files: Sequence[tuple[str, str]],
                  extra_keys: Sequence[CosignerKey] = (), *, ask: bool = True) -> Gathered:
    """The copies in ``files`` (name, signed note), checked against the configured and the
    ``extra_keys`` witnesses, and, when ``ask``, each configured witness's newest copy.
    NoteError names a copy that is not a cosigned checkpoint of this log."""
    witnesses = configured_witnesses(settings)
    trusted = [w.key for w in witnesses] + list(extra_keys)
    gathered = Gathered([read_witness_copy(name, note, log_key, trusted)
                         for name, note in files])
    if not ask or not witnesses:
        return gathered
    with httpx.Client(timeout=settings.witness_timeout) as client:
        for witness in witnesses:
            gathered.asked += 1
            try:
                note = fetch_witness_copy(client, witness, log_key.name)
            except httpx.HTTPError as error:
                gathered.warnings.append(f"witness {witness.name} could not be asked for its "
                                         f"copy ({type(error).__name__})")
                continue
            gathered.answered += 1
            if note is None:
                gathered.warnings.append(f"witness {witness.name} holds no checkpoint of this "
                                         "log yet")
                continue
            source = f"{witness.url}/checkpoint/{quote(log_key.name, safe='/')}"
            gathered.copies.append(read_witness_copy(source, note, log_key, [witness.key]))
    return gathered
