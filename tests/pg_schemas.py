"""Throwaway PostgreSQL schemas for tests: the migrations run once per test session, and each
test gets a schema of its own into which the server replays what they did.

Running the migrations through Alembic takes most of a PostgreSQL test's set-up (seconds on a
busy machine). Once per session they run into a template schema while every statement they send
is recorded, exactly as the driver received it; a test's schema is then made by sending those
statements again, in a few round trips and one transaction, with the search path on the new
schema. The migrations read nothing but their own empty schema, so the same statements make the
same tables, indexes, sequences, triggers and functions (tests/test_pg_schemas.py compares the
catalogues with a schema Alembic migrated). Copying a template *database* per test was measured
too: on a loaded machine its per-test copy and drop (a checkpoint each) cost twice as much.

Several test runs (checkouts, CI jobs) may use the same server and database at once: every name
a run makes starts with ``broker_test_`` and a random part of its own, so runs never touch each
other's schemas. The template schema is dropped as soon as it has been recorded, and each test's
schema when the test ends.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.pool import NullPool

from broker.migrate import upgrade

PREFIX = "broker_test_"


@dataclass(frozen=True)
class Sent:
    """One statement as the driver received it: its parameters (``None``: sent without any, so
    the driver left the text alone), and whether it was an executemany."""

    statement: str
    parameters: Any
    many: bool

    @property
    def plain(self) -> str | None:
        """The text the server ran, when no parameters went with it; otherwise ``None``.

        With a parameter mapping, even an empty one, psycopg reads ``%%`` in the text as ``%``
        (a text with any other ``%`` would have been refused), so the statement can join others
        in one parameterless round trip with ``%%`` written as ``%``."""
        if self.many or self.parameters:
            return None
        if self.parameters is None:
            return self.statement
        return self.statement.replace("%%", "%")


def schema_url(base: str, schema: str) -> str:
    """``base`` with its search path on ``schema``, as the broker and its subprocesses take it."""
    return make_url(base).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def record_migrations(base: str, schema: str) -> list[Sent]:
    """Migrate the empty ``schema`` to the newest revision; every statement the migrations sent."""
    sent: list[Sent] = []

    def keep(conn: Connection, cursor: DBAPICursor, statement: str, parameters: Any,
             context: ExecutionContext | None, executemany: bool) -> None:
        bare = not parameters and context is not None and context.no_parameters
        sent.append(Sent(statement, None if bare else parameters, executemany))

    engine = create_engine(schema_url(base, schema), poolclass=NullPool)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    mentions = [item.statement for item in sent if schema in f"{item.statement}{item.parameters}"]
    if mentions:  # a replay into another schema would reach back into this one
        raise AssertionError(f"the migrations named their schema {schema}: {mentions}")
    return sent


def round_trips(sent: Sequence[Sent]) -> list[tuple[str, Any, bool]]:
    """``sent`` as few round trips: each run of parameterless statements joined into one text."""
    trips: list[tuple[str, Any, bool]] = []
    plain: list[str] = []
    for item in sent:
        text_ = item.plain
        if text_ is not None:
            plain.append(text_)
            continue
        if plain:
            trips.append((";\n".join(plain), None, False))
            plain = []
        trips.append((item.statement, item.parameters, item.many))
    if plain:
        trips.append((";\n".join(plain), None, False))
    return trips


class MigratedSchemas:
    """One test run's schemas on the database at ``base_url`` (the shared ``test`` database),
    each made by replaying the migrations recorded once."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.run = f"{PREFIX}{uuid.uuid4().hex[:12]}"
        self._numbers = itertools.count(1)
        self._admin: Engine = create_engine(base_url)
        self._trips: list[tuple[str, Any, bool]] = []

    def record(self) -> None:
        """Migrate a template schema once, keep what the migrations sent, drop the template."""
        template = f"{self.run}_template"
        self._execute(f'CREATE SCHEMA "{template}"')
        try:
            self._trips = round_trips(record_migrations(self.base, template))
        finally:
            self.drop(template)

    def _execute(self, statement: str) -> None:
        with self._admin.begin() as connection:
            connection.execute(text(statement))

    def create(self, name: str) -> None:
        """Make the schema ``name`` holding what the migrations make, in one transaction."""
        raw = self._admin.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f'CREATE SCHEMA "{name}"')
            cursor.execute(f'SET LOCAL search_path TO "{name}"')
            for statement, parameters, many in self._trips:
                if many:
                    cursor.executemany(statement, parameters)
                elif parameters is None:
                    cursor.execute(statement)
                else:
                    cursor.execute(statement, parameters)
            raw.commit()
        finally:
            raw.close()

    def drop(self, name: str) -> None:
        """Drop the schema ``name`` and everything in it."""
        self._execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    @contextmanager
    def schema(self) -> Iterator[str]:
        """A new migrated schema, dropped on leaving; yields a URL whose search path is on it."""
        name = f"{self.run}_{next(self._numbers)}"
        self.create(name)
        try:
            yield schema_url(self.base, name)
        finally:
            self.drop(name)

    def names(self) -> set[str]:
        """The schemas of this run that exist on the server now."""
        with self._admin.connect() as connection:
            rows = connection.execute(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :run)"),
                {"run": self.run})
            return {str(row[0]) for row in rows}

    def close(self) -> None:
        """Release the connections to the server."""
        self._admin.dispose()
