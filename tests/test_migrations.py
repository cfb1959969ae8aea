"""The Alembic migrations and the models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from broker.core import Core
from broker.migrate import current_revision, upgrade
from broker.models import Base


def test_models_and_migrations_do_not_drift(core: Core) -> None:
    with core.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(core: Core) -> None:
    before = current_revision(core.engine)
    assert before is not None
    upgrade(core.engine)
    assert current_revision(core.engine) == before
