"""The floor of a signed look-up over HTTP on this stack: what issue 13's targets leave room for.

A look-up is two signed requests (evaluate, then look up). Whatever code serves them, some work
cannot be taken away. This module does that work and nothing else, in the cheapest form issue 13
itself allows. ``scripts/bench --only http --operation floor`` runs it under the server the bench
serves the broker with (gunicorn with the broker's config module, or Granian: ``--server``),
against the same PostgreSQL server and the same Redis as the real look-up. It shows how much CPU
per look-up the parts themselves take:

- the client (:meth:`FloorClient.lookup`): per look-up it blinds one BSN, sends the evaluation,
  checks the answer's digest and signature, unblinds, sends the look-up and checks that answer
  too. Each request is signed with Ed25519 over its method, path, body digest, time and nonce,
  and carries an Idempotency-Key. One kept-alive connection, written and read with bare sockets;
- the server (:class:`FloorApp`, a bare WSGI callable), per request: it reads the body, checks
  its SHA-256 digest, the time and the Ed25519 signature, makes one Redis script call (the
  nonce, refused when seen before; the per-minute windows of address and organisation; and,
  for an evaluation, the daily quota: issue 13 allows all of them "in one Redis round trip"),
  and signs its answer. The evaluation evaluates the blinded element under k. The look-up
  multiplies by b and runs one statement, committed on its own: the index probe and the
  audit event of what it found, inserted with a unique id (chaining it is left to a sequencer
  working in batches, as issue 13 §3 allows). That is the floor as the issue defines it: "the
  scalar multiplications, the index probe and the one durable audit append with its commit
  that every look-up must make". The database is reached through its Unix socket where the
  server has one on this machine (:func:`bench_http.floor_conninfo`), which costs less than TCP.

It is a lower bound, not a second broker. The broker does more than this, by its own rules: it
keeps nonces in its database, durable across a restart of Redis (broker.callers.replay); it
audits each evaluation with the quota it used; it chains each event as it appends it, with
Merkle state and the event's subjects; it parses RFC 9421's structured fields; it evaluates its
policy, counts misuse, answers problems with bodies and keeps metrics. None of that is here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from broker_primitives import oprf
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ORGANISATION = 1
QUOTA = 1_000_000_000  # evaluations a day
LIMIT = 1_000_000_000  # requests a minute, per address and per organisation
MAX_AGE = 300  # seconds a signature's time may differ from the server's; its nonce is kept so long

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                         digest bytea NOT NULL, body bytea NOT NULL);
CREATE TABLE IF NOT EXISTS floor_keys (value bytea NOT NULL, organisation int NOT NULL);
CREATE INDEX IF NOT EXISTS floor_keys_value ON floor_keys (value);
"""

# The look-up's one statement, committed on its own: the index probe, and the audit event of
# what it found, inserted with a unique id and its digest. No chain head is taken: as issue 13
# §3 allows (Certificate Transparency's way), a sequencer would chain the committed events in
# batches later, a cost shared by many look-ups and left out of the floor.
LOOKUP = """
WITH found AS (SELECT organisation FROM floor_keys WHERE value = ANY(%(values)s)),
event AS (SELECT convert_to('registry:lookup ' || count(*), 'UTF8') AS body FROM found),
appended AS (INSERT INTO floor_events (digest, body) SELECT sha256(body), body FROM event)
SELECT organisation FROM found
"""

# One round trip per request: the nonce (refused when seen: -1), the address's and the
# organisation's windows (refused over LIMIT: -2), and for an evaluation the day's quota
# (refused, and given back, over QUOTA: -3); 0 when all pass.
ADMIT = """
if not redis.call("set", KEYS[1], "1", "NX", "EX", ARGV[1]) then return -1 end
for i = 2, 3 do
    local current = redis.call("incr", KEYS[i])
    if current == 1 then redis.call("expire", KEYS[i], 60) end
    if current > tonumber(ARGV[2]) then return -2 end
end
if KEYS[4] then
    local used = redis.call("incrby", KEYS[4], ARGV[3])
    if used == tonumber(ARGV[3]) then redis.call("expire", KEYS[4], 86400) end
    if used > tonumber(ARGV[4]) then
        redis.call("decrby", KEYS[4], ARGV[3])
        return -3
    end
end
return 0
"""
REFUSALS = {-1: "401 Unauthorized", -2: "429 Too Many Requests", -3: "429 Too Many Requests"}


def setup(conninfo: str, keys: Iterable[bytes]) -> None:
    """The floor's tables in ``conninfo``'s database, holding ``keys`` as stored matching keys."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor, cursor.copy(
                "COPY floor_keys (value, organisation) FROM STDIN") as copy:
            for value in keys:
                copy.write_row((value, 2))


def signature_base(method: str, path: str, digest: str, created: str, nonce: str) -> bytes:
    """What a request's signature covers."""
    return f"{method}\n{path}\n{digest}\n{created}\n{nonce}".encode()


def answer_base(status: int, digest: str, request_signature: str) -> bytes:
    """What an answer's signature covers: its status, body digest and the request's signature."""
    return f"{status}\n{digest}\n{request_signature}".encode()


@dataclass(frozen=True)
class FloorKeys:
    """The keys both sides hold: the client's signing key, the server's, k and b."""

    client: SigningKey
    server: SigningKey
    k: bytes
    b: bytes

    @classmethod
    def from_env(cls, env: dict[str, str]) -> FloorKeys:
        """From ``FLOOR_KEYS`` (hex seeds and scalars, comma-separated)."""
        client, server, k, b = (bytes.fromhex(x) for x in env["FLOOR_KEYS"].split(","))
        return cls(SigningKey(client), SigningKey(server), k, b)

    def to_env(self) -> str:
        """The value of ``FLOOR_KEYS``."""
        return ",".join(x.hex() for x in (bytes(self.client), bytes(self.server), self.k, self.b))

    @classmethod
    def generate(cls) -> FloorKeys:
        """Fresh keys for one run."""
        return cls(SigningKey.generate(), SigningKey.generate(), oprf.generate_key(),
                   oprf.generate_key())

    def pseudonym(self, bsn: str) -> bytes:
        """A BSN's pseudonym, as the client holds it after unblinding: ``k·H(bsn)``."""
        return oprf.scalar_mult(self.k, oprf.hash_to_group(f"bsn|{bsn}".encode()))

    def stored(self, bsn: str) -> bytes:
        """The stored matching key of a BSN: ``b·k·H(bsn)``."""
        return oprf.scalar_mult(self.b, self.pseudonym(bsn))


class Refused(Exception):
    """A request the floor does not serve: its status."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class FloorApp:
    """The bare WSGI server of the floor (the module's text)."""

    def __init__(self, conninfo: str, redis_url: str, keys: FloorKeys, connections: int, *,
                 limit: int = LIMIT, quota: int = QUOTA, prefix: str = "floor") -> None:
        """Serve with ``connections`` connections to ``conninfo``'s database, opened now (so
        that their backends are there before a bench watches them), and ``redis_url``, its
        keys under ``prefix``."""
        self._connections: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
        for _ in range(connections):
            self._connections.put(psycopg.connect(conninfo, autocommit=True,
                                                  prepare_threshold=0))
        self._admit = redis.Redis.from_url(redis_url).register_script(ADMIT)
        self._client_key: VerifyKey = keys.client.verify_key
        self._server_key = keys.server
        self._k, self._b = keys.k, keys.b
        self._limit, self._quota, self._prefix = limit, quota, prefix

    @classmethod
    def from_env(cls) -> FloorApp:
        """As the server loads it: ``FLOOR_DATABASE``, ``FLOOR_REDIS_URL``, ``FLOOR_KEYS``,
        ``FLOOR_CONNECTIONS`` (one per worker thread)."""
        return cls(os.environ["FLOOR_DATABASE"], os.environ["FLOOR_REDIS_URL"],
                   FloorKeys.from_env(dict(os.environ)),
                   int(os.environ.get("FLOOR_CONNECTIONS", "4")))

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> list[bytes]:
        """One request: checked, served and signed, or refused with a bare status."""
        try:
            status, body = self._serve(environ)
        except Refused as refused:
            start_response(refused.status, [("Content-Length", "0")])
            return []
        digest = hashlib.sha256(body).hexdigest()
        signature = self._server_key.sign(
            answer_base(status, digest, environ["HTTP_X_SIGNATURE"])).signature.hex()
        start_response(f"{status} OK", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("X-Digest", digest), ("X-Signature", signature)])
        return [body]

    def _serve(self, environ: dict[str, Any]) -> tuple[int, bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if method != "POST" or path not in ("/evaluate", "/lookup"):
            raise Refused("404 Not Found")
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            digest, created, nonce = (environ["HTTP_X_DIGEST"], environ["HTTP_X_CREATED"],
                                      environ["HTTP_X_NONCE"])
            signature = bytes.fromhex(environ["HTTP_X_SIGNATURE"])
        except (KeyError, ValueError):
            raise Refused("401 Unauthorized") from None
        if hashlib.sha256(body).hexdigest() != digest:
            raise Refused("400 Bad Request")
        now = int(time.time())
        if not (created.isascii() and created.isdigit()) or abs(now - int(created)) > MAX_AGE:
            raise Refused("401 Unauthorized")
        try:
            self._client_key.verify(signature_base(method, path, digest, created, nonce),
                                    signature)
        except (BadSignatureError, ValueError):  # ValueError: not 64 bytes
            raise Refused("401 Unauthorized") from None
        try:
            elements = [base64.b64decode(e, validate=True) for e in json.loads(body)["elements"]]
        except (ValueError, KeyError, TypeError):
            raise Refused("400 Bad Request") from None
        prefix = self._prefix
        windows = [f"{prefix}/nonce/{nonce}",
                   f"{prefix}/ip/{path}/{environ.get('REMOTE_ADDR', '')}",
                   f"{prefix}/org/{ORGANISATION}"]
        charge: list[int] = []
        if path == "/evaluate":
            windows.append(f"{prefix}/quota/{ORGANISATION}/{time.strftime('%Y-%m-%d')}")
            charge = [len(elements), self._quota]
        # The nonce is kept as long as its signature could be accepted: until created + MAX_AGE
        # (a request dated ahead of this clock is kept the longer).
        kept = int(created) + MAX_AGE - now + 1
        if (admitted := int(self._admit(windows, [kept, self._limit, *charge]))) != 0:
            raise Refused(REFUSALS[admitted])
        try:
            answer = (self._evaluate(elements) if path == "/evaluate"
                      else self._lookup(elements))
        except oprf.OprfError:
            raise Refused("400 Bad Request") from None
        return 200, json.dumps(answer).encode()

    def _evaluate(self, blinded: list[bytes]) -> dict[str, Any]:
        evaluated = oprf.blind_evaluate_batch(self._k, blinded)
        return {"elements": [base64.b64encode(e).decode() for e in evaluated]}

    def _lookup(self, pseudonyms: list[bytes]) -> dict[str, Any]:
        # libsodium refuses a pseudonym that is no valid element (InvalidElementError: 400)
        values = [oprf.scalar_mult_trusted(self._b, p) for p in pseudonyms]
        connection = self._connections.get()
        try:
            found = {row[0] for row in connection.execute(LOOKUP, {"values": values})}
        finally:
            self._connections.put(connection)
        return {"organisations": sorted(found)}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The server's entry point (``bench_floor:app``): the app built from the environment on
    the first request of each worker process (once, whichever thread comes first)."""
    global _APP  # noqa: PLW0603 - one app per worker process
    if _APP is None:
        with _BUILDING:
            if _APP is None:
                _APP = FloorApp.from_env()
    return _APP(environ, start_response)


_APP: FloorApp | None = None
_BUILDING = threading.Lock()


# -- the client ------------------------------------------------------------------------------------


def signed_request(keys: FloorKeys, path: str, body: bytes) -> tuple[bytes, str]:
    """The bytes of one signed POST (HTTP/1.1, kept alive) and its signature (hex)."""
    digest = hashlib.sha256(body).hexdigest()
    created, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = keys.client.sign(
        signature_base("POST", path, digest, created, nonce)).signature.hex()
    head = (f"POST {path} HTTP/1.1\r\nHost: broker\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Digest: {digest}\r\nX-Created: {created}\r\n"
            f"X-Nonce: {nonce}\r\nX-Signature: {signature}\r\n"
            f"Idempotency-Key: {uuid.uuid4()}\r\n\r\n")
    return head.encode() + body, signature


def read_answer(stream: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 answer on ``stream``."""
    status_line = stream.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    return int(status_line.split()[1]), headers, stream.read(int(headers["content-length"]))


def checked(keys: FloorKeys, answer: tuple[int, dict[str, str], bytes], request_signature: str
            ) -> dict[str, Any]:
    """The answer's JSON once its digest and signature are checked; an error otherwise."""
    status, headers, body = answer
    if status != 200:
        raise RuntimeError(f"the floor server answered {status}")
    digest = hashlib.sha256(body).hexdigest()
    if digest != headers["x-digest"]:
        raise RuntimeError("the answer's digest does not match its body")
    keys.server.verify_key.verify(answer_base(status, digest, request_signature),
                                  bytes.fromhex(headers["x-signature"]))
    result: dict[str, Any] = json.loads(body)
    return result


class FloorClient:
    """A case system on the floor: one kept-alive connection, bare sockets."""

    def __init__(self, connection: socket.socket, keys: FloorKeys) -> None:
        """Talk over ``connection``, signing with ``keys.client``."""
        self._socket = connection
        self._stream = connection.makefile("rb")
        self._keys = keys

    @classmethod
    def connect(cls, host: str, port: int, keys: FloorKeys) -> FloorClient:
        """A client on a new TCP connection to ``host:port``."""
        connection = socket.create_connection((host, port))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(connection, keys)

    def post(self, path: str, elements: list[bytes]) -> dict[str, Any]:
        """One signed request and its checked answer."""
        body = json.dumps({"elements": [base64.b64encode(e).decode() for e in elements]})
        request, signature = signed_request(self._keys, path, body.encode())
        return checked(self._keys, self.exchange(request), signature)

    def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send a request's bytes; the answer, unchecked."""
        self._socket.sendall(request)
        return read_answer(self._stream)

    def lookup(self, bsn: str) -> list[int]:
        """One look-up of one BSN, as the shipped client makes it: blind, evaluate, unblind,
        look up; the organisations involved."""
        blind, blinded = oprf.blind(f"bsn|{bsn}".encode())
        [evaluated] = self.post("/evaluate", [blinded])["elements"]
        pseudonym = oprf.unblind(blind, base64.b64decode(evaluated))
        organisations: list[int] = self.post("/lookup", [pseudonym])["organisations"]
        return organisations

    def close(self) -> None:
        """Close the connection."""
        self._stream.close()
        self._socket.close()
