"""The second factor in the browser: enrolment through the one-time link, codes at sign-in —
wrong, reused, skewed, guessed — and who must have one."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.registry.services import RegistryService
from broker.signin import totp
from broker.signin.second_factor import SecondFactorService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.factories import make_member
from tests.uow import committed
from tests.web.test_views import csrf

VT = "veilig-thuis-1"


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: Veilig Thuis signs in with a second factor, a school does not."""
    return SHIPPED_POLICY


@pytest.fixture
def world(registry: RegistryService) -> None:
    """A school and Veilig Thuis, one professional each."""
    make_member(registry, "school")
    make_member(registry, "vt")


def _factors(app: Flask) -> SecondFactorService:
    return committed(app.extensions["broker.core"], SecondFactorService,  # type: ignore[no-any-return]
                     app.extensions["broker.signin_key"])


def _password(client: FlaskClient, username: str = VT, password: str = "correct horse"
              ) -> tuple[int, str, str]:
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf": csrf(client, "/login")})
    return response.status_code, response.headers.get("Location", ""), response.get_data(
        as_text=True)


def _code(client: FlaskClient, code: str) -> int:
    return client.post("/login/code", data={"code": code,
                                            "csrf": csrf(client, "/login/code")}).status_code


def _wrong_code(secret: bytes, core: Core) -> str:
    """A code that is not one of the window's."""
    now = totp.step_at(core.now())
    window = {totp.code_at(secret, step) for step in range(now - 1, now + 2)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in window)


def _reasons(core: Core) -> list[str | None]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent.reason).where(
            AuditEvent.event_type == "signin:failed").order_by(AuditEvent.seq)))


def _all_events(core: Core) -> str:
    with core.session() as session:
        return repr([(e.event_type, e.actor, e.reason, e.details, e.source_address)
                     for e in session.scalars(select(AuditEvent))])


@pytest.mark.usefixtures("world")
def test_enrol_through_the_link_then_sign_in_with_a_code(
        app: Flask, client: FlaskClient, core: Core, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Without a second factor Veilig Thuis cannot sign in, even with the right password.
    status, _, page = _password(client)
    assert status == 200 and "tweede factor" in page
    assert client.get("/check").status_code == 302
    assert _reasons(core) == ["second_factor_missing"]

    link = _factors(app).issue_link(Actor.operator("admin"), VT, "http://127.0.0.1:5000")
    path = link.url.removeprefix("http://127.0.0.1:5000")
    assert re.fullmatch(r"/enrol/[A-Za-z0-9_-]{43}", path)
    shown = client.get(path)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    secret_text = re.search(r'<code class="secret">([A-Z2-7]{32})</code>', html)
    assert secret_text and "otpauth://totp/Broker:veilig-thuis-1?secret=" in html
    assert "<svg" in html and "<script" not in html  # the QR code, drawn on the server
    secret = totp.from_base32(secret_text.group(1))

    wrong = client.post(path, data={"code": "000000", "csrf": csrf(client, path)})
    assert wrong.status_code == 200 and "klopt niet" in wrong.get_data(as_text=True)
    step = totp.step_at(core.now())
    confirmed = client.post(path, data={"code": totp.code_at(secret, step),
                                        "csrf": csrf(client, path)})
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith("/login")
    assert "gekoppeld" in client.get("/login").get_data(as_text=True)
    assert client.get(path).status_code == 404  # once only

    status, location, _ = _password(client)
    assert status == 302 and location.endswith("/login/code")
    assert client.get("/check").status_code == 302  # a password alone opens nothing...
    _password(client)  # ...and leaving the code page drops the half-done sign-in
    assert _code(client, totp.code_at(secret, step)) == 200  # used at enrolment already
    assert _code(client, _wrong_code(secret, core)) == 200
    clock.now += timedelta(seconds=30)
    assert _code(client, totp.code_at(secret, step + 1)) == 302
    assert client.get("/check").status_code == 200
    assert _reasons(core)[1:] == ["code_already_used", "wrong_code"]

    log = _all_events(core)
    for event in ("signin:totp_link_issued", "signin:totp_link_opened", "signin:totp_enrolled"):
        assert event in log
    assert "'second_factor': True" in log
    # The secret is never written to the log or the audit events; the link's token neither.
    token = path.rsplit("/", 1)[1]
    for text in (secret_text.group(1), token):
        assert text not in log and text not in caplog.text


@pytest.mark.usefixtures("world")
def test_codes_from_a_clock_one_step_off_work_and_two_steps_do_not(
        app: Flask, client: FlaskClient, core: Core, clock: FakeClock) -> None:
    secret = totp.from_base32(_factors(app).enrol_directly(Actor.operator(), VT))
    for offset, expected in ((-2, 200), (2, 200), (-1, 302)):
        _password(client)
        assert _code(client, totp.code_at(secret, totp.step_at(core.now()) + offset)) == expected
    client.post("/logout", data={"csrf": csrf(client, "/check")})
    clock.now += timedelta(minutes=2)
    _password(client)
    assert _code(client, totp.code_at(secret, totp.step_at(core.now()) + 1)) == 302


@pytest.mark.usefixtures("world")
def test_the_code_step_expires_after_five_minutes(app: Flask, client: FlaskClient, core: Core,
                                                  clock: FakeClock) -> None:
    secret = totp.from_base32(_factors(app).enrol_directly(Actor.operator(), VT))
    _password(client)
    clock.now += timedelta(minutes=5, seconds=1)
    code = totp.code_at(secret, totp.step_at(core.now()))
    assert client.post("/login/code", data={"code": code, "csrf": csrf(client, "/login")}
                       ).status_code == 302  # back to the password
    assert client.get("/check").status_code == 302


@pytest.mark.usefixtures("world")
def test_guessing_codes_with_a_stolen_password_locks_the_account(
        app: Flask, client: FlaskClient, core: Core, clock: FakeClock) -> None:
    secret = totp.from_base32(_factors(app).enrol_directly(Actor.operator(), VT))
    guesses = 0
    while guesses < 50:
        response = client.post("/login", data={"username": VT, "password": "correct horse",
                                               "csrf": csrf(client, "/login")})
        if response.status_code == 429 and "Retry-After" not in response.headers:
            break  # locked until an administrator lifts the lock
        if response.status_code == 429:
            clock.now += timedelta(seconds=int(response.headers["Retry-After"]))
            continue
        assert response.headers["Location"].endswith("/login/code")  # the password is right
        if _code(client, _wrong_code(secret, core)) == 200:
            guesses += 1
    assert guesses == 10  # then locked: the right password and the right code are refused
    assert _password(client)[0] == 429 and client.get("/check").status_code == 302
    right = totp.code_at(secret, totp.step_at(core.now()))
    back = client.post("/login/code", data={"code": right, "csrf": csrf(client, "/login")})
    assert back.headers["Location"].endswith("/login")  # no waiting session: back to the start
    assert client.get("/check").status_code == 302
    assert "signin:locked" in _all_events(core)


def test_privacy_officers_and_auditors_need_a_second_factor_under_any_policy(
        client: FlaskClient, registry: RegistryService, core: Core) -> None:
    member = make_member(registry, "school")  # the open test policy names no type at all
    for role in ("privacy_officer", "auditor"):
        registry.add_professional(Actor.operator(), organisation=member.org,
                                  username=f"{role.replace('_', '-')}-1", name="Staff",
                                  role="staff", password="correct horse", access_role=role)
        status, _, page = _password(client, f"{role.replace('_', '-')}-1")
        assert status == 200 and "tweede factor" in page
    assert _password(client, "basisschool-1")[0] == 302
    assert _reasons(core) == ["second_factor_missing", "second_factor_missing"]


@pytest.mark.usefixtures("world")
def test_an_enrolment_link_expires_and_a_new_one_replaces_the_old(
        app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    factors = _factors(app)
    first = factors.issue_link(Actor.operator(), VT, "https://broker.example")
    assert first.url.startswith("https://broker.example/enrol/")
    second = factors.issue_link(Actor.operator(), VT, "https://broker.example")
    assert client.get(first.url.removeprefix("https://broker.example")).status_code == 404
    path = second.url.removeprefix("https://broker.example")
    assert client.get(path).status_code == 200
    clock.now += timedelta(hours=24)
    page = client.get(path)
    assert page.status_code == 404 and "verlopen" in page.get_data(as_text=True)
    for made_up in ("/enrol/x", "/enrol/" + "A" * 43, "/enrol/" + "A" * 500):
        assert client.get(made_up).status_code == 404


def test_access_logs_redact_the_enrolment_token(caplog: pytest.LogCaptureFixture) -> None:
    token = "Q" * 43
    with caplog.at_level(logging.INFO):
        # The request lines werkzeug's development server and gunicorn's access log write.
        logging.getLogger("werkzeug").info('%s - - "%s" %s', "127.0.0.1",
                                           f"GET /enrol/{token} HTTP/1.1", "200")
        logging.getLogger("gunicorn.access").info("%(r)s %(s)s", {
            "r": f"POST /enrol/{token}?x=1 HTTP/1.1", "s": "302"})
    assert token not in caplog.text
    assert caplog.text.count("/enrol/[redacted]") == 2
