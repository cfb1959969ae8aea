"""Builders for look-up tests under the shipped policy: organisations of any type, an auditor,
and what changed in the inboxes, the outbox and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.notifications.models import InboxMessage, OutboxMessage
from broker.registry.models import Professional
from broker.registry.services import RegistryService
from tests.factories import Member

OPERATOR = Actor.operator("test")
#: A justification the shipped policy accepts for ``vital_interest`` (at least 100 characters).
JUSTIFICATION = ("Het kind vertelde op school over geweld thuis; de moeder is onbereikbaar en "
                 "er is acuut gevaar, dus afstemming kan niet wachten op toestemming van het "
                 "gezin.")

Inbox = list[tuple[str, str, str]]


def add_member(registry: RegistryService, code: str, org_type: str,
               password: str | None = None) -> Member:
    """An organisation ``code`` of ``org_type`` (named ``code`` in capitals) with one
    professional ``<code>-1`` (who signs in on the web with ``password``, if given)."""
    org = registry.create_organisation(OPERATOR, identifier=code, name=code.upper(),
                                       org_type=org_type)
    person = registry.add_professional(OPERATOR, organisation=code, username=f"{code}-1",
                                       name="P", role="contactpersoon", password=password)
    actor = Actor(actor=f"professional:{person.username}", channel="web",
                  organisation_id=org.id, role=person.role)
    return Member(code, person.username, actor)


def add_auditor(registry: RegistryService) -> str:
    """An auditor (access role ``auditor``) in an organisation of their own; their user name."""
    registry.create_organisation(OPERATOR, identifier="toezicht", name="Toezicht",
                                 org_type="wijkteam")
    registry.add_professional(OPERATOR, organisation="toezicht", username="auditor-1",
                              name="A", role="Auditor", access_role="auditor")
    return "auditor-1"


def inboxes(core: Core) -> Inbox:
    """Every inbox message as (user name, kind, reference), oldest first."""
    with core.session() as session:
        rows = session.execute(
            select(Professional.username, InboxMessage.kind, InboxMessage.reference)
            .join(Professional, Professional.id == InboxMessage.professional_id)
            .order_by(InboxMessage.id)).all()
    return [(str(u), str(k), str(r)) for u, k, r in rows]


def new_messages(before: Inbox, after: Inbox) -> Inbox:
    """The messages in ``after`` that were not yet in ``before`` (inboxes only grow)."""
    assert after[:len(before)] == before
    return after[len(before):]


def webhook_payloads(core: Core) -> list[dict[str, Any]]:
    """The bodies of every queued webhook, oldest first."""
    with core.session() as session:
        return [dict(p) for p in session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.channel == "webhook")
            .order_by(OutboxMessage.id))]


def event(core: Core, event_id: str) -> AuditEvent:
    """The audit event ``event_id``."""
    with core.session() as session:
        found = session.scalar(select(AuditEvent).filter_by(event_id=event_id))
        assert found is not None
        session.expunge(found)
        return found


def last_event(core: Core, event_type: str) -> AuditEvent:
    """The newest audit event of ``event_type``."""
    with core.session() as session:
        found = session.scalar(select(AuditEvent).filter_by(event_type=event_type)
                               .order_by(AuditEvent.seq.desc()).limit(1))
        assert found is not None
        session.expunge(found)
        return found
