"""A lost database or Redis is answered 503 with ``Retry-After``, never 500: a signed problem on
the API, a calm bilingual page on the web; and the broker recovers without a restart.

The stores are really unreachable here (connections to a port nobody listens on); the live test
(tests/test_outage_live.py) stops real PostgreSQL and Redis servers under load.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from broker_primitives.httpsig.signatures import RequestMessage, verify_response
from flask import Flask
from werkzeug.test import TestResponse

from broker.app import create_app
from broker.core import Core
from broker.db import make_engine, make_session_factory
from tests.api.door import ORIGIN, Door
from tests.api.live import Organisation, broker_public_key, enrol
from tests.notifications.helpers import free_port

INBOX = "/v1/inbox?professional=vt-a-p"


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """SQLite: the outage is made by pointing the broker at a database server that is gone."""
    return f"sqlite:///{tmp_path / 'broker.db'}"


@contextmanager
def database_gone(core: Core) -> Iterator[None]:
    """While the block runs, the core's database is a PostgreSQL server nobody runs."""
    engine, sessions = core.engine, core.sessions
    core.engine = make_engine(f"postgresql+psycopg://broker@127.0.0.1:{free_port()}/broker",
                              connect_args={"connect_timeout": 2})
    core.sessions = make_session_factory(core.engine)
    try:
        yield
    finally:
        core.engine.dispose()
        core.engine, core.sessions = engine, sessions


@pytest.fixture
def org(core: Core) -> Organisation:
    """Veilig Thuis with an API key, and a signed-in-able professional."""
    return enrol(core, "vt-a", "veilig_thuis")


@pytest.fixture
def redis_gone(core: Core) -> Flask:
    """The broker configured with a Redis that does not answer."""
    settings = core.settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    core.settings = settings
    return create_app(core=core)


def assert_api_outage(core: Core, response: TestResponse, method: str, path: str,
                      headers: dict[str, str] | None) -> None:
    """A signed 503 problem with Retry-After, bound to the request (and its signature)."""
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json is not None
    assert response.json["type"] == "urn:broker:problem:service-unavailable"
    assert "Idempotency-Key" in response.json["detail"]
    public = broker_public_key(core)
    verify_response(status=503, headers=response.headers, body=response.get_data(),
                    resolve_key=lambda key_id: public if key_id == "broker-api-1" else None,
                    request=RequestMessage(method, ORIGIN + path, headers or {}),
                    request_label="sig1" if headers else None)


def assert_outage_page(response: TestResponse) -> None:
    """The calm page: 503, Retry-After, Dutch first and English too, nothing technical."""
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert "Even geen verbinding" in page and "Temporarily unavailable" in page
    for technical in ("Traceback", "OperationalError", "Redis", "PostgreSQL", "500"):
        assert technical not in page


def signed_send(app: Flask, org: Organisation, method: str, path: str,
                body: Any = None) -> tuple[TestResponse, dict[str, str]]:
    """A signed request; returns the answer and the request's headers."""
    door = Door(app, org)
    return door.send(method, path, body), door.last_headers


def test_api_answers_503_while_the_database_is_gone_and_recovers(
        core: Core, app: Flask, org: Organisation) -> None:
    with database_gone(core):
        response, headers = signed_send(app, org, "GET", INBOX)
        assert_api_outage(core, response, "GET", INBOX, headers)
        body = {"involvements": [{"professional": "vt-a-p", "purpose": "protection",
                                  "matching_keys": []}]}
        response, headers = signed_send(app, org, "POST", "/v1/involvements", body)
        assert_api_outage(core, response, "POST", "/v1/involvements", headers)
    response, _ = signed_send(app, org, "GET", INBOX)
    assert response.status_code == 200


def test_api_answers_503_while_redis_is_gone(core: Core, redis_gone: Flask,
                                             org: Organisation) -> None:
    response, headers = signed_send(redis_gone, org, "GET", INBOX)
    assert_api_outage(core, response, "GET", INBOX, headers)
    unsigned = redis_gone.test_client().get(INBOX)
    assert_api_outage(core, unsigned, "GET", INBOX, None)


def test_the_apis_outage_problem_speaks_dutch_when_asked(core: Core, redis_gone: Flask) -> None:
    """The 503's text comes from the catalogue like every other problem's: English by default,
    Dutch for Accept-Language: nl."""
    client = redis_gone.test_client()
    english = client.get(INBOX).json
    dutch = client.get(INBOX, headers={"Accept-Language": "nl"}).json
    assert english is not None and dutch is not None
    assert english["detail"].startswith("The broker cannot reach its database")
    assert dutch["detail"].startswith("De makelaar kan zijn database")
    assert "Idempotency-Key" in dutch["detail"]


def test_the_web_shows_a_calm_page_while_redis_is_gone(redis_gone: Flask) -> None:
    client = redis_gone.test_client()
    for path in ("/", "/login"):
        assert_outage_page(client.get(path))
    assert_outage_page(client.post("/login", data={"username": "x", "password": "y"}))


def test_the_web_shows_a_calm_page_while_the_database_is_gone(core: Core, app: Flask,
                                                              org: Organisation) -> None:
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    with database_gone(core):
        response = client.post("/login", data={"username": "vt-a-p", "password": "wrong",
                                               "csrf": csrf})
        assert_outage_page(response)
    # Recovered without a restart: the same request is answered again.
    response = client.post("/login", data={"username": "vt-a-p", "password": "wrong",
                                           "csrf": csrf})
    assert response.status_code == 200


def test_the_outage_page_is_in_english_too(redis_gone: Flask) -> None:
    page = redis_gone.test_client().get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Try again in a moment" in page
