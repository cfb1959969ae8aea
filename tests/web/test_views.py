"""The professional's web pages through the Flask test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from broker.audit.services import Actor
from broker.core import Core
from broker.registry.models import Professional
from broker.registry.services import RegistryService
from broker.signin import totp
from broker.signin.second_factor import SecondFactorService, requires_second_factor
from tests.conftest import FakeClock
from tests.factories import CHILD_BSN, household, make_member, register
from tests.uow import committed
from tests.web.forms import household_fields


def csrf(client: FlaskClient, path: str) -> str:
    """The CSRF token from the form at ``path``."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def second_factor(app: Flask, username: str) -> bytes | None:
    """The TOTP secret of ``username``, enrolled by the operator on first use when the policy
    requires one (None when it does not)."""
    known: dict[str, bytes] = app.extensions.setdefault("tests.totp", {})
    if username not in known:
        core: Core = app.extensions["broker.core"]
        person = committed(core, RegistryService).get_professional(username)
        org = committed(core, RegistryService).get_organisation(person.organisation_identifier)
        if not requires_second_factor(core.policy(), org.org_type, person.access_role):
            return None
        service = committed(core, SecondFactorService, app.extensions["broker.signin_key"])
        known[username] = totp.from_base32(service.enrol_directly(Actor.operator("test"),
                                                                  username))
    return known[username]


def fresh_code(app: Flask, secret: bytes) -> str:
    """A code not used before: the current step's, after moving the test clock on a step when
    that one was used already (each code works once)."""
    core: Core = app.extensions["broker.core"]
    used: dict[bytes, int] = app.extensions.setdefault("tests.totp_steps", {})
    if totp.step_at(core.now()) <= used.get(secret, -1):
        core.clock.now += timedelta(seconds=totp.STEP_SECONDS)  # type: ignore[attr-defined]
    used[secret] = totp.step_at(core.now())
    return totp.code_at(secret, used[secret])


def sign_in(client: FlaskClient, username: str, password: str = "correct horse") -> None:
    """Sign in through the form (with the second factor's code where the policy wants one)."""
    secret = second_factor(client.application, username)
    token = csrf(client, "/login")
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    if secret is not None:
        assert response.headers["Location"].endswith("/login/code")
        response = client.post("/login/code", data={
            "code": fresh_code(client.application, secret), "csrf": csrf(client, "/login/code")})
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
    page = client.post("/check", data={"p1-bsn": "1234.56.782", "purpose": "care_coordination",
                                       "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                                       "csrf": token}, follow_redirects=True)
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
    page = client.post("/register", data={**household_fields([CHILD_BSN], "1011 AB 12 A"),
                                          "purpose": "care_coordination", "csrf": token},
                       follow_redirects=True)
    assert "geregistreerd tot" in page.get_data(as_text=True)
    sign_in(app_client_vt, "veilig-thuis-1")
    token = csrf(app_client_vt, "/check")
    html = app_client_vt.post("/check", data={
        **household_fields(address="1011ab 12-a"), "purpose": "protection",
        "basis": "legal_task", "statute": "jeugdwet_7_1_1", "csrf": token},
        follow_redirects=True).get_data(as_text=True)
    assert "Basisschool De Linde" in html and "adres" in html


@pytest.fixture
def app_client_vt(app: object) -> FlaskClient:
    """A second browser."""
    return app.test_client()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.usefixtures("world")
def test_bad_input_is_explained_in_the_chosen_language(client: FlaskClient) -> None:
    sign_in(client, "basisschool-1")
    token = csrf(client, "/check")
    data = {"p1-bsn": "123456789", "purpose": "protection", "basis": "legal_task",
            "statute": "jeugdwet_7_1_1", "csrf": token}
    html = client.post("/check", data=data).get_data(as_text=True)
    # Named at its field and in the summary (linked to the field); the value is kept to fix.
    assert "elfproef" in html and 'href="#p1-bsn"' in html and 'value="123456789"' in html
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
    from broker.keyfiles import UnsafeKeyError  # noqa: PLC0415

    (core.settings.keys_dir / "oprf" / "0001.key").chmod(0o644)
    with pytest.raises(UnsafeKeyError, match="chmod 600"):
        create_app(core=core)


@pytest.mark.usefixtures("world")
def test_session_ends_when_deactivated_or_idle(client: FlaskClient, core: Core,
                                               clock: FakeClock) -> None:
    sign_in(client, "basisschool-1")
    assert client.get("/check").status_code == 200
    clock.now += timedelta(minutes=31)  # idle for more than half an hour, on the core's clock
    assert client.get("/check").status_code == 302
    sign_in(client, "basisschool-1")
    for _ in range(16):  # busy all day (7 h 44 min), never idle: still ended after eight hours
        clock.now += timedelta(minutes=29)
        assert client.get("/check").status_code == 200
    clock.now += timedelta(minutes=29)
    assert client.get("/check").status_code == 302
    sign_in(client, "basisschool-1")
    with core.session() as db:
        db.execute(update(Professional).filter_by(username="basisschool-1").values(active=False))
    response = client.get("/check")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
