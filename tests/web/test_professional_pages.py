"""The professional's pages (issue 14 item 2): the household form names every error at its field
and keeps every value; the result is reached by POST-redirect-GET and reloading it runs no
second look-up; My involvements by the organisation's own case reference (identifier-shaped text
refused), with renew, end and the duty to inform; the holder sees which of its own involvements
a contact request concerns; revoking a link ends the contact on both sides; the inbox puts what
asks for action first."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.contact.models import ContactLink
from broker.core import Core
from broker.registry.services import RegistryService
from broker.signin.models import WebResult
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in

CHECK = {"purpose": "care_coordination", "basis": "legal_task", "statute": "jeugdwet_7_4_0"}


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: a school's request needs the holder's approval."""
    return SHIPPED_POLICY


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The school registered on the child; Veilig Thuis on the mother (same address), with its
    own case number."""
    register(registry, make_member(registry, "school"),
             household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    vt = make_member(registry, "vt")
    registry.register_involvement(
        vt.actor, organisation=vt.org, professional=vt.username,
        pseudonyms=household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)), purpose="protection",
        case_reference="VT-2026-0042")


def events(core: Core, event_type: str) -> list[AuditEvent]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)))


def first(pattern: str, html: str) -> str:
    match = re.search(pattern, html)
    assert match, html
    return match.group(1)


@pytest.mark.usefixtures("world")
def test_every_error_is_named_at_its_field_and_every_value_is_kept(client: FlaskClient,
                                                                   core: Core) -> None:
    sign_in(client, "basisschool-1")
    data = {**household_fields(["123456789"]), "postcode": "1011 AB",
            "p2-family_name": "van der Vries",
            "p2-day": "31", "p2-month": "02", "p2-year": "1980", "purpose": "care_coordination",
            "csrf": csrf(client, "/check")}
    page = client.post("/check", data=data).get_data(as_text=True)
    # The summary links each error to its field: the BSN, the initial, the date, the house
    # number and the basis not chosen.
    for field in ("p1-bsn", "p2-initial", "p2-day", "house_number", "basis"):
        assert f'href="#{field}"' in page, field
        assert f'id="{field}-error"' in page
    assert page.count('aria-invalid="true"') >= 4
    for value in ("123456789", "van der Vries", "1011 AB", "31", "1980"):
        assert f'value="{value}"' in page, value
    assert '<option value="care_coordination" selected>' in page
    assert "<title>Fout: " in page
    assert events(core, "lookup:performed") == []  # nothing was looked up


@pytest.mark.usefixtures("world")
def test_the_result_is_kept_for_the_session_and_a_reload_runs_no_look_up(
        client: FlaskClient, app: Flask, core: Core) -> None:
    sign_in(client, "basisschool-1")
    answer = client.post("/check", data={**household_fields([CHILD_BSN], ADDRESS), **CHECK,
                                         "csrf": csrf(client, "/check")})
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert re.fullmatch(r"/check/result/[0-9a-f-]{36}", location)
    assert CHILD_BSN not in location and "1011" not in location
    first_view = client.get(location).get_data(as_text=True)
    again = client.get(location).get_data(as_text=True)
    assert "Vraag contact met organisatie 1" in first_view
    assert re.sub(r'value="[^"]+" name="csrf"|name="csrf" value="[^"]+"', "", first_view) == \
        re.sub(r'value="[^"]+" name="csrf"|name="csrf" value="[^"]+"', "", again)
    assert len(events(core, "lookup:performed")) == 1  # the reloads ran no look-up
    assert CHILD_BSN not in first_view
    # The ask-for-contact form carries the look-up and the match only.
    assert 'name="purpose"' not in first_view and 'name="statute"' not in first_view
    # Another browser, even of the same professional, does not see this session's result.
    other = app.test_client()
    sign_in(other, "basisschool-1")
    assert other.get(location).status_code == 404
    # The kept result goes with its session: signing out (every session of the account) ends it.
    other.post("/logout", data={"csrf": csrf(other, "/check")})
    with core.session() as session:
        assert list(session.scalars(select(WebResult))) == []


@pytest.mark.usefixtures("world")
def test_register_with_a_case_reference_and_manage_the_involvement(
        client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    base = {**household_fields([CHILD_BSN]), "purpose": "care_coordination"}
    refused = client.post("/register", data={**base, "case_reference": "dossier 123456782",
                                             "csrf": csrf(client, "/register")})
    page = refused.get_data(as_text=True)
    assert 'href="#case_reference"' in page and "burgerservicenummer" in page
    assert len(events(core, "involvement:registered")) == 2  # the world's two

    done = client.post("/register", data={**base, "case_reference": "LL-2026-17",
                                          "csrf": csrf(client, "/register")})
    assert done.status_code == 303 and done.headers["Location"] == "/involvements"
    listing = client.get("/involvements").get_data(as_text=True)
    assert "LL-2026-17" in listing and "geregistreerd tot" in listing
    assert "VT-2026-0042" not in listing  # another organisation's case number
    path = first(r'href="(/involvements/[0-9a-f-]{36})">LL-2026-17', listing)
    today = core.today()

    def act(**form: str) -> str:
        answer = client.post(path, data={**form, "csrf": csrf(client, path)},
                             follow_redirects=True)
        return answer.get_data(as_text=True)

    postponed = act(action="postpone", reason="nog niet veilig om te vertellen",
                    until=(today + timedelta(days=30)).isoformat())
    assert "is uitgesteld" in postponed and "uitgesteld tot" in postponed
    assert "is geïnformeerd" in act(action="informed", informed_on=today.isoformat())
    assert "is verlengd" in act(action="renew", ends_on="")
    made_up = act(action="end", reason="bored")  # no silent default in the audit log
    assert "Kies waarom" in made_up and not events(core, "involvement:ended")
    ended = act(action="end", reason="concern_resolved")
    assert "is beëindigd" in ended and "LL-2026-17" not in ended
    types = [e.event_type for e in events(core, "involvement:ended")]
    assert types == ["involvement:ended"]


@pytest.mark.usefixtures("world")
def test_the_holder_sees_its_case_and_revoking_ends_both_sides(
        client: FlaskClient, app: Flask, core: Core) -> None:
    sign_in(client, "basisschool-1")
    result = client.post("/check", data={**household_fields([CHILD_BSN], ADDRESS), **CHECK,
                                         "csrf": csrf(client, "/check")},
                         follow_redirects=True).get_data(as_text=True)
    assert "Contact als de organisatie die betrokken is dat goedkeurt" in result
    asked = client.post("/contact/request", data={
        "csrf": csrf(client, "/check"), "lookup_id": first(r'name="lookup_id" value="([^"]+)"',
                                                           result),
        "match_id": first(r'name="match_id" value="([^"]+)"', result)})
    assert asked.status_code == 303

    holder = app.test_client()
    sign_in(holder, "veilig-thuis-1")
    inbox = holder.get("/inbox").get_data(as_text=True)
    # What asks for action comes first.
    assert inbox.index("Te doen") < inbox.index("Nieuw contactverzoek")
    request_path = first(r'href="(/contact/requests/[^"]+)"', inbox)
    page = holder.get(request_path).get_data(as_text=True)
    assert "uw dossier VT-2026-0042" in page
    assert "Keur contact met Basisschool De Linde goed" in page
    assert "utrecht-button--danger" in page  # deny is set apart
    holder.post(request_path, data={"csrf": csrf(holder, request_path), "action": "approve"})

    link_path = first(r'href="(/contact/links/[^"]+)"', client.get("/inbox").get_data(
        as_text=True))
    card = client.get(link_path).get_data(as_text=True)
    assert "Stop contact met" in card
    revoked = client.post(link_path, data={"csrf": csrf(client, link_path)})
    assert revoked.status_code == 303
    with core.session() as session:
        links = list(session.scalars(select(ContactLink)))
    assert len(links) == 2 and all(link.revoked_at is not None for link in links)
    [event] = events(core, "contact:link_revoked")
    assert len(event.details["also_revoked"]) == 1
