"""The pseudonym service in a process of its own and brokers paired with it (remote mode)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.pseudonym_service import home
from broker.setup import initialise
from tests.conftest import OPEN_POLICY
from tests.pseudonyms.service_process import ServiceProcess

SCHOOL_QUOTA = 3


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A service directory: k, its signing key, quotas (a school gets 3 a day)."""
    directory = tmp_path / "pseudonym-service"
    home.initialise(directory, default_quota=100, per_type={"school": SCHOOL_QUOTA})
    return directory


@pytest.fixture
def broker_settings(tmp_path: Path, service_dir: Path) -> Settings:
    """A broker home paired with the service (its port chosen now, the service started later)."""
    broker_home = tmp_path / "broker"
    broker_home.mkdir()
    settings = Settings.from_env({"BROKER_HOME": str(broker_home),
                                  "BROKER_POLICY_DIR": str(OPEN_POLICY)})
    home.pair(service_dir, settings.keys_dir, settings.pseudonym_service_key_id)
    return settings


@pytest.fixture
def service(service_dir: Path, tmp_path: Path, broker_settings: Settings
            ) -> Iterator[ServiceProcess]:
    """The service running in its own process (after the broker was paired with it)."""
    process = ServiceProcess(service_dir, tmp_path / "service.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def remote_core(broker_settings: Settings, service: ServiceProcess) -> Iterator[Core]:
    """A broker core in remote mode: it holds b, and only the public half of k."""
    settings = broker_settings.with_overrides(pseudonym_service_url=service.base)
    core = Core(settings, notices=InboxNotices())
    initialise(core, Actor.operator("test"))
    yield core
    core.dispose()


@contextmanager
def paired(settings: Settings, service_dir: Path, log: Path
           ) -> Iterator[tuple[Core, ServiceProcess]]:
    """A broker core in remote mode on ``settings``, paired with the service in ``service_dir``
    running in its own process."""
    home.pair(service_dir, settings.keys_dir, settings.pseudonym_service_key_id)
    process = ServiceProcess(service_dir, log)
    process.start()
    core = Core(settings.with_overrides(pseudonym_service_url=process.base),
                notices=InboxNotices())
    try:
        initialise(core, Actor.operator("test"))
        yield core, process
    finally:
        core.dispose()
        process.stop()


@pytest.fixture
def paired_core(settings: Settings, service_dir: Path, tmp_path: Path
                ) -> Iterator[tuple[Core, ServiceProcess]]:
    """:func:`paired` on the test database (SQLite and PostgreSQL)."""
    with paired(settings, service_dir, tmp_path / "service.log") as pair:
        yield pair
