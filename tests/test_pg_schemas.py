"""A test's database is exactly what the migrations make, though they ran once per session: the
SQLite file is a copy of one migrated file, the PostgreSQL schema a replay of one recorded
migration (tests/pg_schemas.py). Each test's schema is its own and is dropped when it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from broker.migrate import upgrade
from tests.pg_schemas import MigratedSchemas, schema_url

# What PostgreSQL's catalogue says about one schema, in a form that does not depend on its name.
CATALOGUE = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, c.relacl::text, c.relhastriggers
        FROM pg_class c WHERE c.relnamespace = CAST(:schema AS regnamespace)""",
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attisdropped, a.attidentity, a.attgenerated,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = CAST(:schema AS regnamespace) AND a.attnum > 0""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = CAST(:schema AS regnamespace)""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :schema""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = CAST(:schema AS regnamespace) AND NOT t.tgisinternal""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = CAST(:schema AS regnamespace)""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, last_value
        FROM pg_sequences WHERE schemaname = :schema""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t
        WHERE t.typnamespace = CAST(:schema AS regnamespace)""",
}


def _catalogue(connection: Connection, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """The catalogue's rows about ``schema`` and every table's rows, ``schema`` named ``S``."""
    def unnamed(value: Any) -> Any:
        return value.replace(f'"{schema}"', "S").replace(schema, "S") \
            if isinstance(value, str) else value

    found: dict[str, list[tuple[Any, ...]]] = {}
    for part, query in CATALOGUE.items():
        rows = connection.execute(text(query), {"schema": schema})
        found[part] = sorted((tuple(unnamed(value) for value in row) for row in rows), key=repr)
    for (table,) in connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}):
        rows = connection.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))  # noqa: S608 - names from the catalogue
        found[f"rows of {table}"] = sorted(tuple(row) for row in rows)
    return found


def _sqlite_catalogue(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            # Alembic's batch mode rebuilds a table with its constraints in an order that varies
            # from one run to the next: a table is compared as the set of its definition's lines.
            found = {"schema": sorted(
                (kind, name, table, sorted(str(sql).replace(", \n", "\n").split("\n")))
                for kind, name, table, sql in connection.execute(text(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master")))}
            for (table,) in connection.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")):
                found[f"rows of {table}"] = sorted(
                    tuple(row) for row in connection.execute(
                        text(f'SELECT * FROM "{table}"')))  # noqa: S608 - a name from sqlite_master
            return found
    finally:
        engine.dispose()


def _search_path(url: str) -> str:
    options = str(make_url(url).query["options"])
    assert options.startswith("-csearch_path=")
    return options.removeprefix("-csearch_path=")


def test_a_tests_database_is_exactly_what_the_migrations_make(
        database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if database_url.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'alembic.db'}"
        upgrade(create_engine(fresh, poolclass=NullPool))
        assert _sqlite_catalogue(database_url) == _sqlite_catalogue(fresh)
        return
    schemas: MigratedSchemas = request.getfixturevalue("postgres_schemas")
    replayed = _search_path(database_url)
    migrated = f"{schemas.run}_alembic"
    admin = create_engine(schemas.base, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{migrated}"'))
        upgrade(create_engine(schema_url(schemas.base, migrated), poolclass=NullPool))
        with admin.connect() as connection:
            mine, alembics = _catalogue(connection, replayed), _catalogue(connection, migrated)
        assert mine["triggers"] and mine["functions"] and mine["rows of alembic_version"]
        assert mine == alembics
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{migrated}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_each_test_has_a_schema_of_its_own_dropped_when_it_ends(
        postgres_schemas: MigratedSchemas) -> None:
    other_run = MigratedSchemas(postgres_schemas.base)
    other_run.close()
    assert other_run.run != postgres_schemas.run  # two checkouts on one server never collide
    with postgres_schemas.schema() as first_url, postgres_schemas.schema() as second_url:
        first, second = _search_path(first_url), _search_path(second_url)
        assert first != second and {first, second} <= postgres_schemas.names()
        engine = create_engine(first_url, poolclass=NullPool)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'changed'"))
        engine.dispose()
        engine = create_engine(second_url, poolclass=NullPool)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")) \
                .scalar_one() != "changed"
        engine.dispose()
    assert not {first, second} & postgres_schemas.names()
