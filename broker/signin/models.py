"""Sign-in tables: server-side sessions, failure counters, second factors and their enrolment.

Nothing here can be replayed from a dump: a session or an enrolment link is stored as the SHA-256
of its random token (256 bits, so the hash cannot be searched), a second-factor secret only
sealed under the sign-in key, a failure counter under a keyed hash of the user name or address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UTCDateTime

STAGE_SECOND_FACTOR = "second_factor"  # the password was right; the code is still due
STAGE_SIGNED_IN = "signed_in"

SCOPE_NAME = "name"
SCOPE_ADDRESS = "address"


class WebSession(Base):
    """One browser's sign-in. The browser holds the random id; the row holds its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    professional_id: Mapped[int] = mapped_column(
        ForeignKey("professionals.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WebResult(Base):
    """A look-up's result as its web session saw it, so that the result page (reached by a
    redirect after the form) shows it again without a second look-up. It holds what the page
    shows — match handles, kinds, types, names the policy revealed and the form's choices as
    codes and ids — never an identifier or free text; it goes with its session (sign-out, and
    expiry by the worker's housekeeping)."""

    __tablename__ = "web_results"
    __table_args__ = (UniqueConstraint("session_id", "lookup_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("web_sessions.id", ondelete="CASCADE"))
    lookup_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInThrottle(Base):
    """Failed sign-ins counted under a keyed hash of a user name or of a source address."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    # Attempts counted as failed (an attempt counts from its start until it succeeds).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A user name: locked until an administrator unlocks it. An address: blocked until its
    # window ends.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attempts refused unchecked while throttled or locked (counted, not audited one by one).
    refused: Mapped[int] = mapped_column(Integer, default=0)


class SecondFactor(Base):
    """An account's TOTP secret (sealed) and the last time step a code was accepted for."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    professional_id: Mapped[int] = mapped_column(
        ForeignKey("professionals.id", ondelete="CASCADE"), unique=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary(128))
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SecondFactorEnrolment(Base):
    """A one-time, expiring enrolment link and the secret it offers until it is confirmed."""

    __tablename__ = "second_factor_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    professional_id: Mapped[int] = mapped_column(
        ForeignKey("professionals.id", ondelete="CASCADE"), index=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
