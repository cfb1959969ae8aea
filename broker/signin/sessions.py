"""Server-side web sessions.

Rules (times from the core's clock):

1. A session is a row; the browser holds only its random id (256 bits). The row holds the id's
   SHA-256, so a database dump opens no session.
2. A signed-in session ends after 30 minutes without a request and 8 hours after sign-in in any
   case; a session waiting for the second factor ends after 5 minutes. An ended session is
   deleted when it is next presented, at the next sign-in of anyone, and by the worker's
   housekeeping (every 10 seconds), with what it kept.
3. A session of an account that is deactivated or no longer exists opens nothing.
4. Signing out, a password change and a new second factor end every session of the account at
   once: their rows are deleted in the same transaction as the change and its audit event.
5. Every step up (password accepted, second factor accepted) issues a new id, so an id seen
   before sign-in is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.orm import Session, selectinload

from broker.registry.models import Professional
from broker.registry.results import ProfessionalInfo
from broker.signin.models import STAGE_SECOND_FACTOR, STAGE_SIGNED_IN, WebSession

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)
SECOND_FACTOR_TIME = timedelta(minutes=5)
MAX_TOKEN_LENGTH = 100  # a token is 43 characters; anything much longer is not one


def token_hash(token: str) -> bytes:
    """What the table stores of a session id."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def open_session(session: Session, professional_id: int, stage: str, now: datetime) -> str:
    """A new session for the account; returns the id for the browser (rule 5)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=token_hash(token), professional_id=professional_id,
                           stage=stage, created_at=now, last_seen_at=now))
    session.flush()
    return token


@dataclass(frozen=True)
class Resumed:
    """A live session: its row id and the account."""

    session_id: int
    stage: str
    professional: ProfessionalInfo
    organisation_id: int


def _alive(row: WebSession, now: datetime) -> bool:
    if row.stage == STAGE_SECOND_FACTOR:
        return now - row.created_at <= SECOND_FACTOR_TIME
    return now - row.last_seen_at <= IDLE and now - row.created_at <= ABSOLUTE


def resume(session: Session, token: str, stage: str, now: datetime) -> Resumed | None:
    """The live session of ``token`` at ``stage`` (rules 2 and 3), marked as seen now; None
    (and the row deleted when it has ended) otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.stage != stage:
        return None
    person = session.scalar(select(Professional).where(Professional.id == row.professional_id)
                            .options(selectinload(Professional.organisation)))
    if person is None or not person.active or not _alive(row, now):
        session.delete(row)
        return None
    if stage == STAGE_SIGNED_IN:
        session.execute(update(WebSession).where(WebSession.id == row.id)
                        .values(last_seen_at=now))
    return Resumed(row.id, row.stage, ProfessionalInfo.of(person), person.organisation_id)


def end_session(session: Session, session_id: int) -> None:
    """End one session (a waiting second-factor session that is replaced)."""
    session.execute(delete(WebSession).where(WebSession.id == session_id))


def end_all(session: Session, professional_id: int) -> int:
    """End every session of the account (rule 4); the number ended."""
    result = session.execute(delete(WebSession).where(
        WebSession.professional_id == professional_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_ended(session: Session | Connection, now: datetime) -> int:
    """Delete every session that has ended by now (rule 2), whoever's it was, with what it
    kept (a web check's result); the number deleted. Run at each sign-in and by the worker's
    housekeeping, so that a session nobody presents again does not outlive its end."""
    result = session.execute(delete(WebSession).where(or_(
        WebSession.created_at < now - ABSOLUTE,
        WebSession.last_seen_at < now - IDLE,
        (WebSession.stage == STAGE_SECOND_FACTOR)
        & (WebSession.created_at < now - SECOND_FACTOR_TIME))))
    return int(result.rowcount)  # type: ignore[attr-defined]

