"""Registry tables.

What is stored about a household is only its matching keys (``T = b·k·H(identifier)``, opaque
32-byte group elements), who is involved, and the consent an organisation recorded about it:
never an identifier, never a name, never a reason or case content.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.clock import utcnow
from broker.db import Base, UTCDateTime

INVOLVEMENT_ACTIVE = "active"
INVOLVEMENT_ENDED = "ended"


def new_public_id() -> str:
    """A random public id (UUID version 4): what other systems may hold of a row."""
    return str(uuid.uuid4())


ACCESS_PROFESSIONAL = "professional"
ACCESS_PRIVACY_OFFICER = "privacy_officer"
ACCESS_AUDITOR = "auditor"
ACCESS_ROLES = (ACCESS_PROFESSIONAL, ACCESS_PRIVACY_OFFICER, ACCESS_AUDITOR)


class Organisation(Base):
    """An organisation in the chain; ``org_type`` is a code from the policy's types."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(64))
    # Where the broker posts signed notifications for this organisation's case system (https).
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    professionals: Mapped[list[Professional]] = relationship(back_populates="organisation")


class Professional(Base):
    """A contact professional; the only personal data of staff the broker keeps."""

    __tablename__ = "professionals"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    # argon2id (libsodium crypto_pwhash_str); None: this professional cannot sign in on the web.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # What the account may do (ACCESS_ROLES): chain work as a professional, or the privacy
    # officer's or the auditor's pages. Only a professional looks up, registers or is a contact.
    access_role: Mapped[str] = mapped_column(String(32), default=ACCESS_PROFESSIONAL,
                                             server_default=ACCESS_PROFESSIONAL)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="professionals")


class Involvement(Base):
    """That an organisation is involved with a household, through whom, for what, until when.

    Ended and expired involvements stay as history (``state == "ended"``) until
    ``history_until``, then ``broker purge`` deletes them with their matching keys.
    """

    __tablename__ = "involvements"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    professional_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    # The organisation's own case reference (its dossier number), entered at registration and
    # shown only to the organisation itself; free text refused when shaped like an identifier.
    case_reference: Mapped[str | None] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default=INVOLVEMENT_ACTIVE)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(64))
    history_until: Mapped[date | None] = mapped_column(Date)
    # Duty to inform (AVG art. 14): informed on a date, or postponed with a reason until a date
    # (the professional is reminded when it passes). Unknown while all three are empty.
    informed_on: Mapped[date | None] = mapped_column(Date)
    inform_postponed_reason: Mapped[str | None] = mapped_column(String(500))
    inform_postponed_until: Mapped[date | None] = mapped_column(Date)
    inform_reminded_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    professional: Mapped[Professional] = relationship()
    matching_keys: Mapped[list[MatchingKey]] = relationship(
        back_populates="involvement", cascade="all, delete-orphan", passive_deletes=True
    )

    # No index on (state, ends_on) on purpose: without table statistics SQLite would drive the
    # look-up from it (a range over every active involvement) instead of from the matching-key
    # index; purge, the only query that filters on these alone, is a daily batch that may scan.


class MatchingKey(Base):
    """One pseudonymised identifier of a household, stored as ``T = b·N`` at known key epochs."""

    __tablename__ = "matching_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    involvement_id: Mapped[int] = mapped_column(
        ForeignKey("involvements.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(16))
    value: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    oprf_epoch: Mapped[int] = mapped_column(Integer)
    broker_epoch: Mapped[int] = mapped_column(Integer)

    involvement: Mapped[Involvement] = relationship(back_populates="matching_keys")

    __table_args__ = (UniqueConstraint("involvement_id", "value"),)


class Consent(Base):
    """Consent about a household for the ``consent`` legal basis, recorded by a professional of
    an organisation: who consented (the person, a parent, a guardian), when, for which purposes
    and kinds of organisation, until when. The household is its matching keys
    (:class:`ConsentKey`), made exactly like a registration's."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("professionals.id"))
    given_by: Mapped[str] = mapped_column(String(16))  # person | parent | guardian
    given_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    purposes: Mapped[list[str]] = mapped_column(JSON)  # the scope: purposes it covers
    holder_types: Mapped[list[str]] = mapped_column(JSON)  # and whom it may reach (empty: any)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list[ConsentKey]] = relationship(
        back_populates="consent", cascade="all, delete-orphan", passive_deletes=True
    )


class ConsentKey(Base):
    """One matching key of the household a consent is about (``T = b·N``, as
    :class:`MatchingKey`); re-keyed in place by a key rotation like every stored key."""

    __tablename__ = "consent_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(
        ForeignKey("consents.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(16))
    value: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    oprf_epoch: Mapped[int] = mapped_column(Integer)
    broker_epoch: Mapped[int] = mapped_column(Integer)

    consent: Mapped[Consent] = relationship(back_populates="keys")

    __table_args__ = (UniqueConstraint("consent_id", "value"),)
