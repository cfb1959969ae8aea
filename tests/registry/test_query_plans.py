"""The look-up's statement is driven from the matching-key index on SQLite, whatever the other
indexes: a plan that starts from the asker's (or every active) involvement grows with the
registry, and p99 at 10⁶ keys would no longer be close to p99 at 10⁴. The variant that judges
reciprocity per household probes indexes only: the match's keys by involvement, each key's
holders by value, their involvement by primary key."""

from __future__ import annotations

from datetime import date

import pytest

from broker.core import Core
from broker.db import Prepared
from broker.registry.candidates import MATCHES, MATCHES_WITH_RECIPROCITY


def _plan(core: Core, statement: Prepared, **extra: object) -> list[str]:
    if core.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans from statistics")
    sql, params = statement._params(
        core.engine.dialect,
        {"values": [b"a" * 32, b"b" * 32], "today": date.today(), **extra})
    with core.engine.connect() as connection:
        return [str(row[-1]) for row in
                connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(params)).all()]


def test_the_lookup_statement_starts_from_the_matching_key_index(core: Core) -> None:
    plan = _plan(core, MATCHES)
    assert "matching_keys" in plan[0] and "ix_matching_keys_value" in plan[0], plan


def test_the_reciprocity_variant_probes_indexes_only(core: Core) -> None:
    plan = _plan(core, MATCHES_WITH_RECIPROCITY, asker=1)
    assert "matching_keys" in plan[0] and "ix_matching_keys_value" in plan[0], plan
    assert not [step for step in plan if step.startswith("SCAN")], plan
    subquery = plan[plan.index(next(s for s in plan if "SUBQUERY" in s)) + 1:]
    # Never from the asker's organisation (all of its involvements, for every match).
    assert [step.split(" USING ")[1].split(" (")[0] for step in subquery] == [
        "INDEX ix_matching_keys_involvement_id", "INDEX ix_matching_keys_value",
        "INTEGER PRIMARY KEY"], plan
