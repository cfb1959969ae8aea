"""The whole story: from a teacher's look-up to two contact links that expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.contact.links import LinkService
from broker.contact.services import ContactService
from broker.errors import BrokerError
from broker.registry.lookups import Evidence
from tests.conftest import FakeClock
from tests.contact.conftest import Story
from tests.uow import committed


def test_from_match_to_links_that_expire(story: Story, clock: FakeClock) -> None:
    core = story.core
    consent_id = story.consent()
    start = story.last_seq()

    # The teacher's look-up shows what the policy allows a school: that someone is involved,
    # matched on the address, nothing more; contact needs the holder's approval.
    result = story.teacher_looks_up(consent_id)
    (match,) = result.matches
    assert (match.reveal, match.organisation, match.org_type, match.matched_on,
            match.contact) == ("nothing", None, None, ("address",), "approval")

    # The teacher asks; Veilig Thuis sees who asks and why, never the teacher's case content.
    contact = committed(core, ContactService)
    asked = contact.request(story.school.actor, professional=story.school.username,
                            lookup_id=result.lookup_id, match_id=match.match_id,
                            purpose="care_coordination", basis="consent",
                            evidence=Evidence(consent_reference=consent_id))
    assert (asked.status, asked.mode, asked.link_tokens) == ("pending", "approval", [])
    seen = contact.get(story.vt.actor, asked.id)
    assert (seen.requester_organisation, seen.requester_role, seen.purpose,
            seen.legal_basis) == ("Basisschool De Linde", "contactpersoon", "care_coordination",
                                  "consent")

    # Veilig Thuis approves; each side receives its link's token when it reads the request.
    approved = contact.decide(story.vt.actor, asked.id, professional=story.vt.username,
                              approve=True, message="Bel gerust na drie uur.")
    assert (approved.status, approved.link_tokens) == ("approved", [])
    vt_view = contact.get(story.vt.actor, asked.id)
    assert len(vt_view.link_tokens) == 1
    links = committed(core, LinkService)
    vt_card = links.open_by_token(story.vt.actor, vt_view.link_tokens[0])
    # The rule allows name, role and phone: the teacher's e-mail and school stay hidden.
    assert (vt_card.name, vt_card.role, vt_card.phone, vt_card.email,
            vt_card.organisation) == ("Contact Basisschool De Linde", "contactpersoon",
                                      "+31 20 555 0101", None, None)
    teacher_view = contact.get(story.school.actor, asked.id)
    assert teacher_view.status == "approved" and len(teacher_view.link_tokens) == 1
    assert teacher_view.decision_message == "Bel gerust na drie uur."
    teacher_card = links.open_by_token(story.school.actor, teacher_view.link_tokens[0])
    assert (teacher_card.name, teacher_card.role, teacher_card.phone, teacher_card.email,
            teacher_card.organisation) == ("Contact Veilig Thuis Midden", "contactpersoon",
                                           "+31 20 555 0101", None, None)
    # The token is handed over once: reading the request again gives none.
    assert contact.get(story.school.actor, asked.id).link_tokens == []

    # Fourteen days later the links no longer open.
    clock.now += timedelta(days=15)
    with pytest.raises(BrokerError, match="expired"):
        links.open_by_token(story.vt.actor, vt_view.link_tokens[0])
    with pytest.raises(BrokerError, match="expired"):
        links.open_by_token(story.school.actor, teacher_view.link_tokens[0])

    kinds = [(e.event_type, e.outcome) for e in story.events(start)]
    assert kinds == [
        ("lookup:performed", "success"),
        ("contact:requested", "success"),
        ("contact:request_viewed", "success"),
        ("contact:approved", "success"),
        ("contact:link_issued", "success"),
        ("contact:link_issued", "success"),
        ("contact:request_viewed", "success"),
        ("contact:link_viewed", "success"),
        ("contact:request_viewed", "success"),
        ("contact:link_viewed", "success"),
        ("contact:request_viewed", "success"),
        ("contact:link_refused", "refused"),
        ("contact:link_refused", "refused"),
    ]
