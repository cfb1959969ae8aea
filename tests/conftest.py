"""Shared fixtures: a core on a temporary home, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from broker.app import create_app
from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.migrate import upgrade
from broker.notifications.notices import InboxNotices
from broker.passwords import Argon2idHasher
from broker.registry.services import RegistryService
from broker.setup import initialise
from tests.pg_schemas import MigratedSchemas
from tests.services import postgres_url
from tests.uow import committed

SHIPPED_POLICY = Path(__file__).resolve().parents[1] / "policies"
OPEN_POLICY = Path(__file__).resolve().parent / "data" / "open_policy.yaml"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Logging is process-wide: an app built with JSON logs (broker.logs) changes the levels and
    the root's handlers; each test leaves them as it found them."""
    names = ("", "broker", "broker.requests", "werkzeug", "gunicorn.access")
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.fixture
def clock() -> FakeClock:
    """Noon on a fixed day, in UTC."""
    return FakeClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to the newest revision, made once per test session.

    Migrating takes most of a test's set-up (about 0.7 s); a copy of this file takes
    milliseconds and is exactly what the migrations would make.
    """
    path = tmp_path_factory.mktemp("template") / "broker.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[MigratedSchemas]:
    """This test session's record of the migrations on the PostgreSQL test server (made on first
    use), which each test replays into a schema of its own (tests/pg_schemas.py)."""
    schemas = MigratedSchemas(postgres_url())
    try:
        schemas.record()
        yield schemas
    finally:
        schemas.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 migrated_sqlite: Path) -> Iterator[str]:
    """A fresh database at the newest schema revision, holding nothing else: a copy of the
    session's migrated SQLite file, or a new schema on the PostgreSQL server into which the
    session's recorded migrations are replayed (tests/pg_schemas.py)."""
    if request.param == "sqlite":
        path = tmp_path / "broker.db"
        shutil.copyfile(migrated_sqlite, path)
        path.chmod(0o600)
        yield f"sqlite:///{path}"
        return
    schemas: MigratedSchemas = request.getfixturevalue("postgres_schemas")
    with schemas.schema() as url:
        yield url


@pytest.fixture
def policy_path() -> Path:
    """The policy the test core runs under: the open test policy unless a module overrides it."""
    return OPEN_POLICY


@pytest.fixture
def settings(tmp_path: Path, database_url: str, policy_path: Path) -> Settings:
    """Settings on a temporary home."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings.from_env({"BROKER_HOME": str(home), "BROKER_DATABASE_URL": database_url,
                              "BROKER_POLICY_DIR": str(policy_path)})


@pytest.fixture
def core(settings: Settings, clock: FakeClock) -> Iterator[Core]:
    """An initialised core: schema, keys, session secret; passwords hashed with argon2id at its
    minimum limits (real hashes, cheap to make: broker.passwords)."""
    core = Core(settings, clock=clock, passwords=Argon2idHasher.cheapest(),
                notices=InboxNotices())
    initialise(core, Actor.operator("test"))
    yield core
    core.dispose()


@pytest.fixture
def registry(core: Core) -> RegistryService:
    """The registry service on the test core."""
    return committed(core, RegistryService)


@pytest.fixture
def app(core: Core) -> Flask:
    """The web app on the test core."""
    return create_app(core=core, TESTING=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the web app."""
    return app.test_client()


def broker_cli(monkeypatch: pytest.MonkeyPatch, home: Path,
               policy: Path = OPEN_POLICY) -> Callable[..., Result]:
    """``broker`` (in English) on the embedded database under ``home``, with ``policy``."""
    from broker.cli import main  # noqa: PLC0415 - only the CLI tests need it

    monkeypatch.setenv("BROKER_HOME", str(home))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(policy))
    monkeypatch.delenv("BROKER_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--lang", "en", *args], catch_exceptions=False)

    return invoke
