"""Retention of the audit log: the events stay (NEN 7513: at least five years, and the database
refuses to delete them); their personal details — truncated source address, written
justification, and the salt of their digest — are erased after the policy's
``audit_details_months``. Erasing leaves every hash and proof valid, since the details were never
inside the hashed content; the digest that bound them stays and can no longer be brute-forced,
because the salt goes with them."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import update

from broker.audit.chain import timestamp
from broker.audit.models import AuditEvent
from broker.audit.services import Actor, record_event
from broker.registry.periods import add_months

if TYPE_CHECKING:
    from broker.core import Core


def erase_personal_details(core: Core, actor: Actor) -> int:
    """Erase the personal details of events older than the policy allows; returns how many."""
    months = core.policy().retention.audit_details_months
    cutoff = datetime.combine(add_months(core.today(), -months), time(),
                              tzinfo=core.now().tzinfo)
    with core.transaction() as connection:
        erased = connection.execute(
            update(AuditEvent)
            .where(AuditEvent.occurred_at < cutoff, AuditEvent.personal_salt.is_not(None))
            .values(source_address=None, justification=None, personal_salt=None)
        ).rowcount
        if erased:
            record_event(connection, actor, "audit:details_erased",
                         details={"events": erased, "occurred_before": timestamp(cutoff)})
    return erased
