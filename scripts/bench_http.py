"""End-to-end look-ups through the HTTP stack, as a case system makes them (issue 13 §1).

Each client is a process of its own running the shipped client (``broker_client.BrokerClient``,
one per process, as a case system holds one): for every look-up it parses one BSN, blinds it,
has it evaluated (``POST /v1/pseudonyms/evaluate``), finalises it and asks
(``POST /v1/lookups``) — both requests signed (RFC 9421), both responses verified against the
broker's key, each POST with its ``Idempotency-Key``, exactly as shipped. Half the BSNs asked
about are registered, so half the look-ups match.

The broker runs as in production: gunicorn with the broker's config module (its worker class,
threads and keep-alive), or, to compare, Granian with as many workers and threads
(``--server granian``), ``--workers`` processes sharing their per-minute limits through Redis,
on SQLite (a file in a temporary directory) or PostgreSQL (a private database on the server of
``--postgres-url``, created for the run and dropped after it). The only change from a
production set-up is :data:`BENCH_LIMITS`: the per-minute limits and the daily evaluation quota
raised so that they do not refuse the bench's thousands of look-ups — the limiter and the quota
still run on every request.

What it reports per (store, keys, operation, clients): look-ups/s, p50/p99 of one look-up (both
round trips), and CPU milliseconds per look-up of each kind of process — the server's (its
workers and master), the PostgreSQL backends serving the bench's database (found through
``pg_stat_activity``), the Redis server, the client processes — read from ``/proc/<pid>/stat``
before and after the timed window. The Redis server may be shared with other users: its
figure is then an upper bound.
Before each window the same processes are watched for a few seconds with no request in flight
(``idle_cpu_ms_per_s``): the background threads' share, which weighs on the figures per look-up
the more, the fewer look-ups the window holds. The machine's load during the window (CPU used by
processes outside the bench, from ``/proc/stat``) is reported beside the figures: throughput on
a busy machine is noisy, CPU per look-up much less so.

``--operation`` chooses what the clients do (a comma list, each measured on its own):

- ``lookup`` (the default): the look-up above; figures per look-up;
- ``register``: one registration of one new household per request, as a case system registers
  a new case — ``BrokerClient.register`` (evaluate, finalise, ``POST /v1/involvements``, both
  signed and verified, with an Idempotency-Key); figures per registration;
- ``bulk``: ``BrokerClient.register_many`` with :data:`BULK_BATCH` households of one BSN each
  per call, as a case system loads its caseload (the client sends them in requests of
  ``MAX_REGISTER``); figures per stored matching key, the latency per call;
- ``floor`` (PostgreSQL only): the same look-ups, but served by the bare WSGI app of
  :mod:`bench_floor` under the same server, database server and Redis, and made by its bare
  client: the irreducible work of a signed look-up, and so the least CPU per look-up this
  stack allows (its own tables in the run's database hold the same number of keys).

Clients start calls for ``--seconds``; a call begun in that time counts whole, and the window
ends when the last of them ends (so that the CPU measured is that of the units counted: a bulk
call takes seconds).

Registrations take BSNs no other client or window of the run uses (:func:`fresh_bsns`), so
that every request writes. The operations run in the order given, on the same store: the
registrations of one add to the keys the next one finds.

Run: ``scripts/bench --only http [--json FILE] [--clients 1,4,16] [--keys 10000]
[--store sqlite|postgres|sqlite,postgres] [--operation lookup,register,bulk]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pysodium
from bench_floor import FloorClient, FloorKeys  # scripts/ is on sys.path
from bench_floor import setup as setup_floor
from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import parse_bsn
from nacl.signing import SigningKey
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from broker import gunicorn_conf
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.services import NewInvolvement, RegistryService
from broker.serving import CONFIG_MODULE
from broker.setup import initialise

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: The bench's one departure from production: limits raised so that they never refuse, while
#: the limiter (per address and per organisation, in Redis) and the quota (in the database)
#: still count every request.
BENCH_LIMITS = {
    "BROKER_API_IP_RATE": "1000000000/minute",
    "BROKER_API_ORG_RATE": "1000000000/minute",
    "quota": 1_000_000_000,  # pseudonym_evaluations_per_day in the bench's copy of the policy
}
ASKER = "wijkteam-bench"
HOLDER = "vt-bench"
KEY_ID = "bench-key"
REGISTERED_BSNS = 2000  # real BSNs registered (the rest of --keys are random keys)
OPERATIONS = ("lookup", "register", "bulk", "floor")
BULK_BATCH = 1000  # households per register_many call of the bulk operation
REGISTER_PURPOSE = "safety_assessment"  # the purpose the asker's registrations give
IDLE_SECONDS = 3.0  # measured before each window: CPU with no request in flight


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options (also offered by ``scripts/bench``)."""
    parser.add_argument("--clients", default="1,4,16",
                        help="client processes, comma-separated (default: %(default)s)")
    parser.add_argument("--keys", default="10000",
                        help="stored matching keys, comma-separated (default: %(default)s)")
    parser.add_argument("--store", default="sqlite,postgres",
                        help="sqlite, postgres or both (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window per run")
    parser.add_argument("--operation", default="lookup",
                        help="what the clients do, a comma list of " + ", ".join(OPERATIONS)
                        + " (see the module's text)")
    parser.add_argument("--server", default="gunicorn", choices=SERVERS,
                        help="what serves the broker: gunicorn with the broker's config module "
                             "(as in production, the default) or Granian (the bench extra "
                             "installs it), to compare")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per worker (default: the broker's gunicorn config)")
    parser.add_argument("--redis-url",
                        default=os.environ.get("BROKER_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="the Redis the workers share their limits through")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "BROKER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server to create the bench's private database on")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record each worker with py-spy during the window (--gil, raw "
                             "stacks) into this directory, and print the phases")


# -- set-up -------------------------------------------------------------------------------------

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def _with_check_digit(digits: list[int]) -> str | None:
    """The BSN of eight digits and the eleven-test's ninth, or None when there is none."""
    last = sum(w * d for w, d in zip(_WEIGHTS, digits, strict=True)) % 11
    if last == 10:
        return None
    bsn = "".join(map(str, digits)) + str(last)
    return None if bsn == "000000000" else bsn


def valid_bsns(count: int, seed: int) -> list[str]:
    """``count`` distinct BSNs that pass the eleven-test."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        bsn = _with_check_digit([rng.randrange(10) for _ in range(8)])
        if bsn is not None:
            found[bsn] = None
    return list(found)


def fresh_bsns(stream: int) -> Iterator[str]:
    """Valid BSNs of ``stream`` (0–89) that no other stream gives: their first eight digits
    count up from ``(10 + stream) · 10⁶`` (some 9 · 10⁵ BSNs per stream)."""
    for number in range((10 + stream) * 1_000_000, (11 + stream) * 1_000_000):
        bsn = _with_check_digit([int(d) for d in f"{number:08d}"])
        if bsn is not None:
            yield bsn


def bench_policy(home: Path) -> Path:
    """The shipped policy with the daily evaluation quota raised (:data:`BENCH_LIMITS`)."""
    target = home / "policies"
    shutil.copytree(ROOT / "policies", target)
    policy = target / "policy.yaml"
    lines = policy.read_text().splitlines()
    raised = [f"  pseudonym_evaluations_per_day: {BENCH_LIMITS['quota']}"
              if line.strip().startswith("pseudonym_evaluations_per_day:") else line
              for line in lines]
    if raised == lines:
        raise RuntimeError("policies/policy.yaml has no pseudonym_evaluations_per_day to raise")
    policy.write_text("\n".join(raised) + "\n")
    return target


def populate(core: Core, keys: int, bsns: list[str]) -> SigningKey:
    """The asker (with an API key) and a holder with ``keys`` stored matching keys, of which
    :data:`REGISTERED_BSNS` are real BSNs' (``bsns[:REGISTERED_BSNS]``)."""
    operator = Actor.operator("bench")
    key = SigningKey.generate()
    ids = {}
    with core.unit_of_work() as uow:
        registry = RegistryService(uow)
        for code, org_type in ((HOLDER, "veilig_thuis"), (ASKER, "wijkteam")):
            ids[code] = registry.create_organisation(operator, identifier=code, name=code,
                                                     org_type=org_type).id
            registry.add_professional(operator, organisation=code, username=f"{code}-p",
                                      name="P", role="r")
        OrganisationKeys(uow).add(operator, organisation=ASKER, key_id=KEY_ID,
                                  public_key=bytes(key.verify_key).hex())
    holder = Actor("bench", "cli", ids[HOLDER])
    households = [[p] for start in range(0, REGISTERED_BSNS, 1000)
                  for p in core.pseudonymise(operator, [parse_bsn(b) for b in
                                                        bsns[start:start + 1000]])]
    while sum(map(len, households)) < keys:
        households.append([Pseudonym(c, pysodium.crypto_core_ristretto255_random(), 1)
                           for c in ("person", "person", "address")])
    for start in range(0, len(households), 500):
        with core.unit_of_work() as uow:
            RegistryService(uow).register_involvements(holder, organisation=HOLDER, items=[
                NewInvolvement(f"{HOLDER}-p", h, "safety_assessment")
                for h in households[start:start + 500]])
    return key


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A private database on the server for one run, dropped afterwards; its URL."""
    name = f"broker_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- /proc --------------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def children(pid: int) -> list[int]:
    """The direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Processes:
    """The pids of each kind of process whose CPU a run counts."""

    kinds: dict[str, list[int]] = field(default_factory=dict)

    def sample(self) -> dict[int, int]:
        """Ticks per pid now."""
        return {pid: ticks for pids in self.kinds.values() for pid in pids
                if (ticks := cpu_ticks(pid)) is not None}


def postgres_backends(url: str, database: str) -> list[int]:
    """The pids of the server's backends connected to ``database``, but this one's."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [int(pid) for pid in connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :name "
                "AND pid <> pg_backend_pid()"), {"name": database}).scalars()]
    finally:
        engine.dispose()


def redis_pid(url: str) -> int | None:
    """The Redis server's pid, when it runs on this machine."""
    import redis  # noqa: PLC0415 - only the bench needs it here

    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}").exists() else None


# -- clients ------------------------------------------------------------------------------------


def client_process(base_url: str, seed: bytes, broker_key: str, bsns: list[str],
                   offset: int, operation: str, stream: int, ready: Any, start: Any,
                   stop_at: Any, results: Any, floor_keys: str = "") -> None:
    """One case system: warm up, wait for the start, start ``operation`` again and again until
    ``stop_at``; report its latencies, errors, units done (look-ups, registrations or keys) and
    when its last call ended. A call begun before ``stop_at`` counts whole: the window ends when
    the last client's last call does, so that the CPU measured is that of the units counted
    (a bulk call takes seconds). The floor's client (``floor_keys``, see :mod:`bench_floor`)
    looks up as the shipped one does, with bare sockets and nothing else."""
    from broker_client import BrokerClient, NewRegistration  # noqa: PLC0415 - in the child

    fresh = fresh_bsns(stream)
    looked_up = iter(bsns[(offset + 7919 * n) % len(bsns)] for n in range(10**9))
    professional = f"{ASKER}-p"
    if operation == "floor":
        url = httpx.URL(base_url)
        floor = FloorClient.connect(str(url.host), int(url.port or 80),
                                    FloorKeys.from_env({"FLOOR_KEYS": floor_keys}))
        client: Any = closing(floor)
    else:
        client = BrokerClient(base_url, KEY_ID, seed, broker_public_key=broker_key)

    def act() -> int:
        """One operation; the units it did."""
        if operation == "floor":
            floor.lookup(next(looked_up))
            return 1
        if operation == "lookup":
            client.lookup(bsn=[next(looked_up)], purpose="safety_assessment",
                          basis="legal_task", statute="wmo2015_5_2_6")
            return 1
        if operation == "register":
            client.register(professional=professional, purpose=REGISTER_PURPOSE,
                            bsn=[next(fresh)])
            return 1
        client.register_many([NewRegistration(professional, REGISTER_PURPOSE, [next(fresh)])
                              for _ in range(BULK_BATCH)])
        return BULK_BATCH

    latencies: list[float] = []
    errors: dict[str, int] = {}
    units = 0
    with client:
        for _ in range(1 if operation == "bulk" else 3):  # connections, first requests
            act()
        ready.put(os.getpid())
        start.wait()
        stop = stop_at.value
        ended = time.monotonic()
        while True:
            began = time.monotonic()
            if began >= stop:
                break
            try:
                done = act()
            except Exception as exc:  # counted by kind; the bench goes on
                errors[error_kind(exc)] = errors.get(error_kind(exc), 0) + 1
                done = 0
            ended = time.monotonic()
            latencies.append(ended - began)
            units += done
        results.put((os.getpid(), latencies, errors, units, ended))


def error_kind(exc: Exception) -> str:
    """What the bench records of a failed call: the exception's class, with the broker's
    status and problem code when the broker answered, and the class of what caused it."""
    kind = type(exc).__name__
    if (status := getattr(exc, "status", None)) is not None:
        kind += f" {status} {getattr(exc, 'code', '')}".rstrip()
    if exc.__cause__ is not None:
        kind += f" ({type(exc.__cause__).__name__})"
    return kind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server stopped while starting")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start within 60 s")


# -- one configuration ---------------------------------------------------------------------------


def run_store(args: argparse.Namespace, store: str, keys: int, clients: list[int]
              ) -> list[dict[str, Any]]:
    """Populate one store with ``keys`` keys, then measure each client count against it."""
    with tempfile.TemporaryDirectory(prefix="broker-bench-http-") as home, \
            (postgres_database(args.postgres_url) if store == "postgres"
             else _no_database()) as database_url:
        env = {**os.environ, "BROKER_HOME": home,
               "BROKER_POLICY_DIR": str(bench_policy(Path(home))),
               "BROKER_REDIS_URL": args.redis_url,
               "BROKER_API_IP_RATE": BENCH_LIMITS["BROKER_API_IP_RATE"],
               "BROKER_API_ORG_RATE": BENCH_LIMITS["BROKER_API_ORG_RATE"]}
        env.pop("BROKER_DATABASE_URL", None)
        if database_url:
            env["BROKER_DATABASE_URL"] = database_url
        core = Core(Settings.from_env(env), notices=InboxNotices())
        try:
            initialise(core, Actor.operator("bench"))
            bsns = valid_bsns(2 * REGISTERED_BSNS, seed=keys)
            log(f"http {store}: registering {keys:,} keys ...")
            signing = populate(core, keys, bsns)
            broker_key = (Path(home) / "keys" / "api" / "signing.pub").read_text().strip()
        finally:
            core.dispose()  # as after a bulk load: no ANALYZE, the server's plans as they come
        floor = None
        if "floor" in operations(args, clients) and database_url:
            floor = FloorKeys.generate()
            log(f"http {store}: the floor's {keys:,} keys ...")
            setup_floor(psycopg_conninfo(database_url), floor_values(floor, bsns, keys))
        rows = []
        streams = iter(range(STREAMS))  # each registering client of each window: its own BSNs
        for operation in operations(args, clients):
            for count in clients:
                rows.append(measure(args, env, database_url, store, keys, count, signing,
                                    broker_key, bsns, operation,
                                    [next(streams) if operation in REGISTERING else 0
                                     for _ in range(count)], floor))
        return rows


def psycopg_conninfo(url: str) -> str:
    """The libpq form of a SQLAlchemy database URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


POSTGRES_SOCKETS = Path("/var/run/postgresql")


def floor_conninfo(url: str) -> str:
    """The floor's way to the database of ``url``: through the server's Unix socket when the
    server is on this machine and has one (cheaper than TCP: the floor is a lower bound), else
    as ``url`` says."""
    parsed = make_url(psycopg_conninfo(url))
    port = parsed.port or 5432
    if parsed.host in ("127.0.0.1", "localhost", "::1") and (
            POSTGRES_SOCKETS / f".s.PGSQL.{port}").exists():
        parsed = parsed.set(host=None).update_query_dict({"host": str(POSTGRES_SOCKETS)})
    return parsed.render_as_string(hide_password=False)


def floor_values(floor: FloorKeys, bsns: list[str], keys: int) -> Iterator[bytes]:
    """The floor's stored keys: the registered BSNs' (so that half the look-ups match, as in
    the broker's store), then random elements up to ``keys``."""
    for bsn in bsns[:REGISTERED_BSNS]:
        yield floor.stored(bsn)
    for _ in range(keys - REGISTERED_BSNS):
        yield pysodium.crypto_core_ristretto255_random()


STREAMS = 90  # the streams of fresh BSNs (fresh_bsns)
REGISTERING = ("register", "bulk")


def operations(args: argparse.Namespace, clients: list[int]) -> list[str]:
    """The operations of ``--operation``, checked (the registering clients of all windows of a
    store need a stream of fresh BSNs each)."""
    chosen = str(args.operation).split(",")
    for operation in chosen:
        if operation not in OPERATIONS:
            raise SystemExit(f"--operation: one of {', '.join(OPERATIONS)}, not {operation!r}")
    if "floor" in chosen and "sqlite" in str(args.store).split(","):
        raise SystemExit("--operation floor: the floor runs on PostgreSQL only (--store postgres)")
    needed = sum(clients) * sum(operation in REGISTERING for operation in chosen)
    if needed > STREAMS:
        raise SystemExit(f"--clients and --operation: the registering clients of all windows "
                         f"need {needed} streams of fresh BSNs, more than the {STREAMS} there are")
    return chosen


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


SERVERS = ("gunicorn", "granian")


def server_command(args: argparse.Namespace, port: int, env: dict[str, str],
                   database_url: str | None, operation: str, floor: FloorKeys | None
                   ) -> tuple[list[str], dict[str, str]]:
    """The server (``--server``) serving the broker, or the floor's app for the floor: the
    command and its environment. gunicorn runs with the broker's config module; Granian with
    as many workers and threads, and keep-alive, its default."""
    threads = args.threads or gunicorn_conf.threads
    app = "broker.wsgi:app"
    if operation == "floor":
        if floor is None or database_url is None:
            raise SystemExit("--operation floor: the floor runs on PostgreSQL only")
        app = "bench_floor:app"
        env = {**env, "FLOOR_DATABASE": floor_conninfo(database_url),
               "FLOOR_REDIS_URL": args.redis_url, "FLOOR_KEYS": floor.to_env(),
               "FLOOR_CONNECTIONS": str(threads),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts"),
                                                           env.get("PYTHONPATH")]))}
    if args.server == "granian":
        granian = Path(sys.executable).with_name("granian")  # the venv's own, else on PATH
        if not granian.exists():
            granian = Path(shutil.which("granian") or granian)
        if not granian.exists():
            raise SystemExit("--server granian: Granian is not installed (scripts/bench "
                             "installs it with the bench extra: pip install -e '.[bench]')")
        return [str(granian), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers), "--blocking-threads", str(threads),
                "--log-level", "warning", app], env
    command = [sys.executable, "-m", "gunicorn", "--config", CONFIG_MODULE,
               "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning"]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    return [*command, app], env


def measure(args: argparse.Namespace, env: dict[str, str], database_url: str | None,
            store: str, keys: int, clients: int, signing: SigningKey, broker_key: str,
            bsns: list[str], operation: str, streams: list[int],
            floor: FloorKeys | None = None) -> dict[str, Any]:
    """Start the server, run ``clients`` client processes for the window, stop; the figures.
    The floor (``operation`` "floor") is served by :mod:`bench_floor`'s app instead of the
    broker's, under the same server."""
    port = _free_port()
    command, env = server_command(args, port, env, database_url, operation, floor)
    server = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603
    context = multiprocessing.get_context("spawn")
    start, stop_at = context.Event(), context.Value("d", 0.0)
    ready, results = context.Queue(), context.Queue()
    processes = []
    try:
        _wait(port, server)
        base_url = f"http://127.0.0.1:{port}"
        processes = [context.Process(target=client_process, args=(
            base_url, bytes(signing), broker_key, bsns, n, operation, streams[n], ready, start,
            stop_at, results), kwargs={"floor_keys": floor.to_env() if floor else ""})
            for n in range(clients)]
        for process in processes:
            process.start()
        for _ in processes:  # the clients' imports and warm-up look-ups
            ready.get(timeout=120)
        watched = Processes({"workers": [server.pid, *children(server.pid)],
                             "clients": [p.pid for p in processes if p.pid is not None]})
        if database_url:
            url = make_url(database_url)
            watched.kinds["postgres"] = postgres_backends(database_url, str(url.database))
        if (pid := redis_pid(args.redis_url)) is not None:
            watched.kinds["redis"] = [pid]
        # What the processes burn with no request in flight (background threads, polling):
        # part of every figure below, and the larger the fewer look-ups share it.
        idle_before = watched.sample()
        time.sleep(IDLE_SECONDS)
        idle_after = watched.sample()
        before, machine_before = watched.sample(), machine_ticks()
        load_before = os.getloadavg()[0]
        began = time.monotonic()
        stop_at.value = began + args.seconds
        start.set()
        spies = profile_workers(args, watched.kinds["workers"][1:],  # not the master
                                f"{store}-{keys}-{operation}-{clients}")
        reports = [results.get(timeout=args.seconds + 300) for _ in processes]
        after, machine_after = watched.sample(), machine_ticks()
        window = max(ended for *_, ended in reports) - began
        gathered = [report[:4] for report in reports]
        for spy in spies:
            spy.wait(timeout=60)
        load_after = os.getloadavg()[0]
    finally:
        for process in processes:
            process.join(timeout=30)
        server.terminate()
        server.wait(timeout=30)
    row = {"store": store, "keys": keys, "operation": operation, "unit": UNITS[operation],
           "server": args.server, "clients": clients, "workers": args.workers,
           "seconds": round(window, 2),
           **figures(window, gathered, watched, (before, after),
                     (machine_before, machine_after)),
           "idle_cpu_ms_per_s": {
               kind: round(1000 * sum(idle_after.get(p, 0) - idle_before.get(p, 0) for p in pids)
                           / CLK_TCK / IDLE_SECONDS, 1)
               for kind, pids in watched.kinds.items()},
           "loadavg_1min": [round(load_before, 2), round(load_after, 2)],
           "cpus": os.cpu_count()}
    log(f"http {store} {keys:,} keys, {args.server}, {operation}, {clients} clients: "
        f"{format_row(row)}")
    if args.profile:
        files = args.profile.glob(f"{store}-{keys}-{operation}-{clients}-*.txt")
        row["profile"] = (phases(files, FLOOR_PHASES, "the server: loop and threads")
                          if operation == "floor" else phases(files))
        log("  phases (share of samples holding the GIL): " + ", ".join(
            f"{name} {share:.1%}" for name, share in row["profile"].items()))
    return row


def profile_workers(args: argparse.Namespace, workers: list[int], name: str
                    ) -> list[subprocess.Popen[bytes]]:
    """py-spy on each worker for the window (``--profile``); nothing without it."""
    if args.profile is None:
        return []
    args.profile.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen(  # noqa: S603 - py-spy, our own arguments
        [spy, "record", "--gil", "--nonblocking", "--format", "raw", "--rate", "200",
         "--duration", str(int(args.seconds)), "--pid", str(pid),
         "--output", str(args.profile / f"{name}-{pid}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]


#: Where a sample's time goes: the first phase (in this order) with a frame in the stack.
PHASES = (
    ("audit append", ("audit/services.py", "audit/chain")),
    ("idempotency", ("api/idempotency.py",)),
    ("replay cache", ("callers/replay.py",)),
    ("evaluation quota", ("pseudonyms/quota.py",)),
    ("API-key look-up", ("callers/keys.py",)),
    ("rate limits", ("flask_limiter/", "limits/", "api/limits.py", "limit_organisation")),
    ("response signing", ("sign_response",)),
    ("signature verification", ("verify_request",)),
    ("match query and policy", ("registry/candidates.py", "registry/lookups.py", "policy/")),
    ("OPRF evaluation", ("pseudonyms/service.py", "oprf")),
    ("JSON and schemas", ("json/", "marshmallow/", "api/schemas.py", "parse_json")),
    ("commit", ("door.py",)),
    ("Flask, Werkzeug, gunicorn", ("flask/", "werkzeug/", "gunicorn/")),
)


#: The same for the floor (bench_floor): the parts it is made of. A sample whose stack holds
#: none of these frames is the server's loop and threads (gunicorn's; Granian's own work is in
#: Rust, outside the samples of Python's threads).
FLOOR_PHASES = (
    ("Redis script call (redis-py)", ("redis/",)),
    ("database statement (psycopg)", ("psycopg/",)),
    ("Ed25519 (PyNaCl)", ("nacl/",)),
    ("OPRF (libsodium)", ("oprf",)),
    ("JSON", ("json/",)),
    ("RFC 9421 (broker_primitives.httpsig, but Ed25519)", ("httpsig/",)),
    ("the server: HTTP parsing, reading, writing", ("gunicorn/http/",)),
    ("the floor app's own code", ("bench_floor.py",)),
)


def phases(files: Iterator[Path], table: tuple[tuple[str, tuple[str, ...]], ...] = PHASES,
           rest: str = "other") -> dict[str, float]:
    """Shares of py-spy's raw samples per phase of ``table`` (the rest is ``rest``)."""
    counts: dict[str, int] = {}
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            name = next((phase for phase, marks in table
                         if any(mark in stack for mark in marks)), rest)
            counts[name] = counts.get(name, 0) + int(count)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


#: What the figures of each operation are per: a look-up, a registration, a stored key.
UNITS = {"lookup": "look-up", "register": "registration", "bulk": "key", "floor": "look-up"}


def figures(seconds: float, gathered: list[tuple[int, list[float], dict[str, int], int]],
            watched: Processes, ticks: tuple[dict[int, int], dict[int, int]],
            machine: tuple[tuple[int, int], tuple[int, int]]) -> dict[str, Any]:
    """Throughput, latency (of one call) and CPU per unit (look-up, registration or key) of
    one window."""
    before, after = ticks
    latencies = sorted(x for _, mine, _, _ in gathered for x in mine)
    kinds: dict[str, int] = {}
    for _, _, mine, _ in gathered:
        for kind, count in mine.items():
            kinds[kind] = kinds.get(kind, 0) + count
    done = sum(units for _, _, _, units in gathered)
    calls = len(latencies)
    per_unit = {}
    for kind, pids in watched.kinds.items():
        used = sum(after.get(p, before.get(p, 0)) - before.get(p, 0) for p in pids)
        per_unit[kind] = 1000 * used / CLK_TCK / done if done else float("nan")
    ours = sum(after.get(p, 0) - before.get(p, 0) for p in after)
    busy = machine[1][0] - machine[0][0]
    window = (machine[1][1] - machine[0][1]) / (os.cpu_count() or 1)
    server_kinds = ("workers", "postgres", "redis")
    return {
        "units": done, "calls": calls, "errors": sum(kinds.values()), "error_kinds": kinds,
        "per_s": done / seconds,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[min(calls - 1, int(calls * 0.99))] if latencies else None,
        "cpu_ms_per_unit": {k: round(v, 3) for k, v in per_unit.items()},
        "server_cpu_ms_per_unit": round(sum(per_unit.get(k, 0.0) for k in server_kinds), 3),
        "processes": {k: len(v) for k, v in watched.kinds.items()},
        # Cores' worth of CPU used by everything else on the machine during the window.
        "other_load_cores": round(max(0, busy - ours) / window if window else 0.0, 2),
    }


def format_row(row: dict[str, Any]) -> str:
    """One line of the table."""
    cpu = row["cpu_ms_per_unit"]
    parts = " ".join(f"{k} {cpu[k]:.2f}" for k in ("workers", "postgres", "redis", "clients")
                     if k in cpu)
    p50 = f"{row['p50_ms']:.1f}" if row["p50_ms"] is not None else "-"
    p99 = f"{row['p99_ms']:.1f}" if row["p99_ms"] is not None else "-"
    kinds = ", ".join(f"{kind}: {count}" for kind, count in row.get("error_kinds", {}).items())
    return (f"{row['per_s']:7.1f} {row['unit']}s/s p50 {p50} ms p99 {p99} ms, "
            f"errors {row['errors']}{f' ({kinds})' if kinds else ''}; CPU ms/{row['unit']}: "
            f"server {row['server_cpu_ms_per_unit']:.2f} ({parts}); "
            f"other load {row['other_load_cores']:.2f} cores; idle CPU ms/s "
            + " ".join(f"{k} {v:.0f}" for k, v in row.get("idle_cpu_ms_per_s", {}).items()))


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every (store, keys, clients) of the options; prints the table."""
    clients = [int(c) for c in str(args.clients).split(",")]
    operations(args, clients)  # refused before any set-up
    rows: list[dict[str, Any]] = []
    for store in str(args.store).split(","):
        if store not in ("sqlite", "postgres"):
            raise SystemExit(f"--store: sqlite or postgres, not {store!r}")
        for keys in (int(k) for k in str(args.keys).split(",")):
            rows += run_store(args, store, keys, clients)
    print(f"{'store':9} {'keys':>9} {'server':8} {'operation':9} {'clients':>7}  per second, "
          "latency of a call, CPU per unit")
    for row in rows:
        print(f"{row['store']:9} {row['keys']:>9,} {row['server']:8} {row['operation']:9} "
              f"{row['clients']:>7}  {format_row(row)}")
    return {"bench_limits": {k: str(v) for k, v in BENCH_LIMITS.items()}, "runs": rows}


def main() -> int:
    """``python scripts/bench_http.py`` (or ``scripts/bench --only http``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = run_all(args)
    if args.json:
        import json  # noqa: PLC0415

        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
