"""caller versions: one counter of the changes to organisations' keys, read with every signed
request's nonce, so that serving processes may keep the keys in memory (issue 13)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    versions = op.create_table(
        "caller_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caller_versions")),
    )
    op.bulk_insert(versions, [{"id": 1, "version": 0}])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("caller_versions")
