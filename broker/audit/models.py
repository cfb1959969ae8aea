"""Audit tables.

An event never holds a raw identifier: the household it concerns is referenced through
:class:`AuditSubject` rows, which hold matching keys (re-keyed in place on rotation like the
registry's, so a subject access request can still find them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.db import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One audited action, written in the same transaction as the change it records."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Only the time is indexed: every look-up appends an event, and each index costs a page
    # write per commit; auditors' searches by type or organisation scan a time range.
    event_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(1))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(300))
    actor_role: Mapped[str | None] = mapped_column(String(100))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    subjects: Mapped[list[AuditSubject]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )


class AuditSubject(Base):
    """A matching key an event concerned (the household, pseudonymised)."""

    __tablename__ = "audit_subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    # Not indexed on purpose: every look-up appends subjects, and an index on random 32-byte
    # values would add a random page write per subject; searching by household is a rare
    # auditor's task that may scan.
    value: Mapped[bytes] = mapped_column(LargeBinary(32))
    oprf_epoch: Mapped[int] = mapped_column(Integer)
    broker_epoch: Mapped[int] = mapped_column(Integer)

    event: Mapped[AuditEvent] = relationship(back_populates="subjects")
