"""Reaching the real PostgreSQL and Redis servers from tests.

A test that needs a server skips with a message saying which variable names it when the server is
not reachable, except under CI (``BROKER_TEST_REQUIRE_SERVICES=1``), where it fails: CI must run
them.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ENV = "BROKER_TEST_DATABASE_URL"
REDIS_ENV = "BROKER_TEST_REDIS_URL"


def unavailable(what: str, env: str, reason: str) -> None:
    """Skip (or, under CI, fail) because ``what`` cannot be reached."""
    message = f"{what} not reachable ({reason}); set {env} to a running server to run this test"
    if os.environ.get("BROKER_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def postgres_url() -> str:
    """The PostgreSQL URL for tests, checked to answer."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        unavailable("PostgreSQL", POSTGRES_ENV, "variable not set")
        raise AssertionError  # unreachable: unavailable() skips or fails
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        unavailable("PostgreSQL", POSTGRES_ENV, type(exc).__name__)
    finally:
        engine.dispose()
    return url


def redis_url() -> str:
    """The Redis URL for tests, checked to answer."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        unavailable("Redis", REDIS_ENV, "variable not set")
        raise AssertionError
    import redis  # noqa: PLC0415

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as exc:
        unavailable("Redis", REDIS_ENV, type(exc).__name__)
    return url
