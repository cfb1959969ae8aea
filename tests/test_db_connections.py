"""A pooled PostgreSQL connection the server closed is replaced before use, with no ping ahead of
every checkout (issue 13: ``pool_pre_ping`` cost a round trip per request)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, create_engine, event, text

from broker.db import make_engine
from tests.services import postgres_url

pytestmark = pytest.mark.postgres


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_closed_is_replaced_without_an_error() -> None:
    engine = make_engine(postgres_url(), pool_size=1, max_overflow=0)
    admin = create_engine(postgres_url())
    try:
        first = _backend(engine)  # now idle in the pool
        with admin.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(0.2)  # the server's goodbye reaches the idle socket
        assert _backend(engine) != first  # no OperationalError: a fresh connection served
    finally:
        engine.dispose()
        admin.dispose()


def test_a_live_pooled_connection_is_handed_out_without_a_round_trip() -> None:
    engine = make_engine(postgres_url(), pool_size=1, max_overflow=0)
    try:
        first = _backend(engine)
        statements: list[str] = []
        pings: list[object] = []
        event.listen(engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        original = engine.dialect.do_ping

        def counted(dbapi_connection: object) -> bool:
            pings.append(dbapi_connection)
            return original(dbapi_connection)

        engine.dialect.do_ping = counted  # type: ignore[method-assign]
        assert _backend(engine) == first  # the same connection, reused
        assert pings == []
        assert statements == ["SELECT pg_backend_pid()"]
    finally:
        engine.dispose()
