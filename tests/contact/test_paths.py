"""Every other path: direct contact, denied, expired, withdrawn, revoked, consent withdrawn,
and links opened by someone else. All refused where they should be, and all logged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.audit.services import Actor
from broker.contact.consents import ConsentService
from broker.contact.links import LinkService
from broker.contact.services import ContactService, RequestView
from broker.errors import BrokerError, Conflict, Forbidden, NotFound, ValidationError
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.contact.conftest import VT_STATUTE, Story
from tests.uow import committed


def _ask(story: Story) -> RequestView:
    consent_id = story.consent()
    result = story.teacher_looks_up(consent_id)
    return committed(story.core, ContactService).request(
        story.school.actor, professional=story.school.username, lookup_id=result.lookup_id,
        match_id=result.matches[0].match_id, purpose="care_coordination", basis="consent",
        evidence=Evidence(consent_reference=consent_id))


def _types(story: Story, since: int) -> list[str]:
    return [e.event_type for e in story.events(since)]


def test_veilig_thuis_gets_contact_directly(story: Story) -> None:
    result = committed(story.core, LookupService).lookup(
        story.vt.actor, pseudonyms=story.mother, purpose="safety_assessment",
        basis="legal_task", evidence=VT_STATUTE)
    (match,) = result.matches
    assert (match.organisation, match.contact) == ("Basisschool De Linde", "direct")
    view = committed(story.core, ContactService).request(
        story.vt.actor, professional=story.vt.username, lookup_id=result.lookup_id,
        match_id=match.match_id, purpose="safety_assessment", basis="legal_task",
        evidence=VT_STATUTE)
    assert (view.status, view.mode, view.link_tokens) == ("approved", "direct", [])
    (token,) = committed(story.core, ContactService).get(story.vt.actor, view.id).link_tokens
    card = committed(story.core, LinkService).open_by_token(story.vt.actor, token)
    assert (card.name, card.email, card.organisation) == (
        "Contact Basisschool De Linde", "basisschool@example.org", "Basisschool De Linde")


def test_a_denied_request_issues_no_link(story: Story) -> None:
    asked = _ask(story)
    start = story.last_seq()
    denied = committed(story.core, ContactService).decide(story.vt.actor, asked.id,
                                               professional=story.vt.username, approve=False)
    assert (denied.status, denied.link_tokens) == ("denied", [])
    assert committed(story.core, ContactService).get(story.school.actor, asked.id).link_tokens == []
    assert _types(story, start) == ["contact:denied", "contact:request_viewed"]
    with pytest.raises(Conflict):
        committed(story.core, ContactService).decide(story.vt.actor, asked.id,
                                          professional=story.vt.username, approve=True)


def test_an_unanswered_request_expires(story: Story, clock: FakeClock) -> None:
    asked = _ask(story)
    contact = committed(story.core, ContactService)
    assert contact.expire(Actor.system("expire")) == 0
    clock.now += timedelta(days=15)
    assert contact.expire(Actor.system("expire")) == 1
    assert contact.get(story.school.actor, asked.id).status == "expired"
    with pytest.raises(Conflict):
        contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)


def test_a_withdrawn_request_cannot_be_approved(story: Story) -> None:
    asked = _ask(story)
    contact = committed(story.core, ContactService)
    with pytest.raises(NotFound):  # only the requester's organisation withdraws
        contact.withdraw(story.vt.actor, asked.id, professional=story.vt.username)
    assert contact.withdraw(story.school.actor, asked.id,
                            professional=story.school.username).status == "withdrawn"
    with pytest.raises(Conflict):
        contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)


def _approved(story: Story) -> tuple[str, str]:
    """An approved request; the tokens of Veilig Thuis's and the school's links."""
    asked = _ask(story)
    contact = committed(story.core, ContactService)
    contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)
    vt_token = contact.get(story.vt.actor, asked.id).link_tokens[0]
    school_token = contact.get(story.school.actor, asked.id).link_tokens[0]
    return vt_token, school_token


def test_either_side_can_revoke_a_link(story: Story) -> None:
    vt_token, school_token = _approved(story)
    links = committed(story.core, LinkService)
    links.revoke(story.vt.actor, token=school_token)  # the side it shows revokes it
    with pytest.raises(BrokerError):
        links.open_by_token(story.school.actor, school_token)
    links.revoke(story.vt.actor, token=vt_token)  # its holder revokes it
    with pytest.raises(Forbidden):
        links.open_by_token(story.vt.actor, vt_token)


def test_a_link_opened_by_anyone_else_is_refused_and_logged(
        story: Story, registry: RegistryService) -> None:
    vt_token, school_token = _approved(story)
    links = committed(story.core, LinkService)
    start = story.last_seq()
    with pytest.raises(Forbidden):  # another organisation with a stolen token
        links.open_by_token(story.school.actor, vt_token)
    with pytest.raises(NotFound):  # a guessed token
        links.open_by_token(story.school.actor, "A" * 43)
    colleague = registry.add_professional(
        Actor.operator("test"), organisation="veilig-thuis", username="veilig-thuis-2",
        name="Collega", role="gedragswetenschapper", password="correct horse")
    with story.core.session() as session:
        from sqlalchemy import select  # noqa: PLC0415

        from broker.contact.models import ContactLink  # noqa: PLC0415
        from broker.registry.models import Professional  # noqa: PLC0415

        link_id = session.scalar(select(ContactLink.public_id).where(
            ContactLink.issued_to_org_id == story.vt.actor.organisation_id))
        colleague_id = session.scalar(select(Professional.id).filter_by(
            username=colleague.username))
    assert link_id is not None and colleague_id is not None
    with pytest.raises(Forbidden):  # another professional of the right organisation (web)
        links.open(story.vt.actor, link_id, colleague_id)
    refused = [(e.event_type, e.reason) for e in story.events(start)]
    assert refused == [("contact:link_refused", "another_organisation"),
                       ("contact:link_refused", "unknown_token"),
                       ("professional:created", None),
                       ("contact:link_refused", "another_professional")]
    assert all(vt_token not in str(e.details) and school_token not in str(e.details)
               for e in story.events())


def test_withdrawn_consent_revokes_links_and_refuses_new_requests(story: Story) -> None:
    consent_id = story.consent()
    result = story.teacher_looks_up(consent_id)
    contact = committed(story.core, ContactService)
    asked = contact.request(
        story.school.actor, professional=story.school.username, lookup_id=result.lookup_id,
        match_id=result.matches[0].match_id, purpose="care_coordination", basis="consent",
        evidence=Evidence(consent_reference=consent_id))
    contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)
    vt_token = contact.get(story.vt.actor, asked.id).link_tokens[0]
    revoked = committed(story.core, ConsentService).withdraw(story.school.actor, consent_id,
                                                  professional=story.school.username)
    assert revoked == 2
    with pytest.raises(Forbidden):
        committed(story.core, LinkService).open_by_token(story.vt.actor, vt_token)
    start = story.last_seq()
    with pytest.raises(ValidationError, match="withdrawn"):
        contact.request(
            story.school.actor, professional=story.school.username,
            lookup_id=result.lookup_id, match_id=result.matches[0].match_id,
            purpose="care_coordination", basis="consent",
            evidence=Evidence(consent_reference=consent_id))
    assert [(e.event_type, e.outcome) for e in story.events(start)] == [
        ("contact:requested", "refused")]


def test_a_request_on_someone_elses_lookup_or_a_made_up_match_is_refused(story: Story) -> None:
    consent_id = story.consent()
    result = story.teacher_looks_up(consent_id)
    contact = committed(story.core, ContactService)
    for actor, username, match_id in (
            (story.vt.actor, story.vt.username, result.matches[0].match_id),
            (story.school.actor, story.school.username, "made-up-match-id")):
        with pytest.raises(NotFound):
            contact.request(actor, professional=username, lookup_id=result.lookup_id,
                            match_id=match_id, purpose="care_coordination", basis="consent",
                            evidence=Evidence(consent_reference=consent_id))


def test_a_basis_without_its_evidence_is_refused_and_logged(story: Story) -> None:
    result = story.teacher_looks_up(story.consent())
    start = story.last_seq()
    with pytest.raises(ValidationError):
        committed(story.core, ContactService).request(
            story.school.actor, professional=story.school.username,
            lookup_id=result.lookup_id, match_id=result.matches[0].match_id,
            purpose="care_coordination", basis="consent", evidence=Evidence())
    assert [(e.event_type, e.outcome) for e in story.events(start)] == [
        ("contact:requested", "refused")]


def test_withdrawn_consent_closes_pending_requests(story: Story) -> None:
    asked = _ask(story)
    with story.core.session() as session:
        from sqlalchemy import select  # noqa: PLC0415

        from broker.contact.models import ContactRequest  # noqa: PLC0415
        from broker.registry.models import Consent  # noqa: PLC0415

        consent_id = session.scalar(select(Consent.public_id).join(
            ContactRequest, ContactRequest.consent_id == Consent.id)
            .where(ContactRequest.public_id == asked.id))
    assert consent_id is not None
    committed(story.core, ConsentService).withdraw(story.school.actor, consent_id,
                                        professional=story.school.username)
    with pytest.raises(Conflict, match="withdrawn"):
        committed(story.core, ContactService).decide(story.vt.actor, asked.id,
                                          professional=story.vt.username, approve=True)


def test_a_request_past_its_time_cannot_be_approved(story: Story, clock: FakeClock) -> None:
    asked = _ask(story)
    clock.now += timedelta(days=15)  # no `broker contact expire` has run
    contact = committed(story.core, ContactService)
    with pytest.raises(Conflict, match="expired"):
        contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)
    assert contact.get(story.school.actor, asked.id).status == "expired"
    assert story.events()[-2].event_type == "contact:expired"


def test_a_token_is_handed_over_once(story: Story) -> None:
    asked = _ask(story)
    contact = committed(story.core, ContactService)
    contact.decide(story.vt.actor, asked.id, professional=story.vt.username, approve=True)
    first = contact.get(story.school.actor, asked.id).link_tokens
    second = contact.get(story.school.actor, asked.id).link_tokens
    assert len(first) == 1 and second == []


def test_someone_elses_request_is_refused_and_logged(story: Story) -> None:
    asked = _ask(story)
    start = story.last_seq()
    with pytest.raises(NotFound):
        committed(story.core, ContactService).decide(story.school.actor, asked.id,
                                          professional=story.school.username, approve=True)
    assert [(e.event_type, e.outcome) for e in story.events(start)] == [
        ("contact:request_viewed", "refused")]


def test_a_consent_record_is_shown_to_its_own_organisation_only(story: Story) -> None:
    consent_id = story.consent()
    consents = committed(story.core, ConsentService)
    info = consents.get(story.school.actor, consent_id)
    assert (info.given_by, info.purposes, info.recorded_by, info.withdrawn) == (
        "parent", ["care_coordination"], story.school.username, False)
    start = story.last_seq()
    with pytest.raises(NotFound):
        consents.get(story.vt.actor, consent_id)
    with pytest.raises(NotFound):
        consents.withdraw(story.vt.actor, consent_id, professional=story.vt.username)
    assert [(e.event_type, e.outcome) for e in story.events(start)] == [
        ("consent:viewed", "refused"), ("consent:withdrawn", "refused")]
