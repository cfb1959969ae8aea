"""The scan: in a whole story — two registrations, a look-up, a contact request granted at once
with links for both sides, and every notification delivered by webhook and e-mail — no e-mail,
no webhook body and no log line carries a name, an identifier or a token of the other side."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from broker.contact.services import ContactService
from broker.notifications.delivery import deliver_due
from broker.registry.lookups import LookupService
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, STATUTE, Member, register
from tests.notifications.conftest import FAST, World
from tests.notifications.helpers import Receiver, SmtpSink
from tests.uow import committed

IDENTIFIERS = (MOTHER_BSN, CHILD_BSN, ADDRESS, "1011 AB", "1011AB", "1011ab", "bsn|")


def _own(world: World, member: Member, involvement: str) -> tuple[str, ...]:
    """What names or identifies ``member``'s side."""
    name = {"basisschool": "Basisschool De Linde", "veilig-thuis": "Veilig Thuis Midden"}[
        member.org]
    return (name, f"Contact {name}", member.username, f"{member.org}@example.org", involvement)


def test_nothing_that_leaves_the_broker_names_the_other_side(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="broker")
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    school_rx, vt_rx = Receiver(), Receiver()
    try:
        world.webhook(world.school, school_rx.url)
        world.webhook(world.vt, vt_rx.url)
        school_case = register(world.registry, world.school, world.child)
        vt_case = register(world.registry, world.vt, world.mother)
        found = committed(world.core, LookupService).lookup(
            world.school.actor, pseudonyms=world.child, purpose="care_coordination",
            basis="legal_task", evidence=STATUTE)
        (match,) = found.matches
        contact = committed(world.core, ContactService)
        asked = contact.request(
            world.school.actor, professional=world.school.username, lookup_id=found.lookup_id,
            match_id=match.match_id, purpose="care_coordination", basis="legal_task",
            evidence=STATUTE)
        tokens = [*contact.get(world.school.actor, asked.id).link_tokens,
                  *contact.get(world.vt.actor, asked.id).link_tokens]
        assert len(tokens) == 2  # one link for each side
        settings = dataclasses.replace(FAST, smtp_url=sink.url)
        report = deliver_due(world.core, settings=settings)
        assert report.delivered == report.claimed > 0 and report.retried == report.given_up == 0
    finally:
        school_rx.close()
        vt_rx.close()

    school_kinds = sorted(r.json()["event"] for r in school_rx.received)
    assert school_kinds == ["decision", "link", "new_match"]
    assert [r.json()["event"] for r in vt_rx.received] == ["link"]
    mails = {recipient: [m.data.decode() for m in sink.mails if recipient in m.recipients]
             for recipient in ("basisschool@example.org", "veilig-thuis@example.org")}
    assert [len(texts) for texts in mails.values()] == [3, 1]

    of_school, of_vt = _own(world, world.school, school_case), _own(world, world.vt, vt_case)
    never = (*IDENTIFIERS, *tokens)
    seen_by_school = [r.body.decode() for r in school_rx.received] + mails[
        "basisschool@example.org"]
    seen_by_vt = [r.body.decode() for r in vt_rx.received] + mails["veilig-thuis@example.org"]
    logged = [f"{r.name} {r.getMessage()}" for r in caplog.records]
    assert logged  # the deliveries were logged, so the scan below is not vacuous
    for texts, forbidden in ((seen_by_school, (*never, *of_vt)), (seen_by_vt, (*never, *of_school)),
                             (logged, (*never, *of_school, *of_vt, "s3cr3t"))):
        leaks = [(secret, text) for text in texts for secret in forbidden if secret in text]
        assert leaks == []
