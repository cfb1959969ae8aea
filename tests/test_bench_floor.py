"""The floor of a signed look-up (``scripts/bench_floor.py``) does the work it stands for.

The floor is what issue 13's targets are measured against, so it must be a real look-up: the
BSN it was given matches and no other, each request is refused when its signature, digest or
nonce is wrong, and each request writes what the broker's rules make it write — the nonce, the
quota, a chained audit event — in the server's real PostgreSQL and Redis. The app is served over
a socket pair by a thread, so the bench's own client talks to it as it does in the bench.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench_floor import (  # scripts/ is not a package
    FloorApp,
    FloorClient,
    FloorKeys,
    setup,
    signed_request,
)
from bench_http import operations

from tests.services import postgres_url, redis_url

BSNS = ("111222333", "123456782")


@pytest.fixture
def conninfo() -> Iterator[str]:
    """A schema of its own on the test server, dropped afterwards; its libpq conninfo."""
    url = make_url(postgres_url()).set(drivername="postgresql")
    base = url.render_as_string(hide_password=False)
    schema = f"floor_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    yield client
    for key in client.scan_iter("floor/*"):
        client.delete(key)
    client.close()


def serve(app: FloorApp, connection: socket.socket) -> None:
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


def answer(app: FloorApp, environ: dict[str, Any]) -> bytes:
    """The HTTP/1.1 bytes of ``app``'s answer to ``environ``."""
    given: dict[str, Any] = {}
    body = b"".join(app(environ, lambda status, headers: given.update(
        status=status, headers=headers)))
    return f"HTTP/1.1 {given['status']}\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in given["headers"]) + b"\r\n" + body


@pytest.fixture
def floor(conninfo: str, store: redis.Redis) -> Iterator[tuple[FloorClient, FloorKeys, str]]:
    """The floor's app on one end of a socket pair, its client on the other."""
    keys = FloorKeys.generate()
    setup(conninfo, [keys.stored(BSNS[0]), *(hashlib.sha512(bytes([n])).digest()[:32]
                                             for n in range(50))])
    app = FloorApp(conninfo, redis_url(), keys, connections=1)
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=serve, args=(app, theirs), daemon=True)
    server.start()
    client = FloorClient(ours, keys)
    yield client, keys, conninfo
    client.close()
    theirs.close()
    server.join(timeout=5)


def rows(conninfo: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as connection:
        return connection.execute(query).fetchall()


def exchange(client: FloorClient, request: bytes) -> int:
    """Send raw request bytes on the client's connection; the answer's status."""
    status, _, _ = client.exchange(request)
    return status


def test_the_registered_bsn_matches_and_no_other(floor: Any) -> None:
    client, _, _ = floor
    assert client.lookup(BSNS[0]) == [2]
    assert client.lookup(BSNS[1]) == []


def test_each_request_records_its_nonce_limits_quota_and_a_chained_event(
        floor: Any, store: redis.Redis) -> None:
    client, _, conninfo = floor
    client.lookup(BSNS[0])

    assert len(rows(conninfo, "SELECT * FROM floor_nonces")) == 2
    assert rows(conninfo, "SELECT used FROM floor_quota") == [(1,)]
    events = rows(conninfo, "SELECT seq, hash, body FROM floor_events ORDER BY seq")
    assert [(seq, bytes(body)) for seq, _, body in events] == [
        (1, b"pseudonym:evaluated 1"), (2, b"registry:lookup 1")]
    previous = b"\x00"
    for _, digest, body in events:  # each hash chains the one before
        assert bytes(digest) == hashlib.sha256(previous + bytes(body)).digest()
        previous = bytes(digest)
    assert rows(conninfo, "SELECT seq, hash FROM floor_head") == [(2, previous)]
    assert int(store.get("floor/org/1") or 0) == 2


def test_a_replayed_tampered_or_foreign_request_is_refused_and_writes_no_event(
        floor: Any) -> None:
    client, keys, conninfo = floor
    pseudonym = b'{"elements": ["' + base64.b64encode(keys.stored(BSNS[0])) + b'"]}'
    request, _ = signed_request(keys, "/lookup", pseudonym)
    assert exchange(client, request) == 200

    assert exchange(client, request) == 401  # the same nonce again
    tampered, _ = signed_request(keys, "/lookup", pseudonym)
    assert exchange(client, tampered.replace(b'"elements"', b'"elementz"')) == 400
    stranger = FloorKeys.generate()
    assert exchange(client, signed_request(stranger, "/lookup", pseudonym)[0]) == 401
    assert exchange(client, signed_request(keys, "/lookup", b'{"elements": ["AAAA"]}')[0]) == 400
    assert exchange(client, signed_request(keys, "/other", pseudonym)[0]) == 404

    assert rows(conninfo, "SELECT count(*) FROM floor_events") == [(1,)]


def test_the_bench_refuses_the_floor_on_sqlite() -> None:
    args = argparse.Namespace(operation="floor", store="sqlite,postgres")
    with pytest.raises(SystemExit, match="PostgreSQL only"):
        operations(args, [1])
