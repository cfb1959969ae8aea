"""Retention of the audit log: the events stay (NEN 7513: at least five years, and the database
refuses to delete them); their personal details — truncated source address, written
justification, and the salt of their digest — are erased after the policy's
``audit_details_months``. Erasing leaves every hash and proof valid, since the details were never
inside the hashed content; the digest that bound them stays and can no longer be brute-forced,
because the salt goes with them.

This is the only path that erases them. In the same transaction it appends an
``audit:details_erased`` event that names what it erased: how many events, the first and last
sequence number, and the cut-off time (:mod:`broker.audit.erasures`). ``broker audit verify``
reports details that are gone without such an event after them.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import func, select, update

from broker.audit.chain import timestamp, to_millisecond
from broker.audit.erasures import ERASED
from broker.audit.models import AuditEvent
from broker.audit.services import Actor, record_event
from broker.core import UnitOfWork
from broker.registry.periods import add_months


def erase_personal_details(uow: UnitOfWork, actor: Actor) -> int:
    """Erase the personal details of events older than the policy allows; returns how many."""
    core = uow.core
    months = core.policy().retention.audit_details_months
    cutoff = to_millisecond(datetime.combine(add_months(core.today(), -months), time(),
                                             tzinfo=core.now().tzinfo))
    due = (AuditEvent.occurred_at < cutoff, AuditEvent.personal_salt.is_not(None))
    connection = uow.connection
    first, last = connection.execute(
        select(func.min(AuditEvent.seq), func.max(AuditEvent.seq)).where(*due)).one()
    if first is None:
        return 0
    erased = connection.execute(
        update(AuditEvent).where(*due, AuditEvent.seq.between(first, last))
        .values(source_address=None, justification=None, personal_salt=None)
    ).rowcount
    record_event(connection, actor, ERASED, details={
        "events": erased, "first_seq": first, "last_seq": last,
        "occurred_before": timestamp(cutoff)})
    return erased
