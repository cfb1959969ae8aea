"""witnessed audit log: cosignatures, checkpoint frontiers, guarded subjects and details

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-08 10:00:00

- ``audit_checkpoints.frontier``: the compact range at the checkpoint's size, from which a
  consistency proof to a later tree needs only the later events (null for older checkpoints).
- ``audit_cosignatures``: the witnesses' cosignatures on checkpoints, append-only.
- ``audit_subjects`` is guarded: no DELETE (no TRUNCATE on PostgreSQL), and an UPDATE only as a
  key rotation re-keys a row: same row, event and category, one epoch one step on, the other
  unchanged.
- An event's personal details change only all at once with their salt: kept as they are, or all
  erased (the rule of 0003 already refuses anything but erasure).
- Checkpoints refuse an UPDATE of any column (0003 named the columns it had then).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

REKEY = (
    "NEW.id = OLD.id AND NEW.event_id = OLD.event_id AND NEW.category = OLD.category AND ("
    "(NEW.oprf_epoch = OLD.oprf_epoch + 1 AND NEW.broker_epoch = OLD.broker_epoch) OR "
    "(NEW.broker_epoch = OLD.broker_epoch + 1 AND NEW.oprf_epoch = OLD.oprf_epoch))"
)
PERSONAL = "source_address, justification, personal_salt"
_SQLITE_REFUSE = "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
_SUBJECT_MESSAGE = "audit subjects change only when a key rotation re-keys them"
_ERASURE_MESSAGE = ("personal details of audit events can only be erased all at once, with "
                    "their salt")
# 0003's rule for checkpoints, restored on downgrade.
_CHECKPOINT_COLUMNS_0003 = "id, tree_size, root_hash, signed_at, note"


def _split(distinct: str) -> str:
    """Personal details changed without their salt going, or left behind by it."""
    return (
        f"(NEW.personal_salt IS NOT NULL AND (NEW.justification {distinct} OLD.justification "
        f"OR NEW.source_address {distinct} OLD.source_address)) OR (NEW.personal_salt IS NULL "
        "AND (NEW.justification IS NOT NULL OR NEW.source_address IS NOT NULL))"
    )


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.LargeBinary(), nullable=True))
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(length=300), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("cosigned_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["checkpoint_id"], ["audit_checkpoints.id"],
                                name=op.f("fk_audit_cosignatures_checkpoint_id_audit_checkpoints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosignatures")),
    )
    with op.batch_alter_table("audit_cosignatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_cosignatures_checkpoint_id"),
                              ["checkpoint_id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgresql_triggers()


def _sqlite_triggers() -> None:
    for statement in (
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_update",
        f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
        f"{_SQLITE_REFUSE}",
        f"CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures "
        f"{_SQLITE_REFUSE}",
        f"CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures "
        f"{_SQLITE_REFUSE}",
        f"CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects "
        f"{_SQLITE_REFUSE}",
        f"CREATE TRIGGER audit_subjects_rekey_only BEFORE UPDATE ON audit_subjects "
        f"WHEN NOT ({REKEY}) BEGIN SELECT RAISE(ABORT, '{_SUBJECT_MESSAGE}'); END",
        f"CREATE TRIGGER audit_events_erase_whole BEFORE UPDATE OF {PERSONAL} ON audit_events "
        f"WHEN {_split('IS NOT')} BEGIN SELECT RAISE(ABORT, '{_ERASURE_MESSAGE}'); END",
    ):
        op.execute(statement)


def _postgresql_triggers() -> None:
    refuse = "EXECUTE FUNCTION audit_refuse()"  # created by 0003
    for name, message in (("audit_refuse_subject_change", _SUBJECT_MESSAGE),
                          ("audit_refuse_partial_erasure", _ERASURE_MESSAGE)):
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"RAISE EXCEPTION '{message}'; END $$")
    for statement in (
        "DROP TRIGGER IF EXISTS audit_checkpoints_no_update ON audit_checkpoints",
        f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_cosignatures_no_truncate BEFORE TRUNCATE ON audit_cosignatures "
        f"FOR EACH STATEMENT {refuse}",
        f"CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_subjects_no_truncate BEFORE TRUNCATE ON audit_subjects "
        f"FOR EACH STATEMENT {refuse}",
        f"CREATE TRIGGER audit_subjects_rekey_only BEFORE UPDATE ON audit_subjects "
        f"FOR EACH ROW WHEN (NOT ({REKEY})) EXECUTE FUNCTION audit_refuse_subject_change()",
        f"CREATE TRIGGER audit_events_erase_whole BEFORE UPDATE OF {PERSONAL} ON audit_events "
        f"FOR EACH ROW WHEN ({_split('IS DISTINCT FROM')}) "
        "EXECUTE FUNCTION audit_refuse_partial_erasure()",
    ):
        op.execute(statement)


def downgrade() -> None:
    """Revert this revision."""
    dialect = op.get_bind().dialect.name
    triggers = (("audit_cosignatures", "no_update"), ("audit_cosignatures", "no_delete"),
                ("audit_cosignatures", "no_truncate"), ("audit_subjects", "no_delete"),
                ("audit_subjects", "no_truncate"), ("audit_subjects", "rekey_only"),
                ("audit_events", "erase_whole"), ("audit_checkpoints", "no_update"))
    if dialect in ("sqlite", "postgresql"):
        for table, name in triggers:
            on = f" ON {table}" if dialect == "postgresql" else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{name}{on}")
    with op.batch_alter_table("audit_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_cosignatures_checkpoint_id"))
    op.drop_table("audit_cosignatures")
    if dialect == "sqlite":
        # Natively (SQLite 3.35+): a batch copy of the table would drop 0003's triggers on it.
        op.execute("ALTER TABLE audit_checkpoints DROP COLUMN frontier")
        op.execute(f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OF "
                   f"{_CHECKPOINT_COLUMNS_0003} ON audit_checkpoints {_SQLITE_REFUSE}")
        return
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_column("frontier")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_subject_change()")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_partial_erasure()")
        op.execute(f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OF "
                   f"{_CHECKPOINT_COLUMNS_0003} ON audit_checkpoints FOR EACH ROW "
                   "EXECUTE FUNCTION audit_refuse()")
