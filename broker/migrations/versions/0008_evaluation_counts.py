"""daily pseudonym evaluation counts per organisation (persistent quotas)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "evaluation_counts",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("evaluations", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_evaluation_counts_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", "day", name=op.f("pk_evaluation_counts")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("evaluation_counts")
