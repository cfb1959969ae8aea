"""Contact requests on the ``consent`` basis name a consent record about the same household;
decision messages are checked free text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from broker_primitives.blinding import Pseudonym

from broker.contact.consents import ConsentService
from broker.contact.services import ContactService, RequestView
from broker.errors import ValidationError
from broker.registry.lookups import Evidence, LookupService
from tests.conftest import FakeClock
from tests.contact.conftest import Story
from tests.factories import household
from tests.uow import committed

STATUTE = Evidence(statute="jeugdwet_7_4_0")


def _school_consent(story: Story, keys: list[Pseudonym], **scope: object) -> str:
    today = story.core.today()
    values: dict[str, object] = {"given_by": "parent", "given_on": today,
                                 "valid_until": today + timedelta(days=90),
                                 "purposes": ["care_coordination"], **scope}
    return committed(story.core, ConsentService).record(
        story.school.actor, professional=story.school.username,
        pseudonyms=keys, **values).id  # type: ignore[arg-type]


def _ask_on_consent(story: Story, consent_id: str) -> RequestView:
    """The teacher looks the child up on the legal task, then asks for contact on consent."""
    result = committed(story.core, LookupService).lookup(
        story.school.actor, pseudonyms=story.child, purpose="care_coordination",
        basis="legal_task", evidence=STATUTE)
    return committed(story.core, ContactService).request(
        story.school.actor, professional=story.school.username, lookup_id=result.lookup_id,
        match_id=result.matches[0].match_id, purpose="care_coordination", basis="consent",
        evidence=Evidence(consent_reference=consent_id))


def test_a_consent_of_another_household_is_refused_for_a_contact_request(story: Story) -> None:
    # The attack: one consent record was accepted for a request on an unrelated household.
    elsewhere = _school_consent(story, household(story.core, bsn=("999999990",)))
    start = story.last_seq()
    with pytest.raises(ValidationError, match="household"):
        _ask_on_consent(story, elsewhere)
    refused = [e for e in story.events(start) if e.event_type == "contact:requested"]
    assert [(e.outcome, e.reason, e.consent_reference) for e in refused] == [
        ("refused", "consent-other-household", elsewhere)]
    # The same household (the child's BSN only) is accepted.
    own = _school_consent(story, household(story.core, bsn=("123456782",)))
    assert _ask_on_consent(story, own).status == "pending"


def test_a_consent_whose_holder_types_exclude_the_holder_is_refused(story: Story) -> None:
    consent_id = _school_consent(story, story.child, holder_types=["ggz"])
    start = story.last_seq()
    with pytest.raises(ValidationError, match="organisation"):
        _ask_on_consent(story, consent_id)
    assert [e.reason for e in story.events(start) if e.outcome == "refused"] == [
        "consent-holder-type"]


def test_another_organisations_consent_is_refused_for_a_contact_request(story: Story) -> None:
    today = story.core.today()
    theirs = committed(story.core, ConsentService).record(
        story.vt.actor, professional=story.vt.username, pseudonyms=story.child,
        given_by="person", given_on=today, valid_until=today + timedelta(days=9),
        purposes=["care_coordination"]).id
    with pytest.raises(ValidationError, match="your organisation"):
        _ask_on_consent(story, theirs)


def test_approval_checks_the_consent_again(story: Story, clock: FakeClock) -> None:
    consent_id = _school_consent(story, story.child, valid_until=story.core.today())
    asked = _ask_on_consent(story, consent_id)
    clock.now += timedelta(days=1)
    with pytest.raises(ValidationError, match="no longer"):
        committed(story.core, ContactService).decide(story.vt.actor, asked.id,
                                          professional=story.vt.username, approve=True)
    assert committed(story.core, ContactService).get(story.vt.actor, asked.id).status == "pending"


@pytest.mark.parametrize(("message", "words"), [
    ("Bel gerust, het gaat om BSN 123456782.", "BSN"),
    ("Kom langs op 1011 AB.", "postcode"),
    ("Het kind is geboren op 3-2-2015.", "date"),
    ("x" * 2001, "longer than 2000"),
    ("nul\x00teken", "control character"),
])
def test_a_decision_message_is_checked_free_text(story: Story, message: str,
                                                 words: str) -> None:
    asked = _ask_on_consent(story, _school_consent(story, story.child))
    start = story.last_seq()
    with pytest.raises(ValidationError, match=words) as caught:
        committed(story.core, ContactService).decide(story.vt.actor, asked.id,
                                          professional=story.vt.username, approve=True,
                                          message=message)
    assert "123456782" not in str(caught.value)
    assert story.events(start) == []  # nothing written, nothing decided
    assert committed(story.core, ContactService).get(story.vt.actor, asked.id).status == "pending"
