"""Audit tables.

An event row holds two kinds of columns:

- the *content*, covered by the event's hash (see ``docs/audit-bundle.md``): what happened, who,
  on whose behalf, why, under which rule. The database refuses to change or delete it
  (triggers, migration 0003);
- *personal details* (a truncated source address, a free-text justification) kept outside the
  hash and bound to it by a salted digest, so that retention can erase them and every proof
  stays valid.

The household an event concerns is referenced through :class:`AuditSubject` rows holding matching
keys; they are re-keyed in place on rotation like the registry's (so a subject access request can
still find them), which is why the content records only their categories. ``broker audit verify``
checks that an event's rows have exactly those categories, and triggers (migration 0010) refuse
deleting them and every change but a rotation's re-keying.

Checkpoints leave the database through witnesses (:mod:`broker.audit.witnessing`); the
cosignatures they return are kept beside the checkpoint, append-only too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.clock import utcnow
from broker.db import Base, UTCDateTime


class AuditEvent(Base):
    """One audited action, written in the same transaction as the change it records."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
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
    on_behalf_of: Mapped[str | None] = mapped_column(String(300))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    statute: Mapped[str | None] = mapped_column(String(300))
    consent_reference: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str | None] = mapped_column(String(200))
    obligations: Mapped[list[str]] = mapped_column(JSON, default=list)
    vital_interest: Mapped[bool] = mapped_column(Boolean, default=False)
    subject_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    personal_digest: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Personal details: outside the hash, erased by retention (see the module docstring).
    source_address: Mapped[str | None] = mapped_column(String(64))
    justification: Mapped[str | None] = mapped_column(Text)
    personal_salt: Mapped[bytes | None] = mapped_column(LargeBinary(16))

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


class AuditLogState(Base):
    """The log's head, one row: its size, the last event's hash and the Merkle tree's compact
    range (the roots of its perfect subtrees), so appending and checkpointing never read the
    whole log. Appending locks this row, which makes the sequence linear: no fork, no gap."""

    __tablename__ = "audit_log_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed checkpoint of the tree (C2SP signed note), append-only like the events."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text)
    # The tree's compact range at this size: the start of a consistency proof to a later tree
    # (null for checkpoints signed before migration 0010).
    frontier: Mapped[bytes | None] = mapped_column(LargeBinary)


class AuditCosignature(Base):
    """A witness's cosignature (c2sp.org/tlog-cosignature) on one checkpoint."""

    __tablename__ = "audit_cosignatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.id"), index=True)
    witness: Mapped[str] = mapped_column(String(300))  # the cosigner's key name
    key_id: Mapped[str] = mapped_column(String(8))  # hex
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the cosignature's own time
    signature: Mapped[str] = mapped_column(Text)  # the whole signature line


# -- subject access requests (AVG art. 15, UAVG art. 41) ---------------------------------------


class SubjectAccessRequest(Base):
    """A data subject's request for access, made by a privacy officer.

    Whom it is for is held only as matching keys: the subjects of the request's audit event
    (``event_id``), which key rotation re-keys in place like every audit subject. The report
    covers the log's events before ``covers_seq`` (the request's own event), so every report
    printed for the request shows the same processing.
    """

    __tablename__ = "subject_access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    officer_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"))
    event_id: Mapped[str] = mapped_column(String(36))
    covers_seq: Mapped[int] = mapped_column(BigInteger)
    policy_version: Mapped[str] = mapped_column(String(64))


class SubjectAccessWithholding(Base):
    """An organisation left out of one request's report (UAVG art. 41), on ``ground``, until a
    privacy officer releases it for that request."""

    __tablename__ = "subject_access_withholdings"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_access_requests.id"),
                                            index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    ground: Mapped[str] = mapped_column(Text)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("professionals.id"))
    release_event_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (UniqueConstraint("request_id", "organisation_id"),)


# -- misuse seen the same day ------------------------------------------------------------------


class MisuseCount(Base):
    """Look-ups of one professional (``scope`` "fishing" or "professional") or one organisation
    ("organisation") in one minute (minutes since the Unix epoch), and whether a flag was raised
    in that minute. Rows older than the policy's longest window are deleted by ``broker purge``.
    """

    __tablename__ = "misuse_counts"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    who: Mapped[str] = mapped_column(String(300), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    lookups: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
