"""Alembic environment: the broker's metadata, the URL given by :func:`broker.migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from broker.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations on the connection handed over in ``config.attributes``, or on the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    from broker.db import make_engine  # noqa: PLC0415 - only when run from the alembic CLI

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
