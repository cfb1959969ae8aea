"""The contact hand-over in the browser: ask on a match, approve from the inbox, open the link
page — which opens for the professional it was issued to and no one else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.core import Core
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: a school's request needs the holder's approval."""
    return SHIPPED_POLICY


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The teacher registered on the child; Veilig Thuis on the mother, same address."""
    register(registry, make_member(registry, "school"),
             household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, make_member(registry, "vt"),
             household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)), purpose="protection")


def _first(pattern: str, html: str) -> str:
    match = re.search(pattern, html)
    assert match, html
    return match.group(1)


@pytest.mark.usefixtures("world")
def test_ask_approve_and_open_the_link(client: FlaskClient, app: Flask) -> None:
    sign_in(client, "basisschool-1")
    token = csrf(client, "/check")
    html = client.post("/check", data={
        **household_fields([CHILD_BSN], ADDRESS), "purpose": "care_coordination",
        "basis": "legal_task", "statute": "jeugdwet_7_4_0", "csrf": token,
    }, follow_redirects=True).get_data(as_text=True)
    form = {name: _first(rf'name="{name}" value="([^"]*)"', html)
            for name in ("csrf", "lookup_id", "match_id")}
    asked = client.post("/contact/request", data=form)
    assert asked.status_code == 303, asked.get_data(as_text=True)

    holder = app.test_client()
    sign_in(holder, "veilig-thuis-1")
    inbox = holder.get("/inbox").get_data(as_text=True)
    request_path = _first(r'href="(/contact/requests/[^"]+)"', inbox)
    page = holder.get(request_path).get_data(as_text=True)
    assert "Basisschool De Linde" in page and CHILD_BSN not in page
    approved = holder.post(request_path, data={"csrf": csrf(holder, request_path),
                                               "action": "approve", "message": "Bel maar"},
                           follow_redirects=True)
    assert "goedgekeurd" in approved.get_data(as_text=True)

    teacher_inbox = client.get("/inbox").get_data(as_text=True)
    link_path = _first(r'href="(/contact/links/[^"]+)"', teacher_inbox)
    card = client.get(link_path).get_data(as_text=True)
    assert "Contact Veilig Thuis Midden" in card and "+31 20 555 0101" in card
    assert "veilig-thuis@example.org" not in card  # e-mail is not among the rule's fields
    # The holder's own session cannot open the teacher's link.
    refused = holder.get(link_path).get_data(as_text=True)
    assert "Contact Veilig Thuis Midden" not in refused
