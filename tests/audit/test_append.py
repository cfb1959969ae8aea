"""One append: the statements it sends on each dialect, and what it writes (issue 13).

PostgreSQL writes the state, the event and its subjects in one statement after the lock (up to
``VALUES_ROWS`` subjects as the rows of a VALUES list, more as arrays); SQLite runs them one by
one. Both must write the same rows, byte for byte, and the count is
pinned so that a regression fails here.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, select

from broker.audit import chain, services
from broker.audit.models import AuditEvent, AuditLogState, AuditSubject
from broker.audit.services import Actor, Subject, record_event
from broker.audit.verification import verify_log
from broker.core import Core

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from bench_audit import counted_statements  # scripts/ is not a package

ACTOR = Actor(actor="key:test-1", channel="api", organisation_id=1, request_id="r-1",
              source_address="10.1.2.0/24")
SUBJECTS = [Subject("person", bytes([7]) * 32, 1, 2), Subject("address", bytes([9]) * 32, 1, 2),
            Subject("person", bytes([3]) * 32, 1, 2)]

# Statements per append: (with subjects, without). SQLite: the lock, the state, the event and
# one execution per subject; PostgreSQL: the lock and one statement for the rest.
STATEMENTS = {"sqlite": (6, 3), "postgresql": (2, 2)}


def _lookup(connection: Connection, subjects: list[Subject], **extra: Any) -> None:
    record_event(connection, ACTOR, "lookup:performed", purpose="safety_assessment",
                 legal_basis="legal_task", policy_version="ab" * 32, rule_id="rule-1",
                 subjects=subjects, details={"match_count": 1, "nested": {"b": [1], "a": None}},
                 justification="acute zorg", obligations=["inform", "coordinate"], **extra)


def test_an_append_runs_its_pinned_number_of_statements(core: Core) -> None:
    with core.transaction() as connection:
        _lookup(connection, SUBJECTS)  # the transaction has begun, the statements are compiled
        with counted_statements(connection) as with_subjects:
            _lookup(connection, SUBJECTS)
        with counted_statements(connection) as without:
            _lookup(connection, [])
    assert (with_subjects.statements, without.statements) == STATEMENTS[
        core.engine.dialect.name]
    if core.engine.dialect.name == "postgresql":
        assert (with_subjects.round_trips, without.round_trips) == (2, 2)


def _rows(connection: Connection) -> tuple[dict[str, Any], list[dict[str, Any]], tuple[Any, ...]]:
    event = connection.execute(
        select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).mappings().one()
    subjects = connection.execute(
        select(AuditSubject).where(AuditSubject.event_id == event["id"])
        .order_by(AuditSubject.id)).mappings().all()
    state = connection.execute(
        select(AuditLogState.size, AuditLogState.head, AuditLogState.frontier)).one()
    # Row ids come from sequences, which a rollback does not take back.
    return ({k: v for k, v in event.items() if k != "id"},
            [{k: v for k, v in s.items() if k not in ("id", "event_id")} for s in subjects],
            tuple(state))


@pytest.mark.parametrize("subjects", [SUBJECTS, [], SUBJECTS[:1], SUBJECTS * 3],
                         ids=["three", "none", "one", "nine"])
def test_one_statement_writes_what_separate_statements_write(
        core: Core, monkeypatch: pytest.MonkeyPatch, subjects: list[Subject]) -> None:
    if core.engine.dialect.name not in chain.ONE_STATEMENT:
        pytest.skip("this dialect writes an append's rows one by one only")
    monkeypatch.setattr(services, "new_salt", lambda: bytes(range(16)))
    fixed = {"event_id": "0192f0c4-7f1e-7cc0-9d1e-5b7c7f3a0b11",
             "at": datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)}
    written = []
    for one_statement in (chain.ONE_STATEMENT, frozenset[str]()):
        monkeypatch.setattr(chain, "ONE_STATEMENT", one_statement)
        connection = core.engine.connect()
        try:
            transaction = connection.begin()
            _lookup(connection, subjects, **fixed)
            written.append(_rows(connection))
            transaction.rollback()  # the next run appends at the same place
        finally:
            connection.close()
    assert (len(subjects) > chain.VALUES_ROWS) == (len(subjects) == 9)  # both forms are tried
    assert written[0] == written[1]
    event, rows, _state = written[0]
    assert len(rows) == len(subjects)
    assert [(r["category"], r["value"]) for r in rows] == [(s.category, s.value)
                                                         for s in subjects]
    assert event["personal_salt"] == bytes(range(16))


def test_appended_events_verify(core: Core) -> None:
    for subjects in (SUBJECTS, [], SUBJECTS[1:], SUBJECTS * 3):
        with core.transaction() as connection:
            _lookup(connection, subjects)
    with core.transaction() as connection:
        report = verify_log(connection, core.audit_key())
        counts = [len(connection.execute(select(AuditSubject.id).where(
            AuditSubject.event_id == event_id)).all()) for event_id in connection.scalars(
            select(AuditEvent.id).where(AuditEvent.actor == ACTOR.actor)
            .order_by(AuditEvent.seq))]
    assert report.ok, report.problem
    assert counts == [3, 0, 2, 9]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.text(), JSON, max_size=6))
def test_canonical_bytes_are_json_dumps_bytes(value: dict[str, Any]) -> None:
    """One encoder for every event writes what ``json.dumps`` with the canonical options did,
    so that old and new events hash alike."""
    assert chain.canonical(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False).encode("utf-8")


def test_event_ids_are_uuid7_strings() -> None:
    for _ in range(200):
        event_id = services.time_ordered_uuid()
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
