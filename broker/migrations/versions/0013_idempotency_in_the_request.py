"""idempotency in the request's transaction: involvements no longer carry the request key

The key, the work and the stored answer now commit together (broker.api.idempotency), so the
per-involvement copy of the Idempotency-Key that made a crashed retry find its registrations is
no longer needed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.drop_constraint("uq_involvements_organisation_id", type_="unique")
        batch_op.drop_column("request_key")


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_key", sa.String(length=220), nullable=True))
        batch_op.create_unique_constraint(
            "uq_involvements_organisation_id", ["organisation_id", "request_key"])
