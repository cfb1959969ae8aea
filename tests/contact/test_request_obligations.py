"""The contact-stage obligations are carried out in the request's transaction, and each event
lists exactly what was carried out at its step: ``notify_holder`` (the holder is told),
``flag_for_review`` (the auditors are told at once), never ``require_second_approver`` at
request time."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.audit.services import Actor
from broker.contact.services import ContactService
from broker.core import Core
from broker.notifications.models import InboxMessage
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import Professional
from broker.registry.services import RegistryService
from tests.contact.conftest import VT_STATUTE, Story
from tests.contact.glass import Glass, make_glass
from tests.uow import committed


@pytest.fixture
def glass(core: Core, registry: RegistryService) -> Glass:
    """The vital-interest case."""
    return make_glass(core, registry)


def _inbox(core: Core, username: str) -> list[tuple[str, str]]:
    with core.session() as session:
        return [(m.kind, m.reference) for m in session.scalars(
            select(InboxMessage).join(Professional, Professional.id == InboxMessage.professional_id)
            .where(Professional.username == username).order_by(InboxMessage.id))]


def test_notify_holder_in_approval_mode_tells_the_holder_of_the_request(glass: Glass) -> None:
    asked = glass.ask()
    assert _inbox(glass.core, glass.ggz_1.username)[-1] == ("contact_request", asked.id)
    (event,) = glass.events("contact:requested")
    # The decision stage's obligation is not carried out at request time: not listed.
    assert event.obligations == ["flag_for_review", "notify_holder"]


def test_flag_for_review_on_a_contact_request_tells_the_auditors_at_once(
        glass: Glass, registry: RegistryService) -> None:
    registry.add_professional(Actor.operator("test"), organisation="wijkteam",
                              username="auditor-1", name="A", role="auditor",
                              access_role="auditor")
    glass.ask()
    (lookup,) = glass.events("lookup:performed")
    (event,) = glass.events("contact:requested")
    assert event.details["flag_for_review"] is True
    # The vital-interest look-up before it was flagged by the look-up stage; the request is
    # flagged on its own, at once.
    assert sorted(_inbox(glass.core, "auditor-1")) == sorted(
        [("review_flag", event.event_id), ("review_flag", lookup.event_id)])


def test_notify_holder_in_direct_mode_is_the_link_message(story: Story) -> None:
    result = committed(story.core, LookupService).lookup(
        story.vt.actor, pseudonyms=story.mother, purpose="safety_assessment",
        basis="legal_task", evidence=VT_STATUTE)
    start = story.last_seq()
    view = committed(story.core, ContactService).request(
        story.vt.actor, professional=story.vt.username, lookup_id=result.lookup_id,
        match_id=result.matches[0].match_id, purpose="safety_assessment", basis="legal_task",
        evidence=VT_STATUTE)
    assert view.status == "approved"
    events = story.events(start)
    assert [e.event_type for e in events] == ["contact:requested", "contact:approved",
                                              "contact:link_issued", "contact:link_issued"]
    assert events[0].obligations == ["notify_holder"]
    assert "flag_for_review" not in events[0].details
    # The school (the holder) is told once: the message about its own link.
    school_link = next(e.details["link_id"] for e in events[2:]
                       if e.details["link_id"] != _own_link(story, view.id))
    told = [m for m in _inbox(story.core, story.school.username)
            if m[0] not in ("new_match", "lookup_notice")]  # those came before the request
    assert told == [("link", school_link)]


def _own_link(story: Story, request_id: str) -> str:
    (link_id,) = committed(story.core, ContactService).get(story.vt.actor, request_id,
                                                deliver=False).link_ids
    return link_id


def test_a_rule_without_notify_holder_does_not_list_it(story: Story,
                                                      registry: RegistryService) -> None:
    # The police learn only the type and ask for approval; their rule has flag_for_review only.
    police = registry.create_organisation(Actor.operator("test"), identifier="politie",
                                          name="Politie", org_type="politie")
    registry.add_professional(Actor.operator("test"), organisation="politie",
                              username="politie-1", name="Agent", role="wijkagent")
    actor = Actor(actor="professional:politie-1", channel="web", organisation_id=police.id)
    wijkteam = registry.create_organisation(Actor.operator("test"), identifier="wijkteam",
                                            name="Wijkteam", org_type="wijkteam")
    registry.add_professional(Actor.operator("test"), organisation="wijkteam",
                              username="wijkteam-1", name="W", role="r")
    registry.register_involvement(
        Actor(actor="professional:wijkteam-1", channel="web", organisation_id=wijkteam.id),
        organisation="wijkteam", professional="wijkteam-1", pseudonyms=story.mother,
        purpose="safety_assessment")
    statute = Evidence(statute="politiewet_3")
    result = committed(story.core, LookupService).lookup(actor, pseudonyms=story.mother,
                                              purpose="safety_assessment", basis="legal_task",
                                              evidence=statute)
    (match,) = [m for m in result.matches if m.rule_id == "police-finds-chain"]
    start = story.last_seq()
    asked = committed(story.core, ContactService).request(
        actor, professional="politie-1", lookup_id=result.lookup_id, match_id=match.match_id,
        purpose="safety_assessment", basis="legal_task", evidence=statute)
    (event,) = story.events(start)
    assert event.obligations == ["flag_for_review"]
    # The holder still hears of the request (it must answer it), but no obligation claims it.
    assert _inbox(story.core, "wijkteam-1")[-1] == ("contact_request", asked.id)


def test_the_policy_names_the_contact_executors_by_their_path() -> None:
    import importlib  # noqa: PLC0415

    from broker.contact import obligations  # noqa: PLC0415
    from broker.policy.obligations import OBLIGATIONS, applies_at  # noqa: PLC0415

    named = {path for o in OBLIGATIONS.values() for stage, path in o.executors.items()
             if stage.startswith("contact_")}
    assert named == {f"broker.contact.obligations:{name}" for name in (
        "notify_holder_of_request", "flag_request_for_review", "require_second_approver")}
    for path in named:
        module, name = path.split(":")
        assert importlib.import_module(module) is obligations and callable(getattr(obligations,
                                                                                   name))
    assert applies_at("require_second_approver", "contact_decision")
    assert not applies_at("require_second_approver", "contact_request")
