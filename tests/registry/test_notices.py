"""The registry hands its notices to the core's (broker.interfaces.Notices), which
broker.notifications writes in the registry's own transaction: a notice commits with the change
and its audit event, or not at all. A core built without notices changes nothing that owes one,
and no door starts on it (default deny)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from broker_primitives.blinding import Pseudonym
from flask import Flask
from sqlalchemy import func, select

from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.cli.support import Context
from broker.config import Settings
from broker.core import Core
from broker.door import core_of
from broker.interfaces import NotWired
from broker.notifications.models import InboxMessage
from broker.notifications.notices import InboxNotices
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import Involvement
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.factories import ADDRESS, MOTHER_BSN, Member, household, register
from tests.registry.world import add_member, inboxes, new_messages
from tests.uow import committed


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship (a veilig thuis registration is told to the school's contact)."""
    return SHIPPED_POLICY


def _count(core: Core, what: Any) -> int:
    with core.session() as session:
        return int(session.scalar(select(func.count()).select_from(what)) or 0)


def _registered_events(core: Core) -> int:
    with core.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event_type == "involvement:registered")) or 0)


def _register_in(registry: RegistryService, member: Member, keys: list[Pseudonym]) -> None:
    registry.register_involvement(member.actor, organisation=member.org,
                                  professional=member.username, pseudonyms=keys,
                                  purpose="protection")


def test_a_registration_rolled_back_after_it_notified_leaves_no_message(
        core: Core, registry: RegistryService) -> None:
    school, vt = add_member(registry, "school", "school"), add_member(registry, "vt",
                                                                      "veilig_thuis")
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    school_case = register(registry, school, keys)
    before, registered = inboxes(core), _registered_events(core)

    with pytest.raises(RuntimeError, match="answer"), core.unit_of_work() as uow:
        _register_in(RegistryService(uow), vt, keys)
        told = uow.session.scalars(select(InboxMessage.reference).where(
            InboxMessage.kind == "new_match")).all()
        assert list(told) == [school_case]  # written in the registration's own transaction,
        assert inboxes(core) == before  # and not committed apart from it
        raise RuntimeError("the answer could not be sent")

    assert inboxes(core) == before
    assert _registered_events(core) == registered
    # The same registration, committed, tells the school: the rollback above undid a notice.
    register(registry, vt, keys, purpose="protection")
    assert new_messages(before, inboxes(core)) == [("school-1", "new_match", school_case)]


def test_a_core_without_notices_registers_and_looks_up_nothing(
        core: Core, registry: RegistryService, settings: Settings, clock: FakeClock) -> None:
    school, vt = add_member(registry, "school", "school"), add_member(registry, "vt",
                                                                      "veilig_thuis")
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    register(registry, school, keys)
    involvements, events = _count(core, Involvement), _count(core, AuditEvent)
    unwired = Core(settings, clock=clock)
    try:
        with pytest.raises(NotWired):  # even where no one would be told: default deny
            _register_in(committed(unwired, RegistryService), vt, keys)
        with pytest.raises(NotWired):
            committed(unwired, LookupService).lookup(
                vt.actor, pseudonyms=keys, purpose="safety_assessment", basis="legal_task",
                evidence=Evidence(statute="wmo2015_5_2_6"))
        with pytest.raises(NotWired):
            create_app(core=unwired)  # no door starts on it
    finally:
        unwired.dispose()
    assert (_count(core, Involvement), _count(core, AuditEvent)) == (involvements, events)


@pytest.mark.usefixtures("core")  # its keys and schema
def test_the_doors_build_their_cores_with_the_inbox(settings: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app: Flask = create_app(settings)
    try:
        assert isinstance(core_of(app).notices, InboxNotices)
    finally:
        core_of(app).dispose()
    monkeypatch.setenv("BROKER_HOME", str(settings.home))
    monkeypatch.setenv("BROKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BROKER_POLICY_DIR", str(settings.policy_dir))
    command = Context("en")
    try:
        assert isinstance(command.core.notices, InboxNotices)
    finally:
        command.core.dispose()
