"""The floor of a signed look-up (``scripts/bench_floor.py``) does the work it stands for.

The floor is what issue 13's targets are measured against, so it must be a real look-up: the
BSN it was given matches and no other; a request is refused when its digest, time, signature or
nonce is wrong, or when the limits or the quota are used up; and each look-up leaves what the
floor stands for — its nonces, windows and quota in the real Redis, one chained audit event in
the real PostgreSQL. The app is served over a socket pair by a thread, so the bench's own client
talks to it as it does in the bench.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from broker_primitives import oprf
from broker_primitives.httpsig.signatures import SignatureError, sign_response

from broker.pseudonyms.service import MAX_BATCH

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_floor  # scripts/ is not a package
from bench_floor import (
    RESPONSE_KEY_ID,
    FloorApp,
    FloorClient,
    FloorKeys,
    checked,
    setup,
    signed_request,
)
from bench_http import operations, psycopg_conninfo

from tests.pg_schemas import PREFIX
from tests.services import postgres_url, redis_url

BSNS = ("111222333", "123456782")
LIFETIME, SKEW = 300, 60  # a request signature's lifetime (as signed) and the allowed clock skew


@pytest.fixture
def conninfo() -> Iterator[str]:
    """A schema of its own on the test server, dropped afterwards; its libpq conninfo."""
    base = psycopg_conninfo(postgres_url())
    schema = f"{PREFIX}floor_{uuid.uuid4().hex[:10]}"  # the test runs' naming (tests.pg_schemas)
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store() -> Iterator[tuple[redis.Redis, str]]:
    """The test Redis and a prefix of this test's own for the floor's keys."""
    client = redis.Redis.from_url(redis_url())
    prefix = f"floor-test-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}/*"):
        client.delete(key)
    client.close()


def serve(app: Callable[..., list[bytes]], connection: socket.socket) -> None:
    """Answer HTTP/1.1 requests on ``connection`` with ``app`` until it closes."""
    stream = connection.makefile("rb")
    while head := stream.readline():
        method, path, _ = head.decode().split(" ")
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                                   "REMOTE_ADDR": "127.0.0.1"}
        while (line := stream.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            key = name.strip().upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = (
                value.strip())
        environ["wsgi.input"] = io.BytesIO(stream.read(int(environ["CONTENT_LENGTH"])))
        connection.sendall(answer(app, environ))


def answer(app: Callable[..., list[bytes]], environ: dict[str, Any]) -> bytes:
    """The HTTP/1.1 bytes of ``app``'s answer to ``environ``."""
    given: dict[str, Any] = {}
    body = b"".join(app(environ, lambda status, headers: given.update(
        status=status, headers=headers)))
    return f"HTTP/1.1 {given['status']}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in given["headers"]) + b"\r\n" + body


@dataclass
class Floor:
    """A floor app on one end of a socket pair and its client on the other."""

    client: FloorClient
    app: FloorApp
    keys: FloorKeys
    conninfo: str
    redis: redis.Redis
    prefix: str


@contextmanager
def running(conninfo: str, store: tuple[redis.Redis, str], **limits: int) -> Iterator[Floor]:
    keys = FloorKeys.generate()
    setup(conninfo, [keys.stored(BSNS[0]), *(hashlib.sha512(bytes([n])).digest()[:32]
                                             for n in range(50))])
    app = FloorApp(conninfo, redis_url(), keys, connections=1, prefix=store[1], **limits)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve, args=(app, theirs), daemon=True)
    server.start()
    client = FloorClient(ours, keys)
    try:
        yield Floor(client, app, keys, conninfo, *store)
    finally:
        client.close()
        theirs.close()
        server.join(timeout=5)


@pytest.fixture
def floor(conninfo: str, store: tuple[redis.Redis, str]) -> Iterator[Floor]:
    with running(conninfo, store) as started:
        yield started


def rows(conninfo: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as connection:
        return connection.execute(query).fetchall()


def status(floor: Floor, request: bytes) -> int:
    """Send raw request bytes on the client's connection; the answer's status."""
    return floor.client.exchange(request)[0]


def body(*elements: bytes) -> bytes:
    return json.dumps({"elements": [base64.b64encode(e).decode() for e in elements]}).encode()


def test_the_registered_bsn_matches_and_no_other(floor: Floor) -> None:
    assert floor.client.lookup(BSNS[0]) == [2]
    assert floor.client.lookup(BSNS[1]) == []


def test_a_look_up_records_its_nonces_windows_quota_and_one_event(floor: Floor) -> None:
    floor.client.lookup(BSNS[0])
    floor.client.lookup(BSNS[1])

    prefix, store = floor.prefix, floor.redis
    nonces = list(store.scan_iter(f"{prefix}/nonce/*"))
    assert len(nonces) == 4
    assert all(0 < store.ttl(nonce) <= LIFETIME + SKEW + 1 for nonce in nonces)
    assert int(store.get(f"{prefix}/org/1") or 0) == 4
    assert sorted(int(store.get(key) or 0) for key in store.scan_iter(f"{prefix}/ip/*")) == [2, 2]
    [quota] = store.scan_iter(f"{prefix}/quota/*")
    assert int(store.get(quota) or 0) == 2
    events = rows(floor.conninfo, "SELECT id, digest, body FROM floor_events ORDER BY id")
    assert [bytes(body) for _, _, body in events] == [b"registry:lookup 1", b"registry:lookup 0"]
    assert all(bytes(digest) == hashlib.sha256(bytes(body)).digest() for _, digest, body in events)


def test_a_nonce_is_kept_as_long_as_its_signature_could_be_accepted(floor: Floor) -> None:
    ahead = int(time.time()) + 50  # a client clock ahead of the server's, within the skew
    request, _ = signed_request(floor.keys, "/lookup", body(floor.keys.pseudonym(BSNS[0])),
                                created=ahead)
    assert status(floor, request) == 200
    [nonce] = floor.redis.scan_iter(f"{floor.prefix}/nonce/*")
    # until expires (created + 300) + the skew (60) + 1, not a lifetime from now
    assert floor.redis.ttl(nonce) >= 50 + LIFETIME + SKEW - 5


def test_a_replayed_tampered_late_or_foreign_request_is_refused_and_writes_no_event(
        floor: Floor) -> None:
    keys, other = floor.keys.pseudonym(BSNS[0]), floor.keys.pseudonym(BSNS[1])
    request, _ = signed_request(floor.keys, "/lookup", body(keys))
    assert status(floor, request) == 200

    assert status(floor, request) == 401  # the same nonce again
    fresh, _ = signed_request(floor.keys, "/lookup", body(keys))  # another valid body, same length
    assert status(floor, fresh.replace(body(keys), body(other))) == 401  # its Content-Digest
    assert status(floor, signed_request(FloorKeys.generate(), "/lookup", body(keys))[0]) == 401
    now = int(time.time())
    for created in (now - LIFETIME - SKEW - 5, now + SKEW + 5):  # expired; from the future
        late, _ = signed_request(floor.keys, "/lookup", body(keys), created=created)
        assert status(floor, late) == 401
    assert status(floor, signed_request(floor.keys, "/lookup", b'{"elements": ["AAAA"]}')[0]) == 400
    assert status(floor, signed_request(floor.keys, "/lookup", b'{"elements": []}')[0]) == 400
    too_many = body(*[keys] * (MAX_BATCH + 1))
    assert status(floor, signed_request(floor.keys, "/lookup", too_many)[0]) == 400
    assert status(floor, signed_request(floor.keys, "/other", body(keys))[0]) == 404

    assert rows(floor.conninfo, "SELECT count(*) FROM floor_events") == [(1,)]


def test_the_same_request_sent_twice_at_once_is_served_once(floor: Floor) -> None:
    raw, _ = signed_request(floor.keys, "/lookup", body(floor.keys.pseudonym(BSNS[0])))
    ours, theirs = socket.socketpair()  # a second connection to the same app
    server = threading.Thread(target=serve, args=(floor.app, theirs), daemon=True)
    server.start()
    second = FloorClient(ours, floor.keys)
    statuses: list[int] = []
    senders = [threading.Thread(target=lambda c=c: statuses.append(c.exchange(raw)[0]))
               for c in (floor.client, second)]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=10)
    finally:
        second.close()
        theirs.close()
        server.join(timeout=5)

    assert sorted(statuses) == [200, 401]
    assert rows(floor.conninfo, "SELECT count(*) FROM floor_events") == [(1,)]


def test_the_limits_and_the_quota_refuse_once_used_up(
        conninfo: str, store: tuple[redis.Redis, str]) -> None:
    with running(conninfo, store, limit=3, quota=1) as floor:
        blinded = oprf.blind(b"bsn|111222333")[1]
        assert status(floor, signed_request(floor.keys, "/evaluate", body(blinded))[0]) == 200
        assert status(floor, signed_request(floor.keys, "/evaluate", body(blinded))[0]) == 429
        [quota] = floor.redis.scan_iter(f"{floor.prefix}/quota/*")
        assert int(floor.redis.get(quota) or 0) == 1  # the refused batch was given back
        assert status(floor, signed_request(floor.keys, "/lookup", body(blinded))[0]) == 200
        assert status(floor, signed_request(floor.keys, "/lookup", body(blinded))[0]) == 429


def test_the_client_refuses_an_answer_tampered_with_or_signed_by_another_key(
        floor: Floor) -> None:
    raw, request = signed_request(floor.keys, "/lookup", body(floor.keys.pseudonym(BSNS[0])))
    code, headers, content = floor.client.exchange(raw)
    assert checked(floor.keys, (code, headers, content), request) == {"organisations": [2]}

    with pytest.raises(SignatureError):  # its Content-Digest no longer matches
        checked(floor.keys, (code, headers, content.replace(b"2", b"3")), request)
    forged = {"content-type": "application/json"}
    forged.update({name.lower(): value for name, value in sign_response(
        status=code, headers=forged, key_id=RESPONSE_KEY_ID,
        private_key=FloorKeys.generate().server, body=content, request=request,
        request_label="sig1").items()})
    with pytest.raises(SignatureError):
        checked(floor.keys, (code, forged, content), request)
    with pytest.raises(RuntimeError, match="429"):
        checked(floor.keys, (429, headers, content), request)


def test_the_servers_entry_point_builds_the_app_from_the_environment(
        conninfo: str, store: tuple[redis.Redis, str], monkeypatch: pytest.MonkeyPatch) -> None:
    keys = FloorKeys.generate()
    setup(conninfo, [keys.stored(BSNS[0])])
    for name, value in {"FLOOR_DATABASE": conninfo, "FLOOR_REDIS_URL": redis_url(),
                        "FLOOR_KEYS": keys.to_env(), "FLOOR_CONNECTIONS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(bench_floor, "_APP", None)
    raw, request = signed_request(keys, "/lookup", body(keys.pseudonym(BSNS[0])))
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve, args=(bench_floor.app, theirs), daemon=True)
    server.start()
    client = FloorClient(ours, keys)
    try:
        assert checked(keys, client.exchange(raw), request) == {"organisations": [2]}
    finally:
        client.close()
        theirs.close()
        server.join(timeout=5)
        for key in store[0].scan_iter("floor/*"):  # the app's default prefix
            if key.startswith(b"floor/nonce/") or key.startswith(b"floor/ip/"):
                store[0].delete(key)


def test_the_bench_refuses_the_floor_on_sqlite() -> None:
    args = argparse.Namespace(operation="floor", store="sqlite,postgres")
    with pytest.raises(SystemExit, match="PostgreSQL only"):
        operations(args, [1])
