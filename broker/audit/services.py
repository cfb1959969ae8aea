"""Recording audit events.

Every state change and every disclosure calls :func:`record_event` with the session of the
service's own unit of work, so the event and the change commit together or not at all. Event tags
are typed: an unknown tag is a programming error and raises, it is never written.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, cast

from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session

from broker.audit.models import AuditEvent, AuditSubject
from broker.db import prepared_insert, utcnow

Channel = Literal["web", "api", "cli", "system"]

# Tag -> NEN 7513 action code (C create, R read, U update, D delete, E execute).
EVENT_TYPES: Mapping[str, str] = {
    "organisation:created": "C",
    "professional:created": "C",
    "involvement:registered": "C",
    "involvement:renewed": "U",
    "involvement:ended": "U",
    "involvement:expired": "U",
    "involvement:purged": "D",
    "lookup:performed": "R",
    "lookup:refused": "R",
    "pseudonym:evaluated": "E",
    "keys:created": "C",
    "keys:rotation_started": "E",
    "keys:rotation_finished": "E",
    "orgkey:added": "C",
    "orgkey:revoked": "U",
    "auth:signature_rejected": "E",
    "auth:rate_limited": "E",
    "api:idempotency_purged": "D",
    "api:answer_replayed": "R",
    "involvement:contact_changed": "U",
    "policy:loaded": "E",
    "policy:load_failed": "E",
}


@dataclass(frozen=True)
class Actor:
    """Who acts, on whose behalf, through which door."""

    actor: str
    channel: Channel
    organisation_id: int | None = None
    role: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The broker itself (purge, rotation, policy reload)."""
        return cls(actor=name, channel="system")

    def on_behalf_of(self, professional: str) -> Actor:
        """The same actor, recording the professional it acts for (NEN 7513: the user behind a
        system's request)."""
        return replace(self, actor=f"{self.actor} for professional:{professional}")

    @classmethod
    def operator(cls, name: str = "operator") -> Actor:
        """An operator at the command line."""
        return cls(actor=f"cli:{name}", channel="cli")


@dataclass(frozen=True)
class Subject:
    """A matching key an event concerns: category, stored value and its epochs."""

    category: str
    value: bytes
    oprf_epoch: int
    broker_epoch: int


@dataclass(frozen=True)
class RecordedEvent:
    """The identity of an event once appended: database id and public event id."""

    id: int
    event_id: str


_EVENTS = cast(Table, AuditEvent.__table__)
_SUBJECTS = cast(Table, AuditSubject.__table__)
# Compiled once per dialect: every look-up appends an event, so this is the hot path.
_INSERT_EVENT = prepared_insert(_EVENTS, returning=_EVENTS.c.id)
_INSERT_SUBJECTS = prepared_insert(_SUBJECTS)


def time_ordered_uuid() -> str:
    """A UUID version 7 (RFC 9562 §5.7): milliseconds since the epoch, then 74 random bits.

    Time-ordered ids append to the unique index instead of touching a random page per event.
    """
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def record_event(
    session: Session | Connection,
    actor: Actor,
    event_type: str,
    *,
    outcome: str = "success",
    reason: str | None = None,
    organisation_id: int | None = None,
    purpose: str | None = None,
    legal_basis: str | None = None,
    policy_version: str | None = None,
    rule_id: str | None = None,
    details: Mapping[str, object] | None = None,
    subjects: Iterable[Subject] = (),
    event_id: str | None = None,
) -> RecordedEvent:
    """Append one audit event (and its subjects) in ``session``'s transaction.

    ``organisation_id`` defaults to the actor's organisation: on whose behalf the act was done.
    The rows are written at once (not at the next flush), so a failure surfaces in the service
    that caused it, and the service's commit writes the change and its event together.
    """
    try:
        action = EVENT_TYPES[event_type]
    except KeyError:
        raise ValueError(f"unknown audit event type {event_type!r}") from None
    event_id = event_id or time_ordered_uuid()
    connection = session.connection() if isinstance(session, Session) else session
    row_id: int = _INSERT_EVENT.insert_one(
        connection,
        {
            "event_id": event_id,
            "occurred_at": utcnow(),
            "event_type": event_type,
            "action": action,
            "outcome": outcome,
            "reason": reason,
            "actor": actor.actor,
            "actor_role": actor.role,
            "organisation_id": (
                organisation_id if organisation_id is not None else actor.organisation_id
            ),
            "channel": actor.channel,
            "request_id": actor.request_id,
            "purpose": purpose,
            "legal_basis": legal_basis,
            "policy_version": policy_version,
            "rule_id": rule_id,
            "details": dict(details or {}),
        },
    )
    subject_rows = [
        {"event_id": row_id, "category": s.category, "value": s.value,
         "oprf_epoch": s.oprf_epoch, "broker_epoch": s.broker_epoch}
        for s in subjects
    ]
    _INSERT_SUBJECTS.insert_many(connection, subject_rows)
    return RecordedEvent(row_id, event_id)
