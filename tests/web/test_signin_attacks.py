"""The security tester's sign-in findings (issue 11, item 1), replayed through the browser door."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.core import Core
from broker.registry.services import RegistryService
from tests.factories import make_member
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
    with core.unit_of_work() as session:
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
