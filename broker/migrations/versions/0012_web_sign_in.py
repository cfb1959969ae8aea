"""web sign-in: server-side sessions, throttles, second factors and their enrolment

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:21:58.108385
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "sign_in_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("locked_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_sign_in_throttles_key_hash")),
    )
    op.create_table(
        "second_factor_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(length=128), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", broker.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_second_factor_enrolments_professional_id_professionals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_factor_enrolments")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_second_factor_enrolments_token_hash")),
    )
    with op.batch_alter_table("second_factor_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_second_factor_enrolments_professional_id"),
            ["professional_id"],
            unique=False,
        )
    op.create_table(
        "second_factors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(length=128), nullable=False),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("enrolled_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_second_factors_professional_id_professionals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_factors")),
        sa.UniqueConstraint("professional_id", name=op.f("uq_second_factors_professional_id")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_web_sessions_professional_id_professionals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_web_sessions_last_seen_at"), ["last_seen_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_web_sessions_professional_id"), ["professional_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_professional_id"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_web_sessions_created_at"))
    op.drop_table("web_sessions")
    op.drop_table("second_factors")
    with op.batch_alter_table("second_factor_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_second_factor_enrolments_professional_id"))
    op.drop_table("second_factor_enrolments")
    op.drop_table("sign_in_throttles")
