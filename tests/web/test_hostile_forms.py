"""Hostile input on the web door gets a calm 400, never a 500 (issue 11): a NUL byte, another
control character or an overlong value in any form or query field is refused before anything
reads or stores it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from broker.registry.services import RegistryService
from tests.factories import make_member
from tests.web.test_views import csrf, sign_in


@pytest.mark.parametrize("username", ["wijkteam\x00-1", "a\x1bb", "x" * 10_001])
def test_a_hostile_user_name_gets_a_400(client: FlaskClient, registry: RegistryService,
                                        username: str) -> None:
    make_member(registry, "wijkteam")
    answer = client.post("/login", data={"username": username, "password": "correct horse",
                                         "csrf": csrf(client, "/login")})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "ongeldig teken" in page and username not in page


def test_a_hostile_identifier_on_the_check_page_gets_a_400(client: FlaskClient,
                                                           registry: RegistryService) -> None:
    member = make_member(registry, "wijkteam")
    sign_in(client, member.username)
    answer = client.post("/check", data={"p1-bsn": "123456782\x00", "purpose": "protection",
                                         "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                                         "csrf": csrf(client, "/check")})
    assert answer.status_code == 400
    assert "123456782" not in answer.get_data(as_text=True)


def test_a_hostile_query_gets_a_400(client: FlaskClient) -> None:
    assert client.get("/login?next=%00").status_code == 400


def test_tabs_and_line_breaks_pass(client: FlaskClient, registry: RegistryService) -> None:
    member = make_member(registry, "wijkteam")
    sign_in(client, member.username)
    answer = client.post("/check", data={"p1-bsn": "123456782\r\n", "purpose": "protection",
                                         "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                                         "csrf": csrf(client, "/check")},
                         follow_redirects=True)
    assert answer.status_code == 200
