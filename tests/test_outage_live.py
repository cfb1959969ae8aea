"""PostgreSQL and then Redis stopped under load, and started again: the broker answers every
request 200/201 or a signed 503 with ``Retry-After`` (never a 500), writes nothing by halves,
and recovers without a restart; the shipped client retries through it with one Idempotency-Key.

Everything runs in processes this test starts itself: a private PostgreSQL cluster and a private
redis-server on free ports (tests/private_servers.py), and the broker under gunicorn with two
workers. The machine's shared servers are never touched.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pysodium
import pytest
from broker_client.transport import SignedTransport
from broker_primitives.httpsig.signatures import RequestMessage, SignatureError, verify_response
from nacl.signing import VerifyKey
from sqlalchemy import func, select

from broker.api.schemas import b64url
from broker.audit.services import Actor
from broker.audit.verification import verify_log
from broker.config import Settings
from broker.core import Core
from broker.registry.models import Involvement
from broker.setup import initialise
from tests.api.live import Organisation, broker_public_key, enrol, signed
from tests.api.processes import gunicorn
from tests.conftest import OPEN_POLICY
from tests.outage_servers import PrivatePostgres, PrivateRedis, private_postgres, private_redis

pytestmark = pytest.mark.slow

LOAD_THREADS = 3
OUTAGE_SECONDS = 4.0
INBOX = "/v1/inbox?professional=vt-a-p"


def registration(professional: str) -> dict[str, Any]:
    """One involvement on a random (valid) matching key."""
    element = b64url(pysodium.crypto_core_ristretto255_random())
    return {"involvements": [{"professional": professional, "purpose": "protection",
                              "matching_keys": [{"category": "person", "element": element,
                                                 "key_epoch": 1}]}]}


def lookup_body() -> dict[str, Any]:
    """A look-up of a random household."""
    element = b64url(pysodium.crypto_core_ristretto255_random())
    return {"matching_keys": [{"category": "address", "element": element, "key_epoch": 1}],
            "purpose": "protection", "basis": "legal_task", "statute": "jeugdwet_7_1_1"}


@dataclass
class Answer:
    """One request sent under load and what came back."""

    phase: str
    kind: str
    key: str | None
    body: Any
    status: int
    retry_after: str | None = None
    content_type: str = ""
    problem_type: str | None = None
    signed: str = ""  # "" when bound and verified, else why not
    #: The phase when the answer came: a request sent during an outage may wait in the
    #: broker's store client (redis-py retries with backoff) until the store is back.
    answered: str = ""


@dataclass
class Load:
    """Client threads sending signed requests, each once (no retries), recording each answer."""

    base: str
    org: Organisation
    public_key: VerifyKey
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, number: int) -> None:
        """Send look-ups, registrations and inbox reads in turn until stopped."""
        kinds = ["register", "lookup", "inbox"]
        with httpx.Client(timeout=30) as client:
            turn = number
            while not self.stop.is_set():
                kind = kinds[turn % len(kinds)]
                turn += 1
                try:
                    self.answers_one(client, kind)
                except httpx.HTTPError as exc:  # the broker must always answer
                    self.failures.append(f"{kind}: {type(exc).__name__}: {exc}")

    def answers_one(self, client: httpx.Client, kind: str) -> Answer:
        """Send one request of ``kind``; record and return the answer."""
        phase, key = self.phase, None
        if kind == "inbox":
            method, path, body = "GET", INBOX, None
        else:
            key = str(uuid.uuid4())
            method = "POST"
            path, body = (("/v1/involvements", registration(self.org.professional))
                          if kind == "register" else ("/v1/lookups", lookup_body()))
        return self.send(client, phase, kind, method, path, body, key)

    def send(self, client: httpx.Client, phase: str, kind: str, method: str, path: str,
             body: Any, key: str | None) -> Answer:
        """Sign, send, verify the broker's signature and binding, record."""
        extra = {"Idempotency-Key": key} if key else {}
        url, headers, raw = signed(self.base, self.org, method, path, body, extra_headers=extra)
        response = client.request(method, url, headers=headers, content=raw)
        answer = Answer(phase, kind, key, body, response.status_code,
                        response.headers.get("retry-after"),
                        response.headers.get("content-type", ""), answered=self.phase)
        if response.status_code >= 400 and "json" in answer.content_type:
            answer.problem_type = response.json().get("type")
        try:
            verify_response(status=response.status_code, headers=response.headers,
                            body=response.content,
                            resolve_key=lambda k: self.public_key if k == "broker-api-1" else None,
                            request=RequestMessage(method, url, headers), request_label="sig1")
        except SignatureError as exc:
            answer.signed = exc.code
        with self.lock:
            self.answers.append(answer)
        return answer

    def in_phase(self, phase: str) -> list[Answer]:
        """The answers to requests sent during ``phase``."""
        with self.lock:
            return [answer for answer in self.answers if answer.phase == phase]

    def wait_for_success(self, phase: str, timeout: float = 90) -> None:
        """Block until a request sent during ``phase`` was answered 2xx."""
        deadline = time.monotonic() + timeout
        while not any(a.status < 300 for a in self.in_phase(phase)):
            assert time.monotonic() < deadline, f"no success in phase {phase}"
            time.sleep(0.1)


class Recording(httpx.HTTPTransport):
    """The real HTTP transport, noting what each attempt sent and got back."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[tuple[str | None, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send; remember the Idempotency-Key, the signature and the status."""
        response = super().handle_request(request)
        self.attempts.append((request.headers.get("idempotency-key"),
                              request.headers["signature"], response.status_code))
        return response


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``work`` in a thread; its result or exception lands in the returned dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:  # reported by the test's assertions
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@dataclass
class Stack:
    """The private servers, the broker's settings and an enrolled organisation."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    core: Core
    org: Organisation


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Private PostgreSQL and Redis, a migrated database, keys and an organisation."""
    with private_postgres() as postgres, private_redis() as redis_server:
        home = tmp_path / "home"
        home.mkdir()
        settings = Settings.from_env({
            "BROKER_HOME": str(home), "BROKER_DATABASE_URL": postgres.url,
            "BROKER_POLICY_DIR": str(OPEN_POLICY), "BROKER_REDIS_URL": redis_server.url})
        core = Core(settings)
        initialise(core, Actor.operator("test"))
        org = enrol(core, "vt-a", "veilig_thuis")
        try:
            yield Stack(postgres, redis_server, core, org)
        finally:
            core.dispose()


def csrf_of(page: str) -> str:
    """The CSRF token in a form."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def assert_outage_page(response: httpx.Response) -> None:
    """The web's calm 503 page."""
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["retry-after"]) > 0
    assert "Even geen verbinding" in response.text


def test_the_broker_answers_honestly_through_database_and_redis_outages(
        stack: Stack, tmp_path: Path) -> None:
    public_key = broker_public_key(stack.core)
    extra = {"BROKER_API_IP_RATE": "1000000/minute", "BROKER_API_ORG_RATE": "1000000/minute",
             "BROKER_AUDIT_CHECKPOINT_INTERVAL": "1"}
    with gunicorn(stack.core.settings, workers=2, extra=extra,
                  log=tmp_path / "gunicorn.log") as server:
        load = Load(server.base, stack.org, public_key)
        threads = [threading.Thread(target=load.run, args=(n,), daemon=True)
                   for n in range(LOAD_THREADS)]
        browser = httpx.Client(base_url=server.base, timeout=30)
        csrf = csrf_of(browser.get("/login").text)
        for thread in threads:
            thread.start()
        load.wait_for_success("before")

        # -- PostgreSQL stops -------------------------------------------------------------
        stack.postgres.stop()
        load.phase = "database down"
        recording = Recording()
        client = SignedTransport(server.base, stack.org.key_id, stack.org.key,
                                 broker_key=public_key, retries=40, transport=recording)
        shipped, outcome = in_thread(lambda: client.request(
            "POST", "/v1/involvements", registration(stack.org.professional),
            idempotency_key="shipped-client-1"))
        assert_outage_page(browser.post("/login", data={"username": "vt-a-p",
                                                        "password": "wrong", "csrf": csrf}))
        time.sleep(OUTAGE_SECONDS)
        load.phase = "database starting"
        stack.postgres.start()
        load.phase = "database back"
        load.wait_for_success("database back")
        assert browser.post("/login", data={"username": "vt-a-p", "password": "wrong",
                                            "csrf": csrf}).status_code < 500

        # -- Redis stops ------------------------------------------------------------------
        stack.redis.stop()
        load.phase = "redis down"
        for path in ("/", "/login"):
            assert_outage_page(browser.get(path))
        time.sleep(OUTAGE_SECONDS)
        load.phase = "redis starting"
        stack.redis.start()
        load.phase = "redis back"
        load.wait_for_success("redis back")
        assert browser.get("/login").status_code == 200
        time.sleep(1)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        shipped.join(timeout=120)
        client.close()
        browser.close()
        assert server.process.poll() is None, "the broker was restarted or stopped"
        served_by = server.process.pid

        # Every answer: 2xx, or a signed 503 problem with Retry-After; each signed and bound.
        assert load.failures == []
        answers = load.answers
        assert {a.status for a in answers} <= {200, 201, 503}, \
            sorted({(a.status, a.problem_type) for a in answers} - {(200, None), (201, None)})
        assert [a for a in answers if a.signed] == []
        for answer in answers:
            if answer.status == 503:
                assert answer.content_type == "application/problem+json"
                assert answer.problem_type == "urn:broker:problem:service-unavailable"
                assert answer.retry_after is not None and int(answer.retry_after) > 0
        for phase in ("database down", "redis down"):
            # Sent and answered while the store was down: refused, never served. (A request
            # that waited until the store was back may be served, honestly.)
            during = [a for a in load.in_phase(phase) if a.answered == phase]
            assert during and all(a.status == 503 for a in during), phase
        for phase in ("before", "database back", "redis back"):
            assert any(a.status < 300 for a in load.in_phase(phase)), phase

        # The shipped client waited Retry-After and retried with the same Idempotency-Key.
        assert "error" not in outcome, outcome.get("error")
        assert outcome["result"].status == 201
        keys = {key for key, _, _ in recording.attempts}
        statuses = [status for _, _, status in recording.attempts]
        assert keys == {"shipped-client-1"}
        assert statuses[0] == 503 and statuses[-1] == 201 and len(statuses) >= 2
        assert len({signature for _, signature, _ in recording.attempts}) == len(statuses)

        # Nothing half-written: each registration refused with 503 is sent again with its
        # key; then there is exactly one involvement per key, and the audit log verifies.
        registered = {a.key: a.body for a in answers if a.kind == "register"}
        succeeded = {a.key for a in answers if a.kind == "register" and a.status == 201}
        with httpx.Client(timeout=30) as again:
            for key, body in registered.items():
                if key not in succeeded:
                    answer = load.send(again, "after", "register", "POST", "/v1/involvements",
                                       body, key)
                    assert answer.status == 201, answer
        assert server.process.pid == served_by

    with stack.core.session() as session:
        stored = session.scalar(select(func.count()).select_from(Involvement))
    assert stored == len(registered) + 1  # and the shipped client's one
    with stack.core.transaction() as connection:
        report = verify_log(connection, stack.core.audit_key())
    assert report.ok, report.problem
