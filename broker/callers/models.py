"""API tables: organisations' signing keys, stored answers to idempotent requests, the signature
nonces seen (broker.callers.replay)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.clock import utcnow
from broker.db import Base, UTCDateTime

KEY_ACTIVE = "active"
KEY_REVOKED = "revoked"


class OrganisationKey(Base):
    """An organisation's Ed25519 public key; the verified ``key_id`` identifies the caller."""

    __tablename__ = "organisation_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default=KEY_ACTIVE)
    source: Mapped[str] = mapped_column(String(16), default="cli")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first answer to a POST with an ``Idempotency-Key``, replayed to retries."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("organisation_id", "key"),)


class ReplayNonce(Base):
    """A signature nonce used with a key, kept until that signature can no longer be accepted.

    ``digest`` is the first 16 bytes of SHA-256 over the key id and the nonce, each prefixed by
    its length, so that the key is fixed-size and key id and nonce cannot be confused.
    """

    __tablename__ = "replay_nonces"

    digest: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix seconds


class CallerVersion(Base):
    """One row (``id`` 1) counting the changes to organisations' keys: every add and every
    revocation raises ``version`` in its own transaction, and every signed request reads it
    with its nonce, so a process that keeps keys in memory (broker.callers.cache) learns of a
    revocation at the next request it serves."""

    __tablename__ = "caller_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
