"""access roles: professionals, privacy officers and auditors

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_role", sa.String(length=32), nullable=False,
                                      server_default="professional"))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.drop_column("access_role")
