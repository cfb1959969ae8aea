"""Several web workers import keys/organisations/*.pub at boot at once (gunicorn starts them
together): the import is idempotent under concurrency — one key row, one ``orgkey:added`` event,
and no worker fails to start."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import event, func, select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.callers.models import OrganisationKey
from broker.core import Core
from broker.registry.services import RegistryService
from tests.uow import committed

WORKERS = 2


def test_two_workers_importing_the_same_file_at_once_make_one_key(core: Core) -> None:
    if core.settings.is_sqlite:
        pytest.skip("SQLite has one writer at a time; the race needs PostgreSQL's row locks")
    committed(core, RegistryService).create_organisation(
        Actor.operator("test"), identifier="vt-a", name="VT", org_type="veilig_thuis")
    directory = core.settings.keys_dir / "organisations"
    directory.mkdir(mode=0o700)
    (directory / "vt-a.vt-boot-1.pub").write_text(bytes(SigningKey.generate().verify_key).hex())
    # Both workers have looked for known keys before either inserts: the race, every time.
    both_looked = threading.Barrier(WORKERS, timeout=10)

    def hold_the_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ORGANISATION_KEYS"):
            both_looked.wait()

    imported: list[list[str]] = []
    failures: list[BaseException] = []

    def boot() -> None:
        try:
            with core.unit_of_work() as uow:
                imported.append(OrganisationKeys(uow).import_files(Actor.system("startup"),
                                                                   directory))
        except BaseException as exc:  # the worker's failure is the finding
            failures.append(exc)

    event.listen(core.engine, "before_cursor_execute", hold_the_insert)
    try:
        workers = [threading.Thread(target=boot) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        event.remove(core.engine, "before_cursor_execute", hold_the_insert)
    assert failures == []
    assert sorted(imported) == [[], ["vt-boot-1"]]
    with core.session() as session:
        assert session.scalar(select(func.count()).select_from(OrganisationKey)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .filter_by(event_type="orgkey:added")) == 1
