"""Recording audit events.

Every state change and every disclosure calls :func:`record_event` with the session of the
service's own unit of work, so the event and the change commit together or not at all. Event tags
are an :class:`~broker.audit.events.Event` (a ``StrEnum``): an unknown tag is a programming error
and raises, it is never written.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from broker.audit.chain import Personal, append, check_json, new_salt, to_millisecond
from broker.audit.events import ACTIONS, Event
from broker.clock import utcnow
from broker.metrics import AUDIT_APPEND

Channel = Literal["web", "api", "cli", "system"]

# Tag -> NEN 7513 action code (kept under its earlier name for the readers of the log).
EVENT_TYPES: Mapping[Event, str] = ACTIONS


@dataclass(frozen=True)
class Actor:
    """Who acts, on whose behalf, through which door, from where."""

    actor: str
    channel: Channel
    organisation_id: int | None = None
    role: str | None = None
    request_id: str | None = None
    on_behalf_of: str | None = None
    source_address: str | None = None  # already truncated (see truncate_address)
    # The caller's own X-Request-Id, checked (broker.request_ids); recorded in the details,
    # beside the broker's own ``request_id``, never instead of it.
    client_request_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The broker itself (purge, rotation, policy reload)."""
        return cls(actor=name, channel="system")

    def acting_for(self, professional: str) -> Actor:
        """The same actor, recording the professional it acts for (NEN 7513: the user behind a
        system's request)."""
        return replace(self, on_behalf_of=f"professional:{professional}")

    @classmethod
    def operator(cls, name: str = "operator") -> Actor:
        """An operator at the command line."""
        return cls(actor=f"cli:{name}", channel="cli")


def truncate_address(address: str | None) -> str | None:
    """A source address cut to its network (IPv4 /24, IPv6 /48): enough for an auditor to see
    where requests came from, not enough to single out one device."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass(frozen=True)
class Subject:
    """A matching key an event concerns: category, stored value and its epochs."""

    category: str
    value: bytes
    oprf_epoch: int
    broker_epoch: int


@dataclass(frozen=True)
class RecordedEvent:
    """The identity of an event once appended: database id, public event id, sequence number."""

    id: int
    event_id: str
    seq: int


def time_ordered_uuid() -> str:
    """A UUID version 7 (RFC 9562 §5.7): milliseconds since the epoch, then 74 random bits.

    Time-ordered ids append to the unique index instead of touching a random page per event.
    """
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    digits = f"{value:032x}"  # what str(uuid.UUID(int=value)) writes, without the object
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


# The clock of each connection a unit of work runs on (broker.core): an event records the
# unit's time, not the wall clock's, whichever service appends it.
_CLOCKS: WeakKeyDictionary[Connection, Callable[[], datetime]] = WeakKeyDictionary()


def bind_clock(connection: Connection, clock: Callable[[], datetime]) -> None:
    """Have events appended on ``connection`` take their time from ``clock``."""
    _CLOCKS[connection] = clock


def _clock_of(session: Session | Connection, connection: Connection) -> Callable[[], datetime]:
    if isinstance(session, Session) and "clock" in session.info:
        clock: Callable[[], datetime] = session.info["clock"]
        return clock
    return _CLOCKS.get(connection, utcnow)


def now_of(session: Session | Connection) -> datetime:
    """Now, by the clock the unit of work of ``session`` runs on (the wall clock outside one):
    what a change's other rows are stamped with, so they agree with its audit event."""
    connection = session.connection() if isinstance(session, Session) else session
    return _clock_of(session, connection)()


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
    statute: str | None = None,
    consent_reference: str | None = None,
    justification: str | None = None,
    policy_version: str | None = None,
    rule_id: str | None = None,
    obligations: Iterable[str] = (),
    vital_interest: bool = False,
    details: Mapping[str, object] | None = None,
    subjects: Iterable[Subject] = (),
    event_id: str | None = None,
    at: datetime | None = None,
) -> RecordedEvent:
    """Append one audit event (and its subjects) in ``session``'s transaction.

    ``at`` is when it happened; without it, the clock the connection's unit of work runs on
    (:func:`bind_clock`), else the wall clock.

    ``organisation_id`` defaults to the actor's organisation: on whose behalf the act was done.
    The rows are written at once (not at the next flush), so a failure surfaces in the service
    that caused it, and the service's commit writes the change and its event together. The
    event takes the next sequence number and its place in the hash chain
    (:func:`~broker.audit.chain.append`); the ``justification`` and the actor's source address
    are personal details, kept outside the hash and bound to it by a digest.
    """
    try:
        tag = Event(event_type)
    except ValueError:
        raise ValueError(f"unknown audit event type {event_type!r}") from None
    action = ACTIONS[tag]
    event_type = tag.value  # the stored tag, a plain string
    details = dict(details or {})
    if actor.client_request_id is not None:
        details["client_request_id"] = actor.client_request_id
    check_json(details)
    connection = session.connection() if isinstance(session, Session) else session
    subjects = list(subjects)
    personal = Personal(actor.source_address, justification)
    salt = new_salt() if personal else None
    fields: dict[str, object] = {
        "event_id": event_id or time_ordered_uuid(),
        "occurred_at": to_millisecond(at or _clock_of(session, connection)()),
        "event_type": event_type,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "actor": actor.actor,
        "actor_role": actor.role,
        "on_behalf_of": actor.on_behalf_of,
        "organisation_id": (
            organisation_id if organisation_id is not None else actor.organisation_id
        ),
        "channel": actor.channel,
        "request_id": actor.request_id,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "statute": statute,
        "consent_reference": consent_reference,
        "policy_version": policy_version,
        "rule_id": rule_id,
        "obligations": sorted(obligations),
        "vital_interest": vital_interest,
        "subject_categories": sorted(s.category for s in subjects),
        "personal_digest": personal.digest(salt) if salt else None,
        "details": details,
        "source_address": personal.source_address,
        "justification": personal.justification,
        "personal_salt": salt,
    }
    subject_rows = [{"category": s.category, "value": s.value, "oprf_epoch": s.oprf_epoch,
                     "broker_epoch": s.broker_epoch} for s in subjects]
    with AUDIT_APPEND.time():
        link = append(connection, fields, subject_rows)
    return RecordedEvent(link.id, str(fields["event_id"]), link.seq)
