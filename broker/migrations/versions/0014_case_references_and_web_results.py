"""case references and kept web results: an involvement carries its organisation's own case
reference (its dossier number, never a name); a look-up's result is kept for the web session
that asked, so that the result page is shown again without a second look-up

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from broker.db import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_reference", sa.String(length=64), nullable=True))
    op.create_table(
        "web_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("lookup_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["web_sessions.id"],
                                name=op.f("fk_web_results_session_id_web_sessions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_results")),
        sa.UniqueConstraint("session_id", "lookup_id",
                            name=op.f("uq_web_results_session_id")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("web_results")
    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.drop_column("case_reference")
