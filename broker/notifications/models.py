"""Notification tables: each professional's inbox, and the outbox of e-mails and webhooks.

Inbox messages hold a kind and a reference, never a person's name or an identifier; a new match
also refers to the registering organisation and its involvement, with how much of it the policy
lets the reader learn without asking (its name, or only its kind, read when the inbox is read).
A message about an involvement, or for one, is deleted with it (``ON DELETE CASCADE``), so no
message outlives the retention of the registration it tells of. The outbox is written in the
same transaction as the event it announces, so a crash never loses a notification; a deliverer
sends it later, with retries and exponential back-off.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.clock import utcnow
from broker.db import Base, UTCDateTime


class InboxMessage(Base):
    """Something a professional should know about: a kind and what it refers to."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    professional_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"), index=True)
    # new_match | contact_request | decision | link | coordinator_proposal | inform_review_due
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))  # public id of the request, link, …
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The receiver's own involvement a message of a per-involvement kind (new_match,
    # lookup_notice) is for, as ``reference`` names it: the message goes with it.
    involvement_id: Mapped[int | None] = mapped_column(
        ForeignKey("involvements.id", ondelete="CASCADE"), index=True)
    # Who a new match is about, by reference, never a copied name: the registering organisation
    # (its name and type read when the inbox is read), its involvement (the message goes with
    # it), and how much the policy let the receiver learn (``organisation``,
    # ``organisation_type`` or ``nothing``).
    about_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    about_involvement_id: Mapped[int | None] = mapped_column(
        ForeignKey("involvements.id", ondelete="CASCADE"), index=True)
    about_reveal: Mapped[str | None] = mapped_column(String(32))


class OutboxMessage(Base):
    """An e-mail or webhook to send, kept until delivered (or given up after its attempts)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    professional_id: Mapped[int | None] = mapped_column(ForeignKey("professionals.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # gave up
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
