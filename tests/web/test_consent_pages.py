"""The consent pages: record consent about a household and withdraw it, in the browser; the
identifiers never come back in a page, a redirect, the session or the log. And the second
approver on the request page."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.contact.glass import make_glass
from tests.factories import ADDRESS, CHILD_BSN, household, make_member, register
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in

SECRET_BSN = "999999990"


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy."""
    return SHIPPED_POLICY


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The school registered on the child; Veilig Thuis on the child's address."""
    register(registry, make_member(registry, "school"),
             household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, make_member(registry, "vt"), household(core, address=(ADDRESS,)),
             purpose="protection")


def _consent(client: FlaskClient, **fields: object) -> str:
    data: dict[str, object] = {"csrf": csrf(client, "/consent"), "p1-bsn": CHILD_BSN,
                               "given_by": "parent", "given_on": "2026-03-01",
                               "valid_until": "2026-09-01", "purposes": ["care_coordination"],
                               **fields}
    return client.post("/consent", data=data, follow_redirects=True).get_data(as_text=True)


def _check(client: FlaskClient, consent_id: str, bsn: str = CHILD_BSN,
           address: str = ADDRESS) -> str:
    return client.post("/check", data={
        "csrf": csrf(client, "/check"), **household_fields([bsn], address),
        "purpose": "care_coordination", "basis": "consent", "consent_reference": consent_id},
        follow_redirects=True).get_data(as_text=True)


@pytest.mark.usefixtures("world")
def test_record_use_and_withdraw_consent_on_the_web(client: FlaskClient, core: Core,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in(client, "basisschool-1")
    page = _consent(client)
    consent_id = re.search(r"<strong>([0-9a-f-]{36})</strong>", page)
    assert consent_id, page
    assert CHILD_BSN not in page
    reference = consent_id.group(1)
    # The answer was a redirect: reloading the page shows the record and records nothing again
    # (the count of consent:recorded below stays one); someone else's or a made-up id is a 404.
    assert reference in client.get(f"/consent?recorded={reference}").get_data(as_text=True)
    assert client.get("/consent?recorded=00000000-0000-0000-0000-000000000000"
                      ).status_code == 404

    # The consent carries a check of the child's household, and of no other.
    assert "Een organisatie" in _check(client, reference)
    refused = _check(client, reference, bsn=SECRET_BSN, address="3512 JE 7")
    # Named at the consent reference's field; the typed BSN is kept in its field only.
    assert "ander huishouden" in refused and 'href="#consent_reference"' in refused
    assert refused.count(SECRET_BSN) == 1 and f'value="{SECRET_BSN}"' in refused

    withdrawn = client.post("/consent/withdraw", data={"csrf": csrf(client, "/consent"),
                                                       "consent_id": reference})
    assert "is ingetrokken" in withdrawn.get_data(as_text=True)
    assert "ingetrokken of geldt niet meer" in _check(client, reference)

    with client.session_transaction() as session:
        assert CHILD_BSN not in str(dict(session))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CHILD_BSN not in logged and SECRET_BSN not in logged
    with core.session() as session:
        events = list(session.scalars(select(AuditEvent)))
    assert all(CHILD_BSN not in str(e.details) for e in events)
    assert [e.event_type for e in events].count("consent:recorded") == 1


@pytest.mark.usefixtures("world")
def test_bad_consent_input_is_explained_and_not_echoed(client: FlaskClient) -> None:
    sign_in(client, "basisschool-1")
    bad_bsn = _consent(client, **{"p1-bsn": "123456789"})
    # Named at its field, linked from the summary; the value is kept in its field to correct.
    assert "elfproef" in bad_bsn and 'href="#p1-bsn"' in bad_bsn
    assert bad_bsn.count("123456789") == 1 and 'value="123456789"' in bad_bsn
    no_household = _consent(client, **{"p1-bsn": ""})
    assert "ten minste" in no_household.lower() or "minstens" in no_household.lower()
    bad_date = _consent(client, valid_until="morgen")
    assert "30-06-2027" in bad_date and 'href="#valid_until"' in bad_date
    no_purpose = _consent(client, purposes=[])
    assert "onbekend doel" in no_purpose
    # Someone else's (or a made-up) id cannot be withdrawn, and the text is not logged.
    refused = client.post("/consent/withdraw", data={"csrf": csrf(client, "/consent"),
                                                     "consent_id": CHILD_BSN})
    assert "geen toestemming" in refused.get_data(as_text=True)
    # Without the CSRF token nothing happens.
    assert client.post("/consent", data={"p1-bsn": CHILD_BSN}).status_code == 400


def test_the_request_page_shows_the_first_approval(core: Core, registry: RegistryService,
                                                   app: Flask) -> None:
    glass = make_glass(core, registry)
    asked = glass.ask()
    glass.decide(glass.ggz_1, asked.id)
    # A colleague who signs in on the web is the second approver.
    registry.add_professional(Actor.operator("test"), organisation="ggz", username="ggz-web",
                              name="GGZ web", role="r", password="correct horse")
    browser = app.test_client()
    sign_in(browser, "ggz-web")
    page = browser.get(f"/contact/requests/{asked.id}").get_data(as_text=True)
    assert "1 van de 2 nodig" in page and "ggz-1" in page and "wacht op antwoord" in page
    second = browser.post(f"/contact/requests/{asked.id}", data={
        "csrf": csrf(browser, f"/contact/requests/{asked.id}"), "action": "approve"},
        follow_redirects=True)
    html = second.get_data(as_text=True)
    assert "goedgekeurd" in html and "ggz-1, ggz-web" in html
