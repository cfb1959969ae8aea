"""The SQLite database and its -wal and -shm files are the owner's alone (mode 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.db import make_engine
from broker.setup import initialise
from tests.conftest import OPEN_POLICY


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_installation_s_database_files_are_created_0600(tmp_path: Path) -> None:
    """The defect as seen: ``instance/broker.db`` and its WAL were created world-readable."""
    previous = os.umask(0o022)  # the usual umask, which gave 0644 before
    try:
        settings = Settings.from_env({"BROKER_HOME": str(tmp_path),
                                      "BROKER_POLICY_DIR": str(OPEN_POLICY)})
        core = Core(settings)
        initialise(core, Actor.operator("test"))
        database = settings.instance_dir / "broker.db"
        with core.engine.connect() as connection:  # an open connection keeps -wal and -shm
            connection.execute(text("SELECT count(*) FROM audit_events"))
            for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                assert mode(path) == 0o600, path
        assert mode(settings.instance_dir) == 0o700
        core.dispose()
    finally:
        os.umask(previous)


def test_existing_database_files_readable_by_others_are_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    database.chmod(0o644)
    Path(f"{database}-wal").touch(mode=0o644)
    engine = make_engine(f"sqlite:///{database}")
    assert mode(database) == 0o600 and mode(Path(f"{database}-wal")) == 0o600
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()
