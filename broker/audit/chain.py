"""The hash chain and Merkle tree of the audit log (format 1, ``docs/audit-bundle.md``).

Rules this module guarantees:

- An event's content is canonical JSON (sorted keys, no whitespace, UTF-8, no floats); its hash
  is the RFC 9162 leaf hash of those bytes, and the content holds the previous event's hash, so
  the hashes form a chain and are, at the same time, the leaves of the Merkle tree.
- Appending locks the single state row first (``UPDATE … RETURNING``), in the caller's
  transaction: concurrent writers on SQLite and PostgreSQL queue there, so sequence numbers are
  linear, without gaps (a rolled-back transaction takes its number back) and without forks.
- An append is two statements on PostgreSQL: that lock, then one statement that moves the state
  on and inserts the event and its subjects (data-modifying ``WITH``); on SQLite, which has no
  such statements, the lock and three more. :func:`append` makes that choice, nowhere else.
- Format 1 never changes: existing hashes depend on it (migration 0003 uses it to seal the events
  written before the chain existed).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from broker_primitives.merkle import Frontier, leaf_hash
from sqlalchemy import (
    Connection,
    Integer,
    Table,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    true,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.expression import TableValuedAlias, Values

from broker.audit.models import AuditEvent, AuditLogState, AuditSubject
from broker.db import Prepared, prepared_insert

FORMAT = "broker-audit-bundle/1"
GENESIS = bytes(32)  # the prev_hash of the first event
STATE_ID = 1

# The members of an event's content, in the order of docs/audit-bundle.md.
CONTENT_MEMBERS = (
    "seq", "event_id", "occurred_at", "event_type", "action", "outcome", "reason", "actor",
    "actor_role", "on_behalf_of", "organisation_id", "channel", "request_id", "purpose",
    "legal_basis", "statute", "consent_reference", "policy_version", "rule_id", "obligations",
    "vital_interest", "subjects", "personal_digest", "details", "prev_hash",
)
PERSONAL_MEMBERS = ("justification", "source_address")

_STATE = cast(Table, AuditLogState.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
_SUBJECTS = cast(Table, AuditSubject.__table__)
SUBJECT_COLUMNS = ("category", "value", "oprf_epoch", "broker_epoch")

# Compiled once per dialect and run on the DBAPI cursor: every look-up appends an event.
_LOCK_STATE = Prepared(
    update(_STATE).where(_STATE.c.id == bindparam("id")).values(size=_STATE.c.size + 1)
    .returning(_STATE.c.size, _STATE.c.head, _STATE.c.frontier)
)
_SET_STATE = Prepared(
    update(_STATE).where(_STATE.c.id == bindparam("id"))
    .values(head=bindparam("head"), frontier=bindparam("frontier"))
)
_INSERT_EVENT = prepared_insert(_EVENTS, returning=_EVENTS.c.id)
_INSERT_SUBJECTS = prepared_insert(_SUBJECTS)


def _one_statement(count: int | None) -> Prepared:
    """PostgreSQL's rest of an append, one statement: the state moves on, the event is inserted
    and its ``count`` subjects with the event's id, in their order: bound as the rows of a
    ``VALUES`` list (``<column>_<i>``), or, for ``None``, as one array per column
    (``subject_<column>``), whatever their number.

    The sub-statements of a ``WITH`` run on one snapshot: none reads what another writes, and
    the subjects' foreign key is checked at the statement's end, when the event is there.
    """
    event = insert(_EVENTS).values(
        {c.name: bindparam(c.name) for c in _EVENTS.columns if not c.primary_key}
    ).returning(_EVENTS.c.id).cte("event")
    state = update(_STATE).where(_STATE.c.id == bindparam("id")).values(
        head=bindparam("head"), frontier=bindparam("frontier")).cte("state")
    statement = select(event.c.id).add_cte(state)
    if count == 0:
        return Prepared(statement)
    types = {name: _SUBJECTS.c[name].type for name in SUBJECT_COLUMNS}
    rows: TableValuedAlias | Values
    if count is None:
        rows = func.unnest(
            *(bindparam(f"subject_{name}", type_=ARRAY(types[name])) for name in SUBJECT_COLUMNS)
        ).table_valued(*SUBJECT_COLUMNS, with_ordinality="position").render_derived("subject")
    else:
        rows = values(column("position", Integer),
                      *(column(name, types[name]) for name in SUBJECT_COLUMNS),
                      name="subject").data([
            (literal_column(str(i)),
             *(bindparam(f"{name}_{i}", type_=types[name]) for name in SUBJECT_COLUMNS))
            for i in range(count)])
    subjects = insert(_SUBJECTS).from_select(
        ["event_id", *SUBJECT_COLUMNS],
        select(event.c.id, *(rows.c[name] for name in SUBJECT_COLUMNS))
        .select_from(event).join(rows, true()).order_by(rows.c.position),
    ).cte("subjects")
    return Prepared(statement.add_cte(subjects))


# Up to this many subjects go as the rows of a VALUES list, a statement for each number: psycopg
# adapts scalars for a fraction of what it spends on a list (an array, in Python); more go as
# arrays, in one statement whatever their number.
VALUES_ROWS = 8
_WRITE_IN_ONE = [_one_statement(count) for count in range(VALUES_ROWS + 1)]
_WRITE_IN_ONE_ARRAYS = _one_statement(None)
_ROW_BINDS = [tuple((name, f"{name}_{i}") for name in SUBJECT_COLUMNS)
              for i in range(VALUES_ROWS)]
# The dialects that write the rest of an append in one statement (data-modifying WITH); the
# others (SQLite) run the state update and the inserts one by one.
ONE_STATEMENT = frozenset({"postgresql"})


# What ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False)`` makes, with one encoder for every event instead of one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode


def canonical(value: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a JSON object (RFC 8785 for the value types the log uses)."""
    return _CANONICAL(value).encode("utf-8")


def timestamp(moment: datetime) -> str:
    """UTC with milliseconds: ``2026-11-24T13:48:00.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_millisecond(moment: datetime) -> datetime:
    """``moment`` truncated to whole milliseconds, so that the stored time and the hashed time
    are the same value."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_json(value: object, where: str = "details") -> None:
    """Refuse values the canonical form cannot carry exactly (floats, non-string keys, …)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            check_json(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit {where}: keys must be strings, not {key!r}")
            check_json(item, f"{where}.{key}")
        return
    raise TypeError(f"audit {where}: {type(value).__name__} cannot be hashed exactly")


@dataclass(frozen=True)
class Personal:
    """Personal details of an event, kept outside the hash and committed by a salted digest."""

    source_address: str | None = None
    justification: str | None = None

    def __bool__(self) -> bool:
        return self.source_address is not None or self.justification is not None

    def digest(self, salt: bytes) -> str:
        """``hex(SHA-256(salt || canonical details))``."""
        body = canonical({"justification": self.justification,
                          "source_address": self.source_address})
        return hashlib.sha256(salt + body).hexdigest()


def new_salt() -> bytes:
    """Sixteen random bytes: the digest of a truncated address cannot be brute-forced."""
    return secrets.token_bytes(16)


def entry_hash(content: Mapping[str, Any]) -> bytes:
    """The event's hash: the RFC 9162 leaf hash of its canonical content."""
    return leaf_hash(canonical(content))


def content_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event's content from its stored columns (a row mapping of ``audit_events``)."""
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "occurred_at": timestamp(row["occurred_at"]),
        "event_type": row["event_type"],
        "action": row["action"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "actor": row["actor"],
        "actor_role": row["actor_role"],
        "on_behalf_of": row["on_behalf_of"],
        "organisation_id": row["organisation_id"],
        "channel": row["channel"],
        "request_id": row["request_id"],
        "purpose": row["purpose"],
        "legal_basis": row["legal_basis"],
        "statute": row["statute"],
        "consent_reference": row["consent_reference"],
        "policy_version": row["policy_version"],
        "rule_id": row["rule_id"],
        "obligations": list(row["obligations"] or []),
        "vital_interest": bool(row["vital_interest"]),
        "subjects": list(row["subject_categories"] or []),
        "personal_digest": row["personal_digest"],
        "details": dict(row["details"] or {}),
        "prev_hash": bytes(row["prev_hash"]).hex(),
    }


@dataclass(frozen=True)
class Link:
    """An event's place in the log once appended: its row id and its place in the chain."""

    id: int
    seq: int
    prev_hash: bytes
    entry_hash: bytes


def append(connection: Connection, fields: dict[str, Any],
           subjects: Sequence[Mapping[str, Any]] = ()) -> Link:
    """Append the event ``fields`` (its columns, without ``seq`` and hashes) and its
    ``subjects`` (their columns but ``event_id``) to the log, in ``connection``'s transaction.

    Locks the state row, computes the hash over the content with the previous hash, moves the
    head and the Merkle frontier on and inserts the rows. ``fields`` gains ``seq``,
    ``prev_hash`` and ``entry_hash``.
    """
    ((size, head, frontier_bytes),) = _LOCK_STATE.all(connection, {"id": STATE_ID})
    frontier = Frontier.from_bytes(size - 1, bytes(frontier_bytes))
    prev_hash = bytes(head)
    fields["seq"] = size
    fields["prev_hash"] = prev_hash
    digest = entry_hash(content_of(fields))
    fields["entry_hash"] = digest
    frontier.append(digest)
    write = _write_in_one if connection.dialect.name in ONE_STATEMENT else _write_separately
    row_id = write(connection, fields, subjects, digest, frontier.to_bytes())
    return Link(row_id, size, prev_hash, digest)


def _write_in_one(connection: Connection, fields: Mapping[str, Any],
                  subjects: Sequence[Mapping[str, Any]], head: bytes, frontier: bytes) -> int:
    params = {**fields, "id": STATE_ID, "head": head, "frontier": frontier}
    if len(subjects) <= VALUES_ROWS:
        statement = _WRITE_IN_ONE[len(subjects)]
        for binds, subject in zip(_ROW_BINDS, subjects, strict=False):
            for name, bind in binds:
                params[bind] = subject[name]
    else:
        statement = _WRITE_IN_ONE_ARRAYS
        for name in SUBJECT_COLUMNS:
            params[f"subject_{name}"] = [subject[name] for subject in subjects]
    row_id: int = statement.insert_one(connection, params)
    return row_id


def _write_separately(connection: Connection, fields: Mapping[str, Any],
                      subjects: Sequence[Mapping[str, Any]], head: bytes, frontier: bytes
                      ) -> int:
    _SET_STATE.execute(connection, {"id": STATE_ID, "head": head, "frontier": frontier})
    row_id: int = _INSERT_EVENT.insert_one(connection, fields)
    _INSERT_SUBJECTS.insert_many(connection, [{"event_id": row_id, **subject}
                                              for subject in subjects])
    return row_id
