"""inbox messages refer to who they are about instead of copying a name: the registering
organisation, its involvement and the reveal level the policy allowed; a message about an
involvement, or for one, is deleted with it

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 23:00:00.000000

The names 0015 copied are dropped, not carried over: which registration a copied name told of
is not on record, so such a message could not go with it. Those messages stay, without saying
who registered. A message for an involvement that no longer exists is deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

PER_INVOLVEMENT = ("new_match", "lookup_notice")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("involvement_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("about_organisation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("about_involvement_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("about_reveal", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_inbox_messages_involvement_id"),
                              ["involvement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_messages_about_involvement_id"),
                              ["about_involvement_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_inbox_messages_involvement_id_involvements"), "involvements",
            ["involvement_id"], ["id"], ondelete="CASCADE")
        batch_op.create_foreign_key(
            batch_op.f("fk_inbox_messages_about_organisation_id_organisations"),
            "organisations", ["about_organisation_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_inbox_messages_about_involvement_id_involvements"), "involvements",
            ["about_involvement_id"], ["id"], ondelete="CASCADE")
        batch_op.drop_column("about_type")
        batch_op.drop_column("about_organisation")
    messages = sa.table("inbox_messages", sa.column("kind", sa.String()),
                        sa.column("reference", sa.String()),
                        sa.column("involvement_id", sa.Integer()))
    involvements = sa.table("involvements", sa.column("id", sa.Integer()),
                            sa.column("public_id", sa.String()))
    own = (sa.select(involvements.c.id)
           .where(involvements.c.public_id == messages.c.reference).scalar_subquery())
    per_involvement = messages.c.kind.in_(PER_INVOLVEMENT)
    op.execute(messages.update().where(per_involvement).values(involvement_id=own))
    op.execute(messages.delete().where(per_involvement, messages.c.involvement_id.is_(None)))


def downgrade() -> None:
    """Revert this revision (the names are not restored: they were never kept)."""
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("about_organisation", sa.String(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column("about_type", sa.String(length=64), nullable=True))
        batch_op.drop_constraint(
            batch_op.f("fk_inbox_messages_about_involvement_id_involvements"),
            type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_inbox_messages_about_organisation_id_organisations"),
            type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_inbox_messages_involvement_id_involvements"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_inbox_messages_about_involvement_id"))
        batch_op.drop_index(batch_op.f("ix_inbox_messages_involvement_id"))
        batch_op.drop_column("about_reveal")
        batch_op.drop_column("about_involvement_id")
        batch_op.drop_column("about_organisation_id")
        batch_op.drop_column("involvement_id")
