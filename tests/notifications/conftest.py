"""Fixtures of the notification tests: organisations on one household, a webhook receiver and
an SMTP sink on real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from broker_primitives.blinding import Pseudonym
from sqlalchemy import select, update

from broker.audit.models import AuditEvent
from broker.core import Core
from broker.notifications.models import InboxMessage, OutboxMessage
from broker.notifications.services import NotificationSettings
from broker.registry.models import Organisation
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, Member, household, make_member
from tests.notifications.helpers import Receiver, SmtpSink

#: Short waits and few attempts, no jitter: schedules can be asserted exactly.
FAST = NotificationSettings(backoff=10.0, backoff_max=25.0, jitter=0.0, max_attempts=4,
                            timeout=2.0, base_url="https://broker.example.nl")


@dataclass
class World:
    """The school, Veilig Thuis and the neighbourhood team, and one household's pseudonyms."""

    core: Core
    registry: RegistryService
    school: Member
    vt: Member
    wijkteam: Member
    mother: list[Pseudonym]
    child: list[Pseudonym]

    def webhook(self, member: Member, url: str | None) -> None:
        """Set (or clear) the organisation's webhook URL."""
        with self.core.transaction() as connection:
            connection.execute(update(Organisation).where(Organisation.identifier == member.org)
                               .values(webhook_url=url))

    def outbox(self) -> list[OutboxMessage]:
        """Every outbox row, oldest first (detached)."""
        with self.core.session() as session:
            rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
            session.expunge_all()
        return rows

    def inbox(self) -> list[InboxMessage]:
        """Every inbox message, oldest first (detached)."""
        with self.core.session() as session:
            rows = list(session.scalars(select(InboxMessage).order_by(InboxMessage.id)))
            session.expunge_all()
        return rows

    def events(self, prefix: str) -> list[AuditEvent]:
        """Audit events whose type starts with ``prefix``, in order (detached)."""
        with self.core.session() as session:
            rows = list(session.scalars(select(AuditEvent).where(
                AuditEvent.event_type.startswith(prefix)).order_by(AuditEvent.seq)))
            session.expunge_all()
        return rows


@pytest.fixture
def world(core: Core, registry: RegistryService) -> World:
    """Three organisations, one professional each (with e-mail addresses), nobody registered."""
    return World(core, registry, make_member(registry, "school"), make_member(registry, "vt"),
                 make_member(registry, "wijkteam"),
                 household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
                 household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint that answers 200."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A local SMTP relay."""
    server = SmtpSink()
    yield server
    server.close()
