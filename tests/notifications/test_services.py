"""Inbox and outbox rows are written in the registration's own transaction, carry nothing that
names anyone, and reach only other organisations' active involvements on the household."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from broker.audit.services import Actor
from broker.core import Core
from broker.errors import ValidationError
from broker.notifications.models import InboxMessage
from broker.notifications.services import (
    About,
    about_registrant,
    inbox,
    mark_read,
    notify,
    notify_auditors,
)
from broker.policy import DecisionRequest
from broker.policy.loader import load_policy
from broker.registry import involvements
from broker.registry.models import Involvement, Organisation, Professional
from broker.registry.rotation import start_or_resume
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import register
from tests.notifications.conftest import World
from tests.notifications.helpers import SmtpSink
from tests.uow import in_uow


def _professional_id(world: World, username: str) -> int:
    with world.core.session() as session:
        found = session.scalar(select(Professional.id).filter_by(username=username))
    assert found is not None
    return found


def test_a_registration_notifies_the_others_in_its_own_transaction(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    school_case = register(world.registry, world.school, world.child)
    wijkteam_case = register(world.registry, world.wijkteam, world.mother, purpose="protection")
    world.webhook(world.school, "https://school.example.nl/hooks/broker")
    seen_inbox, seen_outbox = len(world.inbox()), len(world.outbox())  # the school, told once

    vt_case = register(world.registry, world.vt, world.mother)

    messages = [(m.professional_id, m.kind, m.reference) for m in world.inbox()[seen_inbox:]]
    assert sorted(messages) == sorted([
        (_professional_id(world, world.school.username), "new_match", school_case),
        (_professional_id(world, world.wijkteam.username), "new_match", wijkteam_case)])
    assert all(m.read_at is None for m in world.inbox())
    outbox = world.outbox()[seen_outbox:]
    assert sorted(o.channel for o in outbox) == ["email", "email", "webhook"]
    (webhook,) = [o for o in outbox if o.channel == "webhook"]
    assert set(webhook.payload) == {"id", "event", "reference", "time"}
    assert (webhook.payload["event"], webhook.payload["reference"]) == ("new_match", school_case)
    assert all(set(o.payload) == {"id", "kind"} for o in outbox if o.channel == "email")
    registered = world.events("involvement:registered")[-1]
    assert registered.details["involvement_id"] == vt_case
    assert sorted(registered.details["notified_involvements"]) == sorted(  # type: ignore[arg-type]
        [school_case, wijkteam_case])
    assert not any(vt_case in str(o.payload) for o in world.outbox())


def test_the_first_registration_tells_nobody_and_later_ones_tell_the_earlier(
        world: World) -> None:
    school_case = register(world.registry, world.school, world.child)
    assert world.inbox() == [] and world.outbox() == []
    register(world.registry, world.wijkteam, world.mother)
    assert [(m.kind, m.reference) for m in world.inbox()] == [("new_match", school_case)]
    assert world.outbox() == []  # no SMTP, no webhook URL: the inbox only


def test_a_registration_that_fails_leaves_no_notification(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    register(world.registry, world.school, world.child)
    world.webhook(world.school, "https://school.example.nl/hooks/broker")

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("after the notifications were written")

    # The registration's audit event comes after its notices: fail there.
    monkeypatch.setattr(involvements, "record_event", broken)
    with pytest.raises(RuntimeError):
        register(world.registry, world.vt, world.mother)
    assert world.inbox() == [] and world.outbox() == []
    with world.core.session() as session:
        assert session.scalar(select(Involvement.id).where(
            Involvement.organisation_id == world.vt.actor.organisation_id)) is None


def test_notify_writes_nothing_when_the_callers_transaction_rolls_back(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    world.webhook(world.school, "https://school.example.nl/hooks/broker")
    school_id = _professional_id(world, world.school.username)
    with pytest.raises(RuntimeError), world.core.session() as session:
        notify(session, professional_id=school_id, kind="contact_request", reference="r-1",
               organisation_id=world.school.actor.organisation_id or 0)
        assert len(world.inbox()) == 0  # not visible outside the transaction either
        raise RuntimeError("the caller's change failed")
    assert world.inbox() == [] and world.outbox() == []


def test_notify_checks_its_kind_and_what_a_webhook_may_carry(world: World) -> None:
    school_id = _professional_id(world, world.school.username)
    org_id = world.school.actor.organisation_id or 0
    world.webhook(world.school, "https://school.example.nl/hooks/broker")
    with world.core.session() as session:
        for bad in ({"name": "Jansen"}, {"token": "abc"}, {"Nested": 1}, {"data": {"a": 1}},
                    {"long": "x" * 101}):
            with pytest.raises(ValueError, match="webhook event"):
                notify(session, professional_id=school_id, kind="link", reference="l-1",
                       organisation_id=org_id, webhook_event=bad)
        with pytest.raises(ValueError, match="kind"):
            notify(session, professional_id=school_id, kind="gossip", reference="x",
                   organisation_id=org_id)
        with pytest.raises(ValueError, match="reference"):
            notify(session, professional_id=school_id, kind="link", reference="",
                   organisation_id=org_id)
        notify(session, professional_id=school_id, kind="decision", reference="req-1",
               organisation_id=org_id, webhook_event={"status": "approved", "final": True})
    (webhook,) = world.outbox()
    assert webhook.payload["data"] == {"status": "approved", "final": True}
    assert [m.kind for m in world.inbox()] == ["decision"]


def test_no_email_without_smtp_or_without_an_address(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    assert world.outbox() == []  # no SMTP configured
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    nameless = world.registry.add_professional(
        Actor.operator("test"), organisation=world.wijkteam.org, username="wijkteam-2",
        name="Zonder Mail", role="r")
    world.registry.register_involvement(
        world.wijkteam.actor, organisation=world.wijkteam.org, professional=nameless.username,
        pseudonyms=world.mother, purpose="protection")
    seen_inbox, seen_outbox = len(world.inbox()), len(world.outbox())
    register(world.registry, world.vt, world.child)  # tells the school and wijkteam-2
    told = {m.professional_id for m in world.inbox()[seen_inbox:]}
    assert told == {_professional_id(world, world.school.username), nameless.id}
    assert [(o.channel, o.professional_id) for o in world.outbox()[seen_outbox:]] == [
        ("email", _professional_id(world, world.school.username))]


def test_neither_the_own_organisation_nor_ended_involvements_are_notified(world: World) -> None:
    first = register(world.registry, world.school, world.child)
    register(world.registry, world.school, world.mother)  # the same organisation
    assert world.inbox() == []
    world.registry.end_involvement(world.school.actor, first)
    with world.core.session() as session:
        other = session.scalar(select(Involvement.public_id).where(
            Involvement.public_id != first, Involvement.state == "active"))
    register(world.registry, world.vt, world.child)
    assert [m.reference for m in world.inbox()] == [other]


def test_registrations_during_a_key_rotation_still_notify(world: World) -> None:
    school_case = register(world.registry, world.school, world.child)
    start_or_resume(world.core, Actor.operator("test"), "broker", grace=0)  # nothing re-keyed
    register(world.registry, world.vt, world.mother)  # stored under the new key
    assert [m.reference for m in world.inbox()] == [school_case]


def test_the_inbox_lists_and_marks_read_for_the_own_organisation_only(world: World) -> None:
    register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    register(world.registry, world.wijkteam, world.mother)
    school = world.school
    listed = in_uow(world.core, inbox, school.actor, school.username)
    assert [e.kind for e in listed] == ["new_match", "new_match"]
    assert listed[0].id > listed[1].id  # newest first
    assert in_uow(world.core, mark_read, school.actor, school.username, [listed[1].id]) == 1
    unread = in_uow(world.core, inbox, school.actor, school.username, unread_only=True)
    assert [e.id for e in unread] == [listed[0].id]
    assert in_uow(world.core, mark_read, school.actor, school.username) == 1
    assert in_uow(
            world.core, mark_read, school.actor, school.username) == 0  # nothing left: no event
    events = world.events("inbox:read")
    assert [e.details["messages"] for e in events] == [[listed[1].id], [listed[0].id]]
    assert events[0].on_behalf_of == f"professional:{school.username}"
    assert all(e.read_at is not None for e in in_uow(
            world.core, inbox, school.actor, school.username))
    with pytest.raises(ValidationError):  # another organisation's professional
        in_uow(world.core, inbox, world.vt.actor, school.username)
    with pytest.raises(ValidationError):
        in_uow(world.core, mark_read, world.vt.actor, school.username)


def test_notify_auditors_reaches_every_active_auditor_only(core: Core,
                                                           registry: RegistryService) -> None:
    registry.create_organisation(Actor.operator(), identifier="toezicht", name="Toezicht",
                                 org_type="wijkteam")
    auditor = registry.add_professional(Actor.operator(), organisation="toezicht",
                                        username="auditor-1", name="A", role="Auditor",
                                        access_role="auditor")
    registry.add_professional(Actor.operator(), organisation="toezicht", username="fg-1",
                              name="F", role="FG", access_role="privacy_officer")
    with core.session() as session:
        told = notify_auditors(session, kind="misuse_flag", reference="event-1")
    assert told == [auditor.id]
    with core.session() as session:
        rows = session.execute(select(InboxMessage.professional_id, InboxMessage.kind)).all()
    assert rows == [(auditor.id, "misuse_flag")]
    with pytest.raises(ValueError, match="not a message for auditors"), \
            core.session() as session:
        notify_auditors(session, kind="new_match", reference="x")


def test_a_new_match_says_who_registered_as_far_as_the_policy_allows(world: World) -> None:
    register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    with world.core.session() as session:
        name, org_type = session.execute(select(Organisation.name, Organisation.org_type)
                                         .filter_by(identifier=world.vt.org)).one()
    entries = in_uow(world.core, inbox, world.school.actor, world.school.username)
    (entry,) = [e for e in entries if e.kind == "new_match"]
    assert entry.about == About(name, org_type)  # the test policy reveals the organisation


def test_what_the_receiver_learns_needs_no_evidence_it_never_showed() -> None:
    policy = load_policy(SHIPPED_POLICY)
    # The police learn only the type of a neighbourhood team (their legal-task rule says so) ...
    assert policy.unasked_reveal("politie", "wijkteam", "protection") == "organisation_type"
    # ... and nobody learns of someone only a consent record or a vital-interest justification
    # would reveal: a ggz is named in care coordination only on consent, the police to a
    # neighbourhood team only by breaking the glass.
    assert policy.decide(DecisionRequest("wijkteam", "ggz", "care_coordination", "consent")
                         ).reveal == "organisation"
    assert policy.unasked_reveal("wijkteam", "ggz", "care_coordination") == "nothing"
    assert policy.decide(DecisionRequest("wijkteam", "politie", "safety_assessment",
                                         "vital_interest")).allowed
    assert policy.unasked_reveal("wijkteam", "politie", "safety_assessment") == "nothing"
    assert policy.unasked_reveal("politie", "wijkteam", "no_such_purpose") == "nothing"
    assert about_registrant("organisation_type", "Wijkteam Noord", "wijkteam") == About(
        None, "wijkteam")
    assert about_registrant("organisation", "Wijkteam Noord", "wijkteam") == About(
        "Wijkteam Noord", "wijkteam")
    assert about_registrant("nothing", "Wijkteam Noord", "wijkteam") == About(None, None)


def test_messages_take_their_time_from_the_units_clock_not_the_wall(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """An inbox message, its e-mail and its webhook are stamped with the clock the unit of work
    runs on (the core's), like the audit event of the same change."""
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    world.webhook(world.school, "https://school.example.nl/hooks/broker")
    school_case = register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.child)
    now = world.core.clock()
    assert abs((now - datetime.now(UTC)).days) > 1  # the tests' clock is not the wall's
    (message,) = [m for m in world.inbox() if m.reference == school_case]
    assert message.created_at == now
    assert {o.created_at for o in world.outbox()} == {now}
    assert {o.payload["time"] for o in world.outbox() if o.channel == "webhook"} == {
        now.isoformat()}
