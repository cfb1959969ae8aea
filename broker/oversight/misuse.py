"""The auditors' report of misuse flags: what reached them, read back from the flags' audit events
(``broker audit report fishing|volumes``), so the report shows exactly what the auditors received.

The counting and flagging, in each look-up's transaction, is :mod:`broker.registry.misuse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from broker.audit.chain import timestamp
from broker.audit.events import Event
from broker.audit.models import AuditEvent
from broker.audit.services import Actor, record_event
from broker.core import UnitOfWork
from broker.errors import ValidationError
from broker.oversight.search import check_period, period
from broker.registry.misuse import KINDS
from broker.registry.models import Organisation

FISHING_KINDS = ("fishing",)
VOLUME_KINDS = ("volume_professional", "volume_organisation")


@dataclass(frozen=True)
class MisuseFlag:
    """A flag as the auditors received it: when, what, whose look-ups, how many within which
    window, and the look-up that reached the threshold."""

    flagged_at: datetime
    kind: str
    organisation: str | None
    actor: str
    lookups: int
    threshold: int
    window_minutes: int
    event_id: str
    lookup_event: str


def _flag(at: datetime, event_id: str, details: dict[str, Any], code: str | None
          ) -> MisuseFlag:
    return MisuseFlag(at, str(details["kind"]), code, str(details["actor"]),
                      int(details["lookups"]), int(details["threshold"]),
                      int(details["window_minutes"]), event_id, str(details["lookup_event"]))


def misuse_flags(uow: UnitOfWork, actor: Actor, kinds: tuple[str, ...],
                 start: datetime | None = None,
                 end: datetime | None = None) -> list[MisuseFlag]:
    """The flags of ``kinds`` raised in the period (``start`` inclusive, ``end`` exclusive),
    oldest first; audited as ``audit:reported``."""
    unknown = sorted(set(kinds) - set(KINDS.values()))
    if not kinds or unknown:
        raise ValidationError("Choose flag kinds from: %(kinds)s.", kinds=', '.join(KINDS.values()))
    check_period(start, end)
    connection = uow.connection
    found = connection.execute(
        select(AuditEvent.occurred_at, AuditEvent.event_id, AuditEvent.details,
               Organisation.identifier)
        .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.event_type == Event.AUDIT_MISUSE_FLAGGED, *period(start, end))
        .order_by(AuditEvent.seq)).all()
    flags = [_flag(at, event_id, details, code)
             for at, event_id, details, code in found if details["kind"] in kinds]
    record_event(connection, actor, Event.AUDIT_REPORTED, details={
        "report": "misuse_flags", "kinds": sorted(kinds),
        "from": timestamp(start) if start else None, "to": timestamp(end) if end else None,
        "rows": len(flags)})
    return flags
