"""A school and Veilig Thuis on one household, under the shipped policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.contact.consents import ConsentService
from broker.core import Core
from broker.registry.lookups import Evidence, LookupService
from broker.registry.results import LookupResult
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import (
    ADDRESS,
    CHILD_BSN,
    MOTHER_BSN,
    Member,
    household,
    make_member,
    register,
)
from tests.uow import committed

VT_STATUTE = Evidence(statute="wmo2015_4_1_1")


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: the story is the chain's own."""
    return SHIPPED_POLICY


@dataclass
class Story:
    """The people and the household of the contact tests."""

    core: Core
    school: Member
    vt: Member
    child: list[Pseudonym]
    mother: list[Pseudonym]

    def events(self, since: int = 0) -> list[AuditEvent]:
        """Audit events after sequence number ``since``."""
        with self.core.session() as session:
            rows = list(session.scalars(select(AuditEvent).where(AuditEvent.seq > since)
                                        .order_by(AuditEvent.seq)))
            session.expunge_all()
        return rows

    def last_seq(self) -> int:
        """The log's current size."""
        events = self.events()
        return events[-1].seq if events else 0

    def consent(self) -> str:
        """A parent's consent to the school about the child's household, for care
        coordination with anyone."""
        today = self.core.today()
        return committed(self.core, ConsentService).record(
            self.school.actor, professional=self.school.username, pseudonyms=self.child,
            given_by="parent",
            given_on=today, valid_until=today + timedelta(days=90),
            purposes=["care_coordination"]).id

    def teacher_looks_up(self, consent_id: str) -> LookupResult:
        """The teacher's look-up on the child, under the parent's consent."""
        return committed(self.core, LookupService).lookup(
            self.school.actor, pseudonyms=self.child, purpose="care_coordination",
            basis="consent", evidence=Evidence(consent_reference=consent_id))


@pytest.fixture
def story(core: Core, registry: RegistryService) -> Story:
    """A teacher registered on a child; Veilig Thuis on the mother at the same address."""
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    child = household(core, bsn=(CHILD_BSN,), address=(ADDRESS,))
    mother = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    register(registry, school, child)
    register(registry, vt, mother, purpose="safety_assessment")
    return Story(core, school, vt, child, mother)


def today(core: Core) -> date:
    """The core's today."""
    return core.today()
