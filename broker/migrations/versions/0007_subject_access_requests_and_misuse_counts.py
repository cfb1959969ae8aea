"""subject access requests with their withholding decisions; misuse counters per minute

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "subject_access_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("covers_seq", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["professionals.id"],
            name=op.f("fk_subject_access_requests_officer_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_access_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_subject_access_requests_public_id")),
    )
    op.create_table(
        "subject_access_withholdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("ground", sa.Text(), nullable=False),
        sa.Column("released_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("released_by_id", sa.Integer(), nullable=True),
        sa.Column("release_event_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"],
            name=op.f("fk_subject_access_withholdings_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["released_by_id"], ["professionals.id"],
            name=op.f("fk_subject_access_withholdings_released_by_id_professionals"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_access_requests.id"],
            name=op.f("fk_subject_access_withholdings_request_id_subject_access_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_access_withholdings")),
        sa.UniqueConstraint("request_id", "organisation_id",
                            name=op.f("uq_subject_access_withholdings_request_id")),
    )
    with op.batch_alter_table("subject_access_withholdings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_access_withholdings_request_id"),
                              ["request_id"], unique=False)
    op.create_table(
        "misuse_counts",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("who", sa.String(length=300), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("lookups", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "who", "minute", name=op.f("pk_misuse_counts")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("misuse_counts")
    with op.batch_alter_table("subject_access_withholdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_access_withholdings_request_id"))
    op.drop_table("subject_access_withholdings")
    op.drop_table("subject_access_requests")
