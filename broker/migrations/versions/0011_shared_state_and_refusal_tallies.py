"""shared state and refusal tallies: replay nonces in the database, counted refusals of
unauthenticated requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "replay_nonces",
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_replay_nonces")),
    )
    op.create_index(op.f("ix_replay_nonces_expires_at"), "replay_nonces", ["expires_at"],
                    unique=False)
    op.create_table(
        "refusal_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", broker.db.UTCDateTime(), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("door", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusal_tallies")),
        sa.UniqueConstraint("minute", "network", "door", "reason", "key_id",
                            name=op.f("uq_refusal_tallies_minute")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("refusal_tallies")
    op.drop_index(op.f("ix_replay_nonces_expires_at"), table_name="replay_nonces")
    op.drop_table("replay_nonces")
