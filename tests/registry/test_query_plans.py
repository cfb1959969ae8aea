"""The look-up's statement is driven from the matching-key index, whatever the other indexes and
whatever the statistics: a plan that starts from the asker's (or every active) involvement grows
with the registry, and p99 at 10⁶ keys would no longer be close to p99 at 10⁴. The variant that
judges reciprocity per household probes indexes only: the match's keys by involvement, each
key's holders by value, their involvement by primary key.

On PostgreSQL the plan is read right after a bulk load with no ANALYZE (autovacuum kept off the
tables, so that nothing gathers statistics meanwhile): the state in which PostgreSQL once
scanned every involvement (issue 13)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from broker.audit.services import Actor
from broker.core import Core
from broker.registry.candidates import MATCHES, MATCHES_WITH_RECIPROCITY, PerDialect
from broker.registry.services import RegistryService
from tests.uow import committed

BULK_INVOLVEMENTS = 4000  # three keys each: 12,000 stored keys


def _plan(core: Core, statement: PerDialect, **extra: object) -> list[str]:
    if core.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's (PostgreSQL: the bulk-load tests below)")
    sql, params = statement.on(core.engine.dialect)._params(
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


def _bulk_load(core: Core) -> None:
    """Two organisations; BULK_INVOLVEMENTS active involvements with three keys each, written
    straight into the tables as a bulk import does, and no statistics gathered."""
    registry = committed(core, RegistryService)
    for code, org_type in (("vt", "veilig_thuis"), ("wt", "wijkteam")):
        registry.create_organisation(Actor.operator("test"), identifier=code, name=code,
                                     org_type=org_type)
        registry.add_professional(Actor.operator("test"), organisation=code,
                                  username=f"{code}-p", name="P", role="r")
    postgres = core.engine.dialect.name == "postgresql"
    random_key = ("decode(md5(i.id::text || '-' || g::text) || md5(g::text || i.id::text), "
                  "'hex')" if postgres else "randomblob(32)")
    with core.engine.begin() as connection:
        if postgres:
            for table in ("involvements", "matching_keys"):
                connection.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        series = ("generate_series(1, :count) AS n" if postgres else
                  "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                  "WHERE n < :count) SELECT n FROM s)")
        involvements = " ".join((
            "INSERT INTO involvements (public_id, organisation_id, professional_id, purpose,",
            "starts_on, ends_on, state, created_at, updated_at)",
            "SELECT 'bulk-' || n, o.id, p.id, 'safety_assessment', :today, :ends, 'active',",
            ":now, :now FROM organisations o JOIN professionals p ON p.organisation_id = o.id,",
            series, "WHERE o.identifier = 'vt'"))
        connection.execute(text(involvements),
                           {"today": date(2026, 3, 2), "ends": date(2027, 3, 2),
                            "now": core.now(), "count": BULK_INVOLVEMENTS})
        keys = " ".join((
            "INSERT INTO matching_keys (involvement_id, category, value, oprf_epoch,",
            "broker_epoch) SELECT i.id, 'person',", random_key, ", 1, 1 FROM involvements i,",
            "(SELECT 1 AS g UNION ALL SELECT 2 UNION ALL SELECT 3) AS g"))
        connection.execute(text(keys))


def _explain(core: Core, statement: PerDialect) -> list[str]:
    dialect = core.engine.dialect
    sql, params = statement.on(dialect)._params(
        dialect, {"values": [b"a" * 32, b"b" * 32, b"c" * 32], "today": date(2026, 3, 2),
                  "asker": 2})
    explain = "EXPLAIN " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with core.engine.connect() as connection:
        rows = connection.exec_driver_sql(explain + sql, params if isinstance(params, dict)
                                          else tuple(params)).all()
    return [str(row[-1]) for row in rows]


@pytest.mark.parametrize("statement", [MATCHES, MATCHES_WITH_RECIPROCITY],
                         ids=["matches", "with-reciprocity"])
def test_after_a_bulk_load_without_statistics_the_plan_starts_from_the_key_index(
        core: Core, statement: PerDialect) -> None:
    _bulk_load(core)
    plan = _explain(core, statement)
    if core.engine.dialect.name == "postgresql":
        # The outermost driving scan is of the question's keys, through their index (a bitmap
        # heap scan names its index on the line below).
        scans = [line.strip() for line in plan if " Scan " in line]
        assert scans[0].split(" on ")[1].startswith("matching_keys  "), plan
        assert "ix_matching_keys_value" in scans[0] + scans[1], plan
        assert not [line for line in plan if "Seq Scan" in line], "\n".join(plan)
    else:
        assert "matching_keys" in plan[0] and "ix_matching_keys_value" in plan[0], plan
        assert not [step for step in plan if step.startswith("SCAN")], plan
