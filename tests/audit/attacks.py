"""What an attacker with the database owner's rights does to the audit log, for the tests."""

from __future__ import annotations

from broker_primitives.merkle import Frontier
from sqlalchemy import select, text, update

from broker.audit.models import AuditEvent, AuditLogState
from broker.core import Core

AUDIT_TABLES = ("audit_events", "audit_subjects", "audit_checkpoints", "audit_cosignatures")


def drop_guards(core: Core) -> None:
    """Switch every trigger on the audit tables off."""
    with core.transaction() as connection:
        if core.settings.is_sqlite:
            names = connection.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                "('audit_events', 'audit_subjects', 'audit_checkpoints', 'audit_cosignatures')"
            )).scalars().all()
            for name in names:
                connection.execute(text(f"DROP TRIGGER {name}"))
            return
        for table in AUDIT_TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def cut_back(core: Core, size: int) -> None:
    """Cut the log back to its first ``size`` events: delete the events after them, every
    checkpoint and cosignature of a larger tree, and set the state row back, with the triggers
    off (a careful attacker's rollback to an older checkpoint)."""
    drop_guards(core)
    with core.transaction() as connection:
        hashes = [bytes(h) for (h,) in connection.execute(
            select(AuditEvent.entry_hash).where(AuditEvent.seq <= size)
            .order_by(AuditEvent.seq))]
        frontier = Frontier.empty()
        frontier.extend(hashes)
        connection.execute(text(
            "DELETE FROM audit_subjects WHERE event_id IN "
            "(SELECT id FROM audit_events WHERE seq > :n)"), {"n": size})
        connection.execute(text("DELETE FROM audit_events WHERE seq > :n"), {"n": size})
        connection.execute(text(
            "DELETE FROM audit_cosignatures WHERE checkpoint_id IN "
            "(SELECT id FROM audit_checkpoints WHERE tree_size > :n)"), {"n": size})
        connection.execute(text("DELETE FROM audit_checkpoints WHERE tree_size > :n"),
                           {"n": size})
        connection.execute(update(AuditLogState).values(
            size=size, head=hashes[-1], frontier=frontier.to_bytes()))
