"""The professional's web pages through the Flask test client."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from broker.core import Core
from broker.registry.models import Professional
from broker.registry.services import RegistryService
from tests.factories import CHILD_BSN, household, make_member, register


def csrf(client: FlaskClient, path: str) -> str:
    """The CSRF token from the form at ``path``."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = "correct horse") -> None:
    """Sign in through the form."""
    token = csrf(client, "/login")
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf": token})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """A school and Veilig Thuis; Veilig Thuis is registered on the child."""
    make_member(registry, "school")
    register(registry, make_member(registry, "vt"), household(core, bsn=(CHILD_BSN,)))


@pytest.mark.usefixtures("world")
def test_check_shows_match_without_echoing_identifiers(client: FlaskClient) -> None:
    sign_in(client, "basisschool-1")
    token = csrf(client, "/check")
    page = client.post("/check", data={"bsn": "1234.56.782", "purpose": "care_coordination",
                                       "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                                       "csrf": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Veilig Thuis Midden" in html
    assert "persoon" in html  # matched on: person, in Dutch
    assert CHILD_BSN not in html and "1234.56.782" not in html


@pytest.mark.usefixtures("world")
def test_register_then_found_by_the_other_side(client: FlaskClient, app_client_vt: FlaskClient
                                               ) -> None:
    sign_in(client, "basisschool-1")
    token = csrf(client, "/register")
    page = client.post("/register", data={"bsn": CHILD_BSN, "address": "1011 AB 12 A",
                                          "purpose": "care_coordination", "csrf": token})
    assert "geregistreerd tot" in page.get_data(as_text=True)
    sign_in(app_client_vt, "veilig-thuis-1")
    token = csrf(app_client_vt, "/check")
    html = app_client_vt.post("/check", data={"address": "1011ab 12-a", "purpose": "protection",
                                              "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                                              "csrf": token}).get_data(as_text=True)
    assert "Basisschool De Linde" in html and "adres" in html


@pytest.fixture
def app_client_vt(app: object) -> FlaskClient:
    """A second browser."""
    return app.test_client()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.usefixtures("world")
def test_bad_input_is_explained_in_the_chosen_language(client: FlaskClient) -> None:
    sign_in(client, "basisschool-1")
    token = csrf(client, "/check")
    data = {"bsn": "123456789", "purpose": "protection", "basis": "legal_task",
            "statute": "jeugdwet_7_1_1", "csrf": token}
    html = client.post("/check", data=data).get_data(as_text=True)
    assert "elfproef" in html and "123456789" not in html
    client.get("/lang/en")
    data["csrf"] = csrf(client, "/check")
    html = client.post("/check", data=data).get_data(as_text=True)
    assert "eleven-test" in html


@pytest.mark.usefixtures("world")
def test_wrong_password_and_missing_csrf_are_refused(client: FlaskClient) -> None:
    token = csrf(client, "/login")
    page = client.post("/login", data={"username": "basisschool-1", "password": "wrong",
                                       "csrf": token})
    assert page.status_code == 200 and "onjuist" in page.get_data(as_text=True)
    assert client.post("/login", data={"username": "basisschool-1",
                                       "password": "correct horse"}).status_code == 400
    assert client.get("/check").status_code == 302  # not signed in


def test_app_refuses_to_start_with_readable_key(core: Core) -> None:
    from broker.app import create_app  # noqa: PLC0415
    from broker.pseudonyms.keys import UnsafeKeyError  # noqa: PLC0415

    (core.settings.keys_dir / "oprf" / "0001.key").chmod(0o644)
    with pytest.raises(UnsafeKeyError, match="chmod 600"):
        create_app(core=core)


@pytest.mark.usefixtures("world")
def test_session_ends_when_deactivated_or_idle(client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    assert client.get("/check").status_code == 200
    with client.session_transaction() as session:
        session["seen"] = session["seen"] - 31 * 60
    assert client.get("/check").status_code == 302  # idle for more than half an hour
    sign_in(client, "basisschool-1")
    with core.unit_of_work() as db:
        db.execute(update(Professional).filter_by(username="basisschool-1").values(active=False))
    response = client.get("/check")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
