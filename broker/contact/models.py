"""Contact tables: requests, links, coordinator proposals (consent records are the registry's,
:class:`broker.registry.models.Consent`).

None holds case content: a request records who asks, for what purpose and on which basis, and who
of the holder approved it; a link records to whom it was issued and which fields of whose contact
details it shows. Link tokens are stored only as their SHA-256.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.clock import utcnow
from broker.db import Base, UTCDateTime
from broker.registry.models import new_public_id

REQUEST_PENDING = "pending"
REQUEST_APPROVED = "approved"
REQUEST_DENIED = "denied"
REQUEST_WITHDRAWN = "withdrawn"
REQUEST_EXPIRED = "expired"


class ContactRequest(Base):
    """A requester's ask for contact with the holder of a match."""

    __tablename__ = "contact_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    lookup_id: Mapped[str] = mapped_column(String(36))  # the look-up event that showed the match
    requester_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"))
    holder_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    holder_involvement_id: Mapped[int | None] = mapped_column(
        ForeignKey("involvements.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(32))
    statute: Mapped[str | None] = mapped_column(String(300))
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"), index=True)
    policy_version: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))  # direct | approval
    link_fields: Mapped[list[str]] = mapped_column(JSON)
    link_direction: Mapped[str] = mapped_column(String(16))  # mutual | one_way
    status: Mapped[str] = mapped_column(String(16), default=REQUEST_PENDING, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("professionals.id"))
    # The rule's obligations when the request was made (the policy may change meanwhile; the
    # request keeps what its rule demanded), e.g. require_second_approver for the decision.
    obligations: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Under require_second_approver: the holder's professional who approved first, and when;
    # the request stays pending until another professional of the holder approves.
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("professionals.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The holder's optional message to the requester (free text, shown to the requester only).
    decision_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactLink(Base):
    """Access for one professional to another professional's contact details (some fields)."""

    __tablename__ = "contact_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("contact_requests.id"), index=True)
    issued_to_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"), index=True)
    issued_to_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    shows_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"))  # whose details
    fields: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When its token was handed to its holder: at once for the one whose request made it; for
    # the other side, at the first read of the request by that organisation. Until then the
    # stored hash is of a random value nobody holds.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CoordinatorProposal(Base):
    """A proposal that one involved professional coordinates the household (regievoerder)."""

    __tablename__ = "coordinator_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("involvements.id",
                                                           ondelete="CASCADE"))
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("involvements.id",
                                                           ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # agreed | declined
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CoordinatorVote(Base):
    """An involved organisation's answer to a proposal (one per involvement in the group)."""

    __tablename__ = "coordinator_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("coordinator_proposals.id",
                                                        ondelete="CASCADE"), index=True)
    involvement_id: Mapped[int] = mapped_column(ForeignKey("involvements.id",
                                                           ondelete="CASCADE"))
    vote: Mapped[str | None] = mapped_column(String(16))  # agree | decline | None (pending)
    voted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voted_by_id: Mapped[int | None] = mapped_column(ForeignKey("professionals.id"))


