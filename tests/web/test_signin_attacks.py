"""The security tester's sign-in findings (issue 11, item 1), replayed through the browser door."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.registry.models import Professional
from broker.registry.services import RegistryService
from broker.signin import totp
from broker.signin.keys import SignInKey
from broker.signin.second_factor import SecondFactorService
from broker.signin.services import SignInService
from tests.conftest import FakeClock
from tests.factories import make_member
from tests.uow import committed
from tests.web.test_views import csrf


def _cookie_name(app: Flask) -> str:
    return str(app.config["SESSION_COOKIE_NAME"])


def _post_login(client: FlaskClient, username: str, password: str,
                address: str = "192.0.2.10") -> int:
    token = csrf(client, "/login")
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf": token},
                           environ_base={"REMOTE_ADDR": address})
    return response.status_code


def _events(core: Core, prefix: str) -> list[AuditEvent]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.event_type.startswith(prefix)).order_by(AuditEvent.seq)))


def test_seventy_wrong_passwords_then_the_right_one_is_refused(
        client: FlaskClient, registry: RegistryService) -> None:
    make_member(registry, "school")
    for _ in range(70):
        _post_login(client, "basisschool-1", "wrong password")
    assert _post_login(client, "basisschool-1", "correct horse") == 429
    assert client.get("/check").status_code == 302  # not signed in


def test_many_names_from_one_address_are_throttled(client: FlaskClient,
                                                    registry: RegistryService) -> None:
    make_member(registry, "school")
    for n in range(40):
        _post_login(client, f"guess-{n}", "wrong password", address="198.51.100.7")
    # The right password from the same address is not even checked now...
    assert _post_login(client, "basisschool-1", "correct horse", "198.51.100.7") == 429
    # ...while another address signs in as usual.
    assert _post_login(client, "basisschool-1", "correct horse", "203.0.113.5") == 302


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app: Flask, client: FlaskClient,
                                                             core: Core,
                                                             registry: RegistryService) -> None:
    make_member(registry, "school")
    assert _post_login(client, "basisschool-1", "correct horse") == 302
    copied = client.get_cookie(_cookie_name(app))
    assert copied is not None
    client.post("/logout", data={"csrf": csrf(client, "/check")})
    thief = app.test_client()
    thief.set_cookie(_cookie_name(app), copied.value)
    for path in ("/check", "/inbox", "/register"):
        response = thief.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    # A POST with the copied cookie and a wrong form token is refused, and the refusal is not
    # put on the name of the professional who signed out.
    refusals_before = len(_events(core, "web:csrf_refused"))
    thief.set_cookie(_cookie_name(app), copied.value)  # as copied (a page visit replaced it)
    assert thief.post("/check", data={"csrf": "stolen"}).status_code == 400
    assert len(_events(core, "web:csrf_refused")) == refusals_before


def test_sign_in_sign_out_and_failures_are_audited(client: FlaskClient, core: Core,
                                                    registry: RegistryService) -> None:
    make_member(registry, "school")
    _post_login(client, "basisschool-1", "wrong password")
    _post_login(client, "nobody-here", "wrong password")
    assert _post_login(client, "basisschool-1", "correct horse") == 302
    client.post("/logout", data={"csrf": csrf(client, "/check")})
    events = [(e.event_type, e.outcome, e.actor) for e in _events(core, "signin:")]
    assert events[0] == ("signin:failed", "failure", "professional:basisschool-1")
    assert events[1][:2] == ("signin:failed", "failure")
    assert "nobody-here" not in repr(events)  # an unknown name is never written down
    assert events[2] == ("signin:succeeded", "success", "professional:basisschool-1")
    assert events[3] == ("signin:signed_out", "success", "professional:basisschool-1")


def test_lock_out_is_lifted_by_the_administrator(client: FlaskClient, core: Core,
                                                 registry: RegistryService,
                                                 clock: FakeClock) -> None:
    make_member(registry, "school")
    while True:
        token = csrf(client, "/login")
        response = client.post("/login", data={"username": "basisschool-1",
                                               "password": "wrong password", "csrf": token})
        if response.status_code == 429 and "Retry-After" not in response.headers:
            break
        clock.now += timedelta(seconds=int(response.headers.get("Retry-After", "1")))
    assert "beheerder" in response.get_data(as_text=True)
    clock.now += timedelta(days=1)
    assert _post_login(client, "basisschool-1", "correct horse") == 429
    key = SignInKey.load(core.settings.keys_dir)
    committed(core, SignInService, key).unlock(Actor.operator("admin"), "basisschool-1")
    assert _post_login(client, "basisschool-1", "correct horse") == 302
    assert [e.event_type for e in _events(core, "signin:")][-3:] == [
        "signin:locked", "signin:unlocked", "signin:succeeded"]


def test_a_copied_cookie_is_refused_after_deactivation(app: Flask, client: FlaskClient,
                                                       core: Core,
                                                       registry: RegistryService) -> None:
    make_member(registry, "school")
    assert _post_login(client, "basisschool-1", "correct horse") == 302
    copied = client.get_cookie(_cookie_name(app))
    assert copied is not None
    with core.session() as session:
        session.execute(update(Professional).filter_by(username="basisschool-1")
                        .values(active=False))
    thief = app.test_client()
    thief.set_cookie(_cookie_name(app), copied.value)
    assert thief.get("/inbox").status_code == 302
    assert _post_login(thief, "basisschool-1", "correct horse") == 200  # nor a new sign-in


def test_a_password_change_ends_every_session(app: Flask, client: FlaskClient, core: Core,
                                              registry: RegistryService) -> None:
    make_member(registry, "school")
    other_browser = app.test_client()
    for browser in (client, other_browser):
        assert _post_login(browser, "basisschool-1", "correct horse") == 302
    copied = client.get_cookie(_cookie_name(app))
    assert copied is not None

    form = {"current_password": "correct horse", "new_password": "battery staple",
            "repeat_password": "battery stapel"}
    page = client.post("/account/password", data={**form, "csrf": csrf(client, "/check")})
    assert "verschillen" in page.get_data(as_text=True)  # the two new ones differ
    form["repeat_password"] = form["new_password"]
    page = client.post("/account/password", data={
        **form, "current_password": "wrong password", "csrf": csrf(client, "/check")})
    assert "onjuist" in page.get_data(as_text=True)
    changed = client.post("/account/password", data={**form, "csrf": csrf(client, "/check")})
    assert changed.status_code == 302 and changed.headers["Location"].endswith("/login")
    assert "gewijzigd" in client.get("/login").get_data(as_text=True)

    thief = app.test_client()
    thief.set_cookie(_cookie_name(app), copied.value)
    for browser in (client, other_browser, thief):
        assert browser.get("/check").status_code == 302
    assert _post_login(client, "basisschool-1", "correct horse") == 200
    assert _post_login(client, "basisschool-1", "battery staple") == 302
    changed_events = _events(core, "signin:password_changed")
    assert [e.details for e in changed_events] == [
        {"professional_id": changed_events[0].details["professional_id"], "by": "self",
         "sessions_ended": 2}]
    assert "battery" not in repr([(e.details, e.reason) for e in _events(core, "")])


def test_an_operator_password_change_ends_every_session(app: Flask, client: FlaskClient,
                                                        core: Core,
                                                        registry: RegistryService) -> None:
    make_member(registry, "school")
    assert _post_login(client, "basisschool-1", "correct horse") == 302
    key = SignInKey.load(core.settings.keys_dir)
    assert committed(core, SignInService, key).set_password(Actor.operator(), "basisschool-1",
                                                 "battery staple") == 1
    assert client.get("/check").status_code == 302


def test_privacy_officers_and_auditors_may_change_their_password_but_do_no_chain_work(
        client: FlaskClient, registry: RegistryService, core: Core) -> None:
    member = make_member(registry, "school")
    registry.add_professional(Actor.operator(), organisation=member.org, username="fg-1",
                              name="FG", role="privacy officer", password="correct horse",
                              access_role="privacy_officer")
    key = SignInKey.load(core.settings.keys_dir)
    secret = totp.from_base32(committed(core, SecondFactorService, key).enrol_directly(
            Actor.operator(),
                                                                            "fg-1"))
    assert _post_login(client, "fg-1", "correct horse") == 302
    client.post("/login/code", data={"code": totp.code_at(secret, totp.step_at(core.now())),
                                     "csrf": csrf(client, "/login/code")})
    assert client.get("/check").status_code == 403
    assert client.get("/account/password").status_code == 200
