"""Recording audit events.

Every state change and every disclosure calls :func:`record_event` with the session of the
service's own unit of work, so the event and the change commit together or not at all. Event tags
are typed: an unknown tag is a programming error and raises, it is never written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from broker.audit.models import AuditEvent, AuditSubject
from broker.db import utcnow

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


def record_event(
    session: Session,
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
) -> AuditEvent:
    """Append one audit event (and its subjects) to ``session``; the caller's commit writes it.

    ``organisation_id`` defaults to the actor's organisation: on whose behalf the act was done.
    """
    try:
        action = EVENT_TYPES[event_type]
    except KeyError:
        raise ValueError(f"unknown audit event type {event_type!r}") from None
    event = AuditEvent(
        event_id=str(uuid.uuid4()),
        occurred_at=utcnow(),
        event_type=event_type,
        action=action,
        outcome=outcome,
        reason=reason,
        actor=actor.actor,
        actor_role=actor.role,
        organisation_id=organisation_id if organisation_id is not None else actor.organisation_id,
        channel=actor.channel,
        request_id=actor.request_id,
        purpose=purpose,
        legal_basis=legal_basis,
        policy_version=policy_version,
        rule_id=rule_id,
        details=dict(details or {}),
    )
    event.subjects = [
        AuditSubject(
            category=s.category,
            value=s.value,
            oprf_epoch=s.oprf_epoch,
            broker_epoch=s.broker_epoch,
        )
        for s in subjects
    ]
    session.add(event)
    return event
