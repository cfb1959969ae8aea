"""``broker.db.Prepared``: the parameters it hands the driver, on each dialect.

The hot path builds them in one pass over the statement's binds (issue 13); they must be what
the first implementation built: every row value through its column type's bind processor, the
statement's literals as they are unless the row gives the value, a missing value refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Dialect, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from broker.audit.models import AuditEvent, AuditSubject
from broker.db import Prepared, prepared_insert

EVENTS = cast(Table, AuditEvent.__table__)
DIALECTS = [sqlite.pysqlite.dialect(), postgresql.psycopg.dialect()]


def first_implementation(prepared: Prepared, dialect: Dialect,
                         row: Mapping[str, Any]) -> tuple[str, Sequence[Any] | dict[str, Any]]:
    """How ``Prepared`` built the parameters before the one-pass plan."""
    sql, order, processors, constants = prepared._prepare(dialect, ())
    values = dict(constants)
    for name, value in row.items():
        processor = processors.get(name)
        values[name] = processor(value) if processor else value
    if dialect.positional:
        return sql, [values[n] for n in order]
    return sql, {n: values[n] for n in order}  # the driver reads only the statement's binds


def comparable(params: Sequence[Any] | dict[str, Any]) -> object:
    """``params`` with psycopg's wrappers (``Json``: equal only to itself) as what they wrap."""
    def plain(value: Any) -> object:
        return (type(value).__name__, value.obj) if hasattr(value, "obj") else value
    if isinstance(params, dict):
        return {name: plain(value) for name, value in params.items()}
    return [plain(value) for value in params]


EVENT = {
    "seq": 7, "event_id": "e-1", "occurred_at": datetime(2026, 3, 2, 12, 0, 0, 123000, UTC),
    "event_type": "lookup:performed", "action": "R", "outcome": "success", "reason": None,
    "actor": "key:a", "actor_role": None, "on_behalf_of": None, "organisation_id": 1,
    "channel": "api", "request_id": None, "purpose": "p", "legal_basis": None, "statute": None,
    "consent_reference": None, "policy_version": None, "rule_id": None, "obligations": ["x"],
    "vital_interest": True, "subject_categories": ["person"], "personal_digest": None,
    "details": {"b": 1, "a": [None, "é"]}, "prev_hash": bytes(32), "entry_hash": bytes([1]) * 32,
    "source_address": None, "justification": None, "personal_salt": None,
}
CASES: list[tuple[Prepared, dict[str, Any]]] = [
    (prepared_insert(EVENTS, returning=EVENTS.c.id), EVENT),
    (prepared_insert(EVENTS), {**EVENT, "not_a_column": 1}),
    (prepared_insert(cast(Table, AuditSubject.__table__)),
     {"event_id": 1, "category": "person", "value": b"\x00" * 32, "oprf_epoch": 1,
      "broker_epoch": 2}),
    # A literal of the statement ("success") beside bound values, and one bind used twice.
    (Prepared(select(EVENTS.c.id).where(
        EVENTS.c.outcome == "success", EVENTS.c.seq > bindparam("floor"),
        EVENTS.c.seq != bindparam("floor"))), {"floor": 3}),
    (Prepared(select(EVENTS.c.id).where(EVENTS.c.outcome == "success")),
     {"outcome_1": "refused"}),  # the row may give a literal's value
    (Prepared(update(EVENTS).where(EVENTS.c.id == bindparam("id"))
              .values(occurred_at=bindparam("at"))),
     {"id": 1, "at": datetime(2026, 1, 1, tzinfo=UTC)}),
]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize(("prepared", "row"), CASES)
def test_parameters_are_what_they_were(dialect: Dialect, prepared: Prepared,
                                       row: dict[str, Any]) -> None:
    sql, params = prepared._params(dialect, row)
    first_sql, first = first_implementation(prepared, dialect, row)
    assert sql == first_sql
    assert comparable(params) == comparable(first)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_missing_value_is_refused(dialect: Dialect) -> None:
    prepared = prepared_insert(EVENTS)
    row = dict(EVENT)
    del row["details"]
    with pytest.raises(KeyError, match="details"):
        prepared._params(dialect, row)
