"""Engine, session and unit of work.

Rules this module guarantees:

- A service function runs inside one ``unit_of_work``; the state change and its audit event are
  committed together or not at all.
- A pooled PostgreSQL connection is checked before use without a round trip
  (:func:`_discard_dead_connections`): one whose socket has something to read while idle (the
  server closed it, or said it would) is dropped and the pool hands out another, once; no
  ``SELECT 1`` travels ahead of each request's work (issue 13).
- A SQLite database file is readable by its owner only: it is created mode 0600 (in a new
  directory made 0700) before SQLite opens it, so that SQLite gives its ``-wal`` and ``-shm``
  files the same mode, and an existing file (or ``-wal``, ``-shm``) that others could read is
  set to 0600 when the engine is made (:func:`private_database_file`).
"""

from __future__ import annotations

import logging
import os
import select
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("broker.db")
Processors = dict[str, Callable[[Any], Any]]
# SQL text, bind names (in DBAPI order when positional), bind processors, constant bind values.
_Compiled = tuple[str, list[str], Processors, dict[str, Any]]
_REQUIRED = object()  # a bind the statement holds no value for: the row must give it
# A statement without expanding binds: SQL text, each bind's name, processor and value when the
# row gives none (in DBAPI order for positional dialects), and the names of a named dialect's
# parameters (None: positional).
_Plan = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None, Any], ...], tuple[str, ...] | None]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model; constraint names are stable for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored without zone and always returned as an aware UTC datetime.

    SQLite has no zone-aware type; storing naive UTC everywhere keeps both engines identical.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse naive datetimes (they are a bug) and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Attach the UTC zone again."""
        return None if value is None else value.replace(tzinfo=UTC)



def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for ``database_url``; SQLite gets foreign keys, WAL and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            private_database_file(Path(url.database))
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Index probes at 10^6 keys and more: keep the hot pages in the process (64 MiB
            # page cache) and read the rest through a memory map instead of read() calls.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=268435456")
            # ``broker worker`` copies the write-ahead log into the file every half second
            # (broker.cli.jobs), so that no look-up's commit pays for it (about 4 ms per
            # thousand pages); SQLite checkpoints in a commit only as a safety net, should the
            # log reach 10,000 pages (about 40 MiB) because no worker runs.
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.close()

        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _discard_dead_connections)
    return engine


def _discard_dead_connections(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection whose server has gone (a "checkout" listener).

    An idle connection has nothing to read; when its socket is readable, the server closed it
    or sent its last words (a restart, ``pg_terminate_backend``, an idle timeout). Raising
    :class:`~sqlalchemy.exc.DisconnectionError` makes the pool drop it and check out another
    (SQLAlchemy retries the checkout), so the request runs on a live connection — without the
    round trip ``pool_pre_ping`` makes on every checkout.
    """
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception as exc:  # closed already: the driver has no descriptor to give
        raise DisconnectionError("the connection is closed") from exc
    if readable:
        raise DisconnectionError("the server closed the idle connection")


def private_database_file(path: Path) -> None:
    """Make sure the SQLite database at ``path`` and its ``-wal`` and ``-shm`` files are the
    owner's alone (mode 0600): create the database file so when missing, tighten them when
    others can read them. SQLite creates its ``-wal`` and ``-shm`` files with the mode of the
    database file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(companion.stat().st_mode)
            if mode & 0o077:
                companion.chmod(0o600)
                log.warning("%s could be read by other users (mode %o): set to 0600",
                            companion, mode)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s can be read by other users and is not ours to change: "
                        "chmod 600 %s", companion, companion)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render them afterwards)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Prepared:
    """A statement compiled once per dialect and run on the DBAPI cursor of a connection.

    For hot paths (every look-up): SQLAlchemy's per-statement overhead is larger than the cost
    of these small statements themselves. SQLAlchemy still compiles the statement for the
    connection's dialect (an expanding ``IN`` once per list length) and every value goes through
    its column type's own bind processor, so what is stored is exactly what the ORM would
    store; statements join the connection's current transaction.
    """

    def __init__(self, statement: ClauseElement, *, expanding: Sequence[str] = ()) -> None:
        self.statement = statement
        self.expanding = tuple(expanding)
        self._compiled: dict[tuple[str, tuple[int, ...]], _Compiled] = {}
        self._plans: dict[str, _Plan] = {}

    def _prepare(self, dialect: Dialect, lengths: tuple[int, ...]) -> _Compiled:
        key = (dialect.name, lengths)
        cached = self._compiled.get(key)
        if cached is None:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            if self.expanding:
                # render_postcompile needs a value for every bind; placeholders of the right
                # lengths for the expanding ones.
                sample: dict[str, Any] = {n: b.value for n, b in compiled.binds.items()}
                sample.update({name: [None] * n for name, n in
                               zip(self.expanding, lengths, strict=True)})
                compiled = cast(SQLCompiler, self.statement.params(sample).compile(
                    dialect=dialect, compile_kwargs={"render_postcompile": True}
                ))
            processors: Processors = {}
            constants: dict[str, Any] = {}
            for bind, name in compiled.bind_names.items():
                processor = bind.type._cached_bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
                if not bind.required and name not in self.expanding:
                    constants[name] = bind.value  # literals in the statement, e.g. "active"
            # The binds in DBAPI order (positional dialects), else each bind's name once.
            order = (list(compiled.positiontup or []) if dialect.positional
                     else list(dict.fromkeys(compiled.bind_names.values())))
            cached = (str(compiled), order, processors, constants)
            self._compiled[key] = cached
        return cached

    def _plan(self, dialect: Dialect) -> _Plan:
        sql, order, processors, constants = self._prepare(dialect, ())
        plan = (sql, tuple((name, processors.get(name), constants.get(name, _REQUIRED))
                           for name in order),
                None if dialect.positional else tuple(order))
        self._plans[dialect.name] = plan
        return plan

    def _params(
        self, dialect: Dialect, row: Mapping[str, Any]
    ) -> tuple[str, Sequence[Any] | dict[str, Any]]:
        if not self.expanding:
            # The hot path: one pass over the statement's binds, in the order the driver takes.
            sql, binds, names = self._plans.get(dialect.name) or self._plan(dialect)
            bound: list[Any] = []
            for name, processor, default in binds:
                try:
                    value = row[name]
                except KeyError:
                    if default is _REQUIRED:
                        raise
                    bound.append(default)  # a literal of the statement, as it is
                    continue
                bound.append(value if processor is None else processor(value))
            return sql, bound if names is None else dict(zip(names, bound, strict=True))
        lengths = tuple(len(row[name]) for name in self.expanding)
        sql, order, processors, constants = self._prepare(dialect, lengths)
        values = dict(constants)
        for name, value in row.items():
            processor = processors.get(name)
            if name in self.expanding:  # rendered as binds <name>_1, <name>_2, ...
                for position, item in enumerate(value, start=1):
                    values[f"{name}_{position}"] = processor(item) if processor else item
            else:
                values[name] = processor(value) if processor else value
        return sql, ([values[n] for n in order] if dialect.positional else values)

    def _cursor(self, connection: Connection) -> Any:
        return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; every row as a tuple."""
        sql, values = self._params(connection.dialect, params)
        cursor = self._cursor(connection)
        try:
            cursor.execute(sql, values)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        sql, values = self._params(connection.dialect, params)
        cursor = self._cursor(connection)
        try:
            cursor.execute(sql, values)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def autocommitted(self, engine: Engine, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement on a pooled connection of its own, committed as it returns, and
        return its rows (none for a statement without RETURNING).

        For one small write that must not wait for, or share the fate of, a request's
        transaction. On the DBAPI connection itself: SQLAlchemy's ``Connection`` and its
        isolation-level switch cost more than the statement (issue 13). A PostgreSQL
        connection runs it in autocommit mode (one round trip) and goes back to the pool as
        it came; SQLite commits its implicit transaction.

        Raises:
            the driver's error, or SQLAlchemy's when no connection can be had.
        """
        sql, values = self._params(engine.dialect, params)
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            postgres = engine.dialect.name == "postgresql"
            if postgres:
                driver.autocommit = True  # type: ignore[union-attr]
            try:
                cursor = driver.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(sql, values)
                    rows = list(cursor.fetchall()) if cursor.description else []
                finally:
                    cursor.close()
                if not postgres:
                    driver.commit()  # type: ignore[union-attr]
            finally:
                if postgres:
                    driver.autocommit = False  # type: ignore[union-attr]
        finally:
            pooled.close()  # back to the pool
        return rows

    def insert_one(self, connection: Connection, row: Mapping[str, Any]) -> Any:
        """Run an INSERT … RETURNING of one column for one row; returns that value."""
        sql, values = self._params(connection.dialect, row)
        cursor = self._cursor(connection)
        try:
            cursor.execute(sql, values)
            return cursor.fetchone()[0]
        finally:
            cursor.close()

    def insert_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run an INSERT for several rows with one ``executemany``."""
        if not rows:
            return
        prepared = [self._params(connection.dialect, row) for row in rows]
        cursor = self._cursor(connection)
        try:
            if len(prepared) == 1:  # psycopg's executemany sets up a pipeline: dearer for one
                cursor.execute(*prepared[0])
                return
            cursor.executemany(prepared[0][0], [values for _, values in prepared])
        finally:
            cursor.close()


def prepared_insert(table: Table, returning: Column[Any] | None = None) -> Prepared:
    """An INSERT of every non-key column of ``table`` (bind names = column names)."""
    names = [c.name for c in table.columns if not c.primary_key]
    statement = table.insert().values({n: bindparam(n) for n in names})
    return Prepared(statement.returning(returning) if returning is not None else statement)
