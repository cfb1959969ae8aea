"""api keys and idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 12:03:00.614417
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint(
            "organisation_id", "key", name=op.f("uq_idempotency_records_organisation_id")
        ),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "organisation_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", broker.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_keys_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_organisation_keys_key_id")),
    )
    with op.batch_alter_table("organisation_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_keys_organisation_id"), ["organisation_id"], unique=False
        )

    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_key", sa.String(length=220), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_involvements_organisation_id"), ["organisation_id", "request_key"]
        )


def downgrade() -> None:
    """Revert this revision."""

    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_involvements_organisation_id"), type_="unique")
        batch_op.drop_column("request_key")

    with op.batch_alter_table("organisation_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_keys_organisation_id"))

    op.drop_table("organisation_keys")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))

    op.drop_table("idempotency_records")
