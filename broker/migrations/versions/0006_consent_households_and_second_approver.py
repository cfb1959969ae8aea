"""consent records about a household; a contact request's obligations and first approver

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00.000000

Consent records made before this revision name no household: they share no matching key with
any look-up or request, so the broker refuses them (fail closed); the organisation records the
consent again with the household's identifiers. Requests made before it keep no obligations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "consent_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("value", sa.LargeBinary(length=32), nullable=False),
        sa.Column("oprf_epoch", sa.Integer(), nullable=False),
        sa.Column("broker_epoch", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consents.id"],
            name=op.f("fk_consent_keys_consent_id_consents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_keys")),
        sa.UniqueConstraint("consent_id", "value", name=op.f("uq_consent_keys_consent_id")),
    )
    with op.batch_alter_table("consent_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_keys_consent_id"), ["consent_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_consent_keys_value"), ["value"], unique=False)

    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("obligations", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("first_approver_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_approved_at", broker.db.UTCDateTime(),
                                      nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_contact_requests_first_approver_id_professionals"),
            "professionals", ["first_approver_id"], ["id"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_contact_requests_first_approver_id_professionals"), type_="foreignkey")
        batch_op.drop_column("first_approved_at")
        batch_op.drop_column("first_approver_id")
        batch_op.drop_column("obligations")
    with op.batch_alter_table("consent_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_keys_value"))
        batch_op.drop_index(batch_op.f("ix_consent_keys_consent_id"))
    op.drop_table("consent_keys")
