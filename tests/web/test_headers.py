"""Browser headers on every response (issue 11, item 2): no framing, no sniffing, no referrer,
nothing stored, no inline script or style; HSTS over HTTPS; the ``__Host-`` session cookie."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.api.openapi import DOCS_STYLE
from broker.app import create_app
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import make_member
from tests.web.test_views import sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "broker" / "web" / "templates"


def _check(response_headers: object, path: str, *, static: bool = False) -> None:
    headers = dict(response_headers)  # type: ignore[call-overload]
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp, path
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp, path
    assert headers.get("X-Frame-Options") == "DENY", path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    if static:
        assert headers.get("Cache-Control") != "no-store", path
    else:
        assert headers.get("Cache-Control") == "no-store", path
    assert "Strict-Transport-Security" not in headers, path  # plain HTTP here


def test_a_page_cannot_be_framed(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_route_answers_with_the_headers(app: Flask, client: FlaskClient,
                                              registry: RegistryService) -> None:
    make_member(registry, "school")
    sign_in(client, "basisschool-1")
    seen = 0
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x").replace(f"<path:{argument}>", "x")
        path = re.sub(r"<[^>]+>", "x", path)
        static = rule.endpoint in ("static", "web.static")
        if static:
            path = path.replace("/x", "/broker.css")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            _check(response.headers, f"{method} {path} -> {response.status_code}",
                   static=static)
            seen += 1
    for path in ("/no-such-page", "/v1/no-such-thing"):  # 404s, from either door
        _check(client.get(path).headers, path)
    _check(client.delete("/check").headers, "DELETE /check (405)")
    assert seen >= 25


def test_pages_with_personal_data_are_not_stored(client: FlaskClient,
                                                 registry: RegistryService) -> None:
    make_member(registry, "school")
    sign_in(client, "basisschool-1")
    for path in ("/check", "/inbox", "/register", "/account/password"):
        response = client.get(path)
        assert response.status_code == 200
        _check(response.headers, path)
        assert ' style="' not in response.get_data(as_text=True), path


def test_templates_hold_no_inline_script_or_style() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))  # the officer's and auditor's folders too
    assert len(templates) >= 30
    for template in templates:
        text = template.read_text()
        assert "<script" not in text and "style=" not in text and "<style" not in text, template


def test_the_docs_page_style_is_allowed_by_its_hash(client: FlaskClient) -> None:
    response = client.get("/v1/docs")
    digest = base64.b64encode(hashlib.sha256(DOCS_STYLE.encode()).digest()).decode()
    assert f"<style>{DOCS_STYLE}</style>" in response.get_data(as_text=True)
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_hsts_over_https_only(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://broker.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_behind_a_trusted_proxy_that_says_https(make_app: AppMaker) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    trusting = make_app(BROKER_TRUSTED_PROXIES="127.0.0.1").test_client()
    assert "Strict-Transport-Security" in trusting.get("/login", headers=proxied).headers
    untrusting = make_app().test_client()  # anyone can send the header
    assert "Strict-Transport-Security" not in untrusting.get("/login", headers=proxied).headers


AppMaker = Callable[..., Flask]


@pytest.fixture
def make_app(core: Core, clock: FakeClock) -> Iterator[AppMaker]:
    """Apps on the test database with other ``BROKER_*`` settings (their cores disposed)."""
    made: list[Core] = []

    def make(**env: str) -> Flask:
        settings = Settings.from_env({"BROKER_HOME": str(core.settings.home),
                                      "BROKER_DATABASE_URL": core.settings.database_url,
                                      "BROKER_POLICY_DIR": str(core.settings.policy_dir), **env})
        made.append(Core(settings, clock=clock, notices=InboxNotices()))
        return create_app(core=made[-1], TESTING=True)

    yield make
    for other in made:
        other.dispose()


def _set_cookie(app: Flask, base_url: str) -> str:
    client = app.test_client()
    response = client.get("/login", base_url=base_url)
    return response.headers["Set-Cookie"]


def test_the_session_cookie_is_host_prefixed_and_secure_behind_https(make_app: AppMaker
                                                                     ) -> None:
    cookie = _set_cookie(make_app(BROKER_BASE_URL="https://broker.example"),
                         "https://broker.example")
    assert cookie.startswith("__Host-session=")
    attributes = [part.strip() for part in cookie.split(";")]
    assert "Secure" in attributes and "HttpOnly" in attributes and "Path=/" in attributes
    assert "SameSite=Lax" in attributes and not any(a.startswith("Domain") for a in attributes)
    # BROKER_COOKIE_SECURE=1 still works on its own.
    cookie = _set_cookie(make_app(BROKER_COOKIE_SECURE="1"), "https://broker.example")
    assert cookie.startswith("__Host-session=") and "Secure" in cookie


def test_over_plain_http_the_cookie_is_honest_about_it(make_app: AppMaker,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    cookie = _set_cookie(make_app(), "http://127.0.0.1:5000")
    assert cookie.startswith("session=") and "Secure" not in cookie
    assert "not Secure" not in caplog.text  # the embedded default, on this machine only
    with caplog.at_level(logging.WARNING, logger="broker.web"):
        make_app(BROKER_BASE_URL="http://broker.example")
    assert "the session cookie is not Secure" in caplog.text
