"""inbox messages say who, as the policy allows: a new match names the organisation that
registered (its name, or only its type) when the policy lets the receiver learn that much

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("about_organisation", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("about_type", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("about_type")
        batch_op.drop_column("about_organisation")
