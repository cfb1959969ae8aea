"""The look-up's statement is driven from the matching-key index on SQLite, whatever the other
indexes: a plan that starts from the asker's (or every active) involvement grows with the
registry, and p99 at 10⁶ keys would no longer be close to p99 at 10⁴."""

from __future__ import annotations

from datetime import date

import pytest

from broker.core import Core
from broker.registry.lookups import MATCHES


def test_the_lookup_statement_starts_from_the_matching_key_index(core: Core) -> None:
    if core.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans from statistics")
    sql, params = MATCHES._params(
        core.engine.dialect, {"values": [b"a" * 32, b"b" * 32], "today": date.today()})
    with core.engine.connect() as connection:
        plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params)).all()
    first_step = plan[0][-1]
    assert "matching_keys" in first_step and "ix_matching_keys_value" in first_step, plan
