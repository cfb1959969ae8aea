"""tamper-evident audit log: sequence, hash chain, Merkle state, checkpoints, append-only

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:10:00

Events written before this revision are sealed into the chain in the order they were written
(their id), with the format-1 encoding of :mod:`broker.audit.chain`; that encoding never changes,
since every stored hash depends on it. After the seal, triggers make the events and checkpoints
append-only: no UPDATE of the hashed columns, no DELETE, and on PostgreSQL no TRUNCATE; the
personal details may only be erased (set to NULL).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from broker_primitives.merkle import Frontier

import broker.db
from broker.audit.chain import GENESIS, STATE_ID, content_of, entry_hash, to_millisecond

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Columns an auditor's hash covers: never updated. The personal details may only be erased.
HASHED = (
    "id", "seq", "event_id", "occurred_at", "event_type", "action", "outcome", "reason", "actor",
    "actor_role", "on_behalf_of", "organisation_id", "channel", "request_id", "purpose",
    "legal_basis", "statute", "consent_reference", "policy_version", "rule_id", "obligations",
    "vital_interest", "subject_categories", "personal_digest", "details", "prev_hash",
    "entry_hash",
)
PERSONAL = ("source_address", "justification", "personal_salt")
CHECKPOINT_COLUMNS = ("id", "tree_size", "root_hash", "signed_at", "note")

_SQLITE_REFUSE = "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log_state")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_tree_size"), ["tree_size"],
                              unique=False)

    new_columns: list[sa.Column[Any]] = [
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("on_behalf_of", sa.String(length=300), nullable=True),
        sa.Column("statute", sa.String(length=300), nullable=True),
        sa.Column("consent_reference", sa.String(length=200), nullable=True),
        sa.Column("obligations", sa.JSON(), nullable=True),
        sa.Column("vital_interest", sa.Boolean(), nullable=True),
        sa.Column("subject_categories", sa.JSON(), nullable=True),
        sa.Column("personal_digest", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("personal_salt", sa.LargeBinary(length=16), nullable=True),
    ]
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for column in new_columns:
            batch_op.add_column(column)

    frontier = _seal_existing_events(op.get_bind())

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name in ("seq", "obligations", "vital_interest", "subject_categories", "prev_hash",
                     "entry_hash"):
            batch_op.alter_column(name, nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])

    op.get_bind().execute(
        sa.text("INSERT INTO audit_log_state (id, size, head, frontier) "
                "VALUES (:id, :size, :head, :frontier)"),
        {"id": STATE_ID, "size": frontier.size, "head": frontier.head,
         "frontier": frontier.state.to_bytes()},
    )
    _create_triggers(op.get_bind().dialect.name)


class _Sealed:
    def __init__(self) -> None:
        self.state = Frontier.empty()
        self.head = GENESIS

    @property
    def size(self) -> int:
        return self.state.size


def _seal_existing_events(bind: sa.Connection) -> _Sealed:
    """Give the events written before the chain existed their sequence numbers and hashes."""
    events = sa.table(
        "audit_events", *(sa.column(name) for name in HASHED if name != "details"),
        sa.column("details", sa.JSON()), sa.column("obligations", sa.JSON()),
        sa.column("subject_categories", sa.JSON()),
        sa.column("occurred_at", broker.db.UTCDateTime()),
    )
    subjects = sa.table("audit_subjects", sa.column("event_id"), sa.column("category"))
    categories: dict[int, list[str]] = {}
    for event_id, category in bind.execute(sa.select(subjects.c.event_id, subjects.c.category)):
        categories.setdefault(event_id, []).append(category)
    sealed = _Sealed()
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    for seq, row in enumerate(rows, start=1):
        fields = dict(row)
        fields.update(
            seq=seq, occurred_at=to_millisecond(row["occurred_at"]), obligations=[],
            vital_interest=False, subject_categories=sorted(categories.get(row["id"], [])),
            personal_digest=None, prev_hash=sealed.head, on_behalf_of=None, statute=None,
            consent_reference=None,
        )
        digest = entry_hash(content_of(fields))
        bind.execute(
            events.update().where(events.c.id == row["id"]).values(
                seq=seq, occurred_at=fields["occurred_at"], obligations=[],
                vital_interest=False, subject_categories=fields["subject_categories"],
                prev_hash=sealed.head, entry_hash=digest,
            )
        )
        sealed.state.append(digest)
        sealed.head = digest
    return sealed


def _create_triggers(dialect: str) -> None:
    hashed = ", ".join(HASHED)
    checkpoint_columns = ", ".join(CHECKPOINT_COLUMNS)
    if dialect == "sqlite":
        erase_only = " OR ".join(
            f"(NEW.{c} IS NOT NULL AND NEW.{c} IS NOT OLD.{c})" for c in PERSONAL)
        for statement in (
            f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE OF {hashed} ON audit_events "
            f"{_SQLITE_REFUSE}",
            f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events {_SQLITE_REFUSE}",
            f"CREATE TRIGGER audit_events_erase_only BEFORE UPDATE OF {', '.join(PERSONAL)} "
            f"ON audit_events WHEN {erase_only} "
            "BEGIN SELECT RAISE(ABORT, 'personal details of audit events can only be erased'); "
            "END",
            f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OF {checkpoint_columns} "
            f"ON audit_checkpoints {_SQLITE_REFUSE}",
            "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
            f"{_SQLITE_REFUSE}",
        ):
            op.execute(statement)
        return
    if dialect != "postgresql":
        return
    erase_only = " OR ".join(
        f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in PERSONAL)
    op.execute(
        "CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit records are append-only (% on %)', TG_OP, TG_TABLE_NAME; "
        "END $$"
    )
    refuse = "EXECUTE FUNCTION audit_refuse()"
    for statement in (
        f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE OF {hashed} ON audit_events "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        f"FOR EACH STATEMENT {refuse}",
        f"CREATE TRIGGER audit_events_erase_only BEFORE UPDATE OF {', '.join(PERSONAL)} "
        f"ON audit_events FOR EACH ROW WHEN ({erase_only}) {refuse}",
        f"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OF {checkpoint_columns} "
        f"ON audit_checkpoints FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
        f"FOR EACH ROW {refuse}",
        f"CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
        f"FOR EACH STATEMENT {refuse}",
    ):
        op.execute(statement)


def downgrade() -> None:
    """Revert this revision (the chain columns and their contents are dropped)."""
    bind = op.get_bind()
    for table in ("audit_events", "audit_checkpoints"):
        for name in ("no_update", "no_delete", "erase_only", "no_truncate"):
            if bind.dialect.name in ("sqlite", "postgresql"):
                on = f" ON {table}" if bind.dialect.name == "postgresql" else ""
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{name}{on}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_refuse()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        for name in ("personal_salt", "justification", "source_address", "entry_hash",
                     "prev_hash", "personal_digest", "subject_categories", "vital_interest",
                     "obligations", "consent_reference", "statute", "on_behalf_of", "seq"):
            batch_op.drop_column(name)
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_tree_size"))
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_log_state")
