"""contact hand-over and notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 14:32:57.751384
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import broker.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("given_by", sa.String(length=16), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("holder_types", sa.JSON(), nullable=False),
        sa.Column("withdrawn_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_consents_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["professionals.id"],
            name=op.f("fk_consents_recorded_by_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint("public_id", name=op.f("uq_consents_public_id")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consents_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("professional_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("read_at", broker.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_inbox_messages_professional_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
    )
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_messages_professional_id"), ["professional_id"], unique=False
        )

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("professional_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("failed_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_outbox_messages_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["professional_id"],
            ["professionals.id"],
            name=op.f("fk_outbox_messages_professional_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "contact_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("lookup_id", sa.String(length=36), nullable=False),
        sa.Column("requester_org_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("holder_org_id", sa.Integer(), nullable=False),
        sa.Column("holder_involvement_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("statute", sa.String(length=300), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("link_fields", sa.JSON(), nullable=False),
        sa.Column("link_direction", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_message", sa.Text(), nullable=True),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["consents.id"], name=op.f("fk_contact_requests_consent_id_consents")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["professionals.id"],
            name=op.f("fk_contact_requests_decided_by_id_professionals"),
        ),
        sa.ForeignKeyConstraint(
            ["holder_involvement_id"],
            ["involvements.id"],
            name=op.f("fk_contact_requests_holder_involvement_id_involvements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_org_id"],
            ["organisations.id"],
            name=op.f("fk_contact_requests_holder_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["professionals.id"],
            name=op.f("fk_contact_requests_requester_id_professionals"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_org_id"],
            ["organisations.id"],
            name=op.f("fk_contact_requests_requester_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_contact_requests_public_id")),
    )
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_requests_consent_id"), ["consent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_requests_holder_org_id"), ["holder_org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_requests_requester_org_id"), ["requester_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contact_requests_status"), ["status"], unique=False)

    op.create_table(
        "coordinator_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=False),
        sa.Column("coordinator_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", broker.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["involvements.id"],
            name=op.f("fk_coordinator_proposals_coordinator_id_involvements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["involvements.id"],
            name=op.f("fk_coordinator_proposals_proposed_by_id_involvements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinator_proposals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_coordinator_proposals_public_id")),
    )
    op.create_table(
        "contact_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("issued_to_id", sa.Integer(), nullable=False),
        sa.Column("issued_to_org_id", sa.Integer(), nullable=False),
        sa.Column("shows_id", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("expires_at", broker.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", broker.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_to_id"],
            ["professionals.id"],
            name=op.f("fk_contact_links_issued_to_id_professionals"),
        ),
        sa.ForeignKeyConstraint(
            ["issued_to_org_id"],
            ["organisations.id"],
            name=op.f("fk_contact_links_issued_to_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["contact_requests.id"],
            name=op.f("fk_contact_links_request_id_contact_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["shows_id"], ["professionals.id"], name=op.f("fk_contact_links_shows_id_professionals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_links")),
        sa.UniqueConstraint("public_id", name=op.f("uq_contact_links_public_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_contact_links_token_hash")),
    )
    with op.batch_alter_table("contact_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_links_issued_to_id"), ["issued_to_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_links_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "coordinator_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("involvement_id", sa.Integer(), nullable=False),
        sa.Column("vote", sa.String(length=16), nullable=True),
        sa.Column("voted_at", broker.db.UTCDateTime(), nullable=True),
        sa.Column("voted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["involvement_id"],
            ["involvements.id"],
            name=op.f("fk_coordinator_votes_involvement_id_involvements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["coordinator_proposals.id"],
            name=op.f("fk_coordinator_votes_proposal_id_coordinator_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["voted_by_id"],
            ["professionals.id"],
            name=op.f("fk_coordinator_votes_voted_by_id_professionals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinator_votes")),
    )
    with op.batch_alter_table("coordinator_votes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coordinator_votes_proposal_id"), ["proposal_id"], unique=False
        )

    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("informed_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("inform_postponed_reason", sa.String(length=500), nullable=True)
        )
        batch_op.add_column(sa.Column("inform_postponed_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("inform_reminded_on", sa.Date(), nullable=True))

    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=500), nullable=True))



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("webhook_url")

    with op.batch_alter_table("involvements", schema=None) as batch_op:
        batch_op.drop_column("inform_reminded_on")
        batch_op.drop_column("inform_postponed_until")
        batch_op.drop_column("inform_postponed_reason")
        batch_op.drop_column("informed_on")

    with op.batch_alter_table("coordinator_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coordinator_votes_proposal_id"))

    op.drop_table("coordinator_votes")
    with op.batch_alter_table("contact_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_links_request_id"))
        batch_op.drop_index(batch_op.f("ix_contact_links_issued_to_id"))

    op.drop_table("contact_links")
    op.drop_table("coordinator_proposals")
    with op.batch_alter_table("contact_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_requests_status"))
        batch_op.drop_index(batch_op.f("ix_contact_requests_requester_org_id"))
        batch_op.drop_index(batch_op.f("ix_contact_requests_holder_org_id"))
        batch_op.drop_index(batch_op.f("ix_contact_requests_consent_id"))

    op.drop_table("contact_requests")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_next_attempt_at"))

    op.drop_table("outbox_messages")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_messages_professional_id"))

    op.drop_table("inbox_messages")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_organisation_id"))

    op.drop_table("consents")
