"""The floor of a signed look-up over HTTP on this stack: what issue 13's targets leave room for.

A look-up is two signed requests (evaluate, then look up). Whatever code serves them, some work
cannot be taken away. This module does that work and nothing else, in the cheapest form issue 13
itself allows. ``scripts/bench --only http --operation floor`` runs it under the server the bench
serves the broker with (gunicorn with the broker's config module, or Granian: ``--server``),
against the same PostgreSQL server and the same Redis as the real look-up. It shows how much CPU
per look-up the parts themselves take:

- the client (:meth:`FloorClient.lookup`): per look-up it blinds one BSN, sends the evaluation,
  checks the answer's signature and digest, unblinds, sends the look-up and checks that answer
  too. Requests and answers are signed as the API signs them, RFC 9421 with Ed25519 through the
  project's own primitives (``broker_primitives.httpsig``: the request covers method, target,
  authority, Content-Digest and Content-Type, with a nonce; the answer is bound to the request's
  signature), and each request carries an Idempotency-Key. One kept-alive connection, written
  and read with bare sockets;
- the server (:class:`FloorApp`, a bare WSGI callable), per request: it reads the body, checks
  the signature as the broker does (``verify_request``: digest, times, key, Ed25519), records
  the nonce in one Redis script call that also counts the per-minute windows of address and
  organisation and, for an evaluation, the daily quota (issue 13 allows all of them "in one
  Redis round trip"), and signs its answer (``sign_response``). The evaluation evaluates the
  blinded element under k. The look-up multiplies by b and runs one statement, committed on
  its own: the index probe and the audit event of what it found, inserted with a unique id
  (chaining it is left to a sequencer working in batches, as issue 13 §3 allows). That is the
  floor as the issue defines it: "the scalar multiplications, the index probe and the one
  durable audit append with its commit that every look-up must make". The database is reached
  through its Unix socket where the server has one on this machine
  (:func:`bench_http.floor_conninfo`), which costs less than TCP.

It is a lower bound, not a second broker. The broker does more than this, by its own rules: it
keeps nonces in its database, durable across a restart of Redis (broker.callers.replay); it
audits each evaluation with the quota it used; it chains each event as it appends it, with
Merkle state and the event's subjects; it evaluates its policy, counts misuse, answers problems
with bodies and keeps metrics. None of that is here.
"""

from __future__ import annotations

import base64
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
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    request_signature_label,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from nacl.signing import SigningKey, VerifyKey

from broker.pseudonyms.service import MAX_BATCH

ORGANISATION = 1
QUOTA = 1_000_000_000  # evaluations a day
LIMIT = 1_000_000_000  # requests a minute, per address and per organisation

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


def setup(conninfo: str, keys: Iterable[bytes]) -> None:
    """The floor's tables in ``conninfo``'s database, holding ``keys`` as stored matching keys."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor, cursor.copy(
                "COPY floor_keys (value, organisation) FROM STDIN") as copy:
            for value in keys:
                copy.write_row((value, 2))


KEY_ID = "floor-client"  # the client's key id
RESPONSE_KEY_ID = "floor-broker"
AUTHORITY = "floor.test"  # the client's Host (its @authority), also over a socket pair


class _Admission:
    """The replay cache of one request (broker_primitives.httpsig.ReplayCache): its nonce is
    recorded in the same Redis script call that counts the request's windows and, for an
    evaluation, charges the quota."""

    def __init__(self, app: FloorApp, windows: list[str], charge: list[int]) -> None:
        self._app, self._windows, self._charge = app, windows, charge

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record the nonce until ``expires_at`` (the signature's last acceptable second) and
        count the windows: True for a replay; a used-up window or quota is refused (429)."""
        app = self._app
        keys = [f"{app.prefix}/nonce/{len(key_id)}:{key_id}/{nonce}", *self._windows]
        admitted = int(app.admit(keys, [max(1, expires_at - now), app.limit, *self._charge]))
        if admitted == -1:
            return True
        if admitted != 0:
            raise Refused("429 Too Many Requests")
        return False


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
        self.admit = redis.Redis.from_url(redis_url).register_script(ADMIT)
        client_key = keys.client.verify_key
        self._resolve: Callable[[str], VerifyKey | None] = (
            lambda key_id: client_key if key_id == KEY_ID else None)
        self._server_key = keys.server
        self._k, self._b = keys.k, keys.b
        self.limit, self._quota, self.prefix = limit, quota, prefix

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
        headers = {name[5:].replace("_", "-").lower(): value
                   for name, value in environ.items() if name.startswith("HTTP_")}
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = RequestMessage(environ["REQUEST_METHOD"],
                                 f"http://{headers.get('host', '')}{environ['PATH_INFO']}",
                                 headers)
        try:
            body = self._serve(environ, request)
        except Refused as refused:
            start_response(refused.status, [("Content-Length", "0")])
            return []
        answer = {"Content-Type": "application/json"}
        answer.update(sign_response(status=200, headers=answer, key_id=RESPONSE_KEY_ID,
                                    private_key=self._server_key, body=body, request=request,
                                    request_label=request_signature_label(headers)))
        start_response("200 OK", [*answer.items(), ("Content-Length", str(len(body)))])
        return [body]

    def _serve(self, environ: dict[str, Any], request: RequestMessage) -> bytes:
        path = environ["PATH_INFO"]
        if request.method != "POST" or path not in ("/evaluate", "/lookup"):
            raise Refused("404 Not Found")
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            elements = [base64.b64decode(e, validate=True) for e in json.loads(body)["elements"]]
        except (ValueError, KeyError, TypeError):
            raise Refused("400 Bad Request") from None
        if not 1 <= len(elements) <= MAX_BATCH:  # the broker's bound on a batch
            raise Refused("400 Bad Request")
        prefix = self.prefix
        windows = [f"{prefix}/ip/{path}/{environ.get('REMOTE_ADDR', '')}",
                   f"{prefix}/org/{ORGANISATION}"]
        charge: list[int] = []
        if path == "/evaluate":
            windows.append(f"{prefix}/quota/{ORGANISATION}/{time.strftime('%Y-%m-%d')}")
            charge = [len(elements), self._quota]
        try:  # RFC 9421 as the broker checks it: digest, time, key, signature, then the nonce
            verify_request(method=request.method, target_uri=request.target_uri,
                           headers=request.headers, body=body, resolve_key=self._resolve,
                           replay=_Admission(self, windows, charge))
        except SignatureError:
            raise Refused("401 Unauthorized") from None
        try:
            answer = (self._evaluate(elements) if path == "/evaluate"
                      else self._lookup(elements))
        except oprf.OprfError:
            raise Refused("400 Bad Request") from None
        return json.dumps(answer).encode()

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


def signed_request(keys: FloorKeys, path: str, body: bytes, created: int | None = None
                   ) -> tuple[bytes, RequestMessage]:
    """The bytes of one POST (HTTP/1.1, kept alive) signed as the shipped client signs it
    (RFC 9421: method, target, authority, Content-Digest, Content-Type; a nonce), with an
    Idempotency-Key; and the request as its answer's signature must cover it."""
    headers = {"Host": AUTHORITY, "Content-Type": "application/json"}
    target = f"http://{AUTHORITY}{path}"
    headers.update(sign_request(method="POST", target_uri=target, headers=headers,
                                key_id=KEY_ID, private_key=keys.client, body=body,
                                created=created))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    raw = (f"POST {path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n"
           f"Idempotency-Key: {uuid.uuid4()}\r\n\r\n")
    return raw.encode() + body, RequestMessage("POST", target, headers)


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


def checked(keys: FloorKeys, answer: tuple[int, dict[str, str], bytes],
            request: RequestMessage) -> dict[str, Any]:
    """The answer's JSON once its RFC 9421 signature (bound to ``request``) and its
    Content-Digest are checked; an error otherwise."""
    status, headers, body = answer
    if status != 200:
        raise RuntimeError(f"the floor server answered {status}")
    server_key = keys.server.verify_key
    verify_response(status=status, headers=headers, body=body,
                    resolve_key=lambda key_id: server_key if key_id == RESPONSE_KEY_ID else None,
                    request=request, request_label="sig1")
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
        raw, request = signed_request(self._keys, path, body.encode())
        return checked(self._keys, self.exchange(raw), request)

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
