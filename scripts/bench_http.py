"""Signed look-ups per second through the HTTP stack, next to the crypto floor.

A gunicorn server (``--workers`` processes, started as in production with the broker's config
module; more than one needs ``BROKER_REDIS_URL``) serves a registry of ``--keys`` stored matching
keys; ``--clients`` threads send RFC 9421-signed ``POST /v1/lookups`` for ``--seconds``. The
floor is measured in the same run, in this process: one Ed25519 signature verification, the scalar
multiplications ``b·N`` and the index probe per look-up — what no implementation can skip.
Client and server share the machine's cores, so the HTTP figure is a lower bound.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pysodium
from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym
from broker_primitives.httpsig.signatures import sign_request
from nacl.signing import SigningKey

from broker.api.schemas import b64url
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.config import Settings
from broker.core import Core
from broker.registry.candidates import MATCHES
from broker.registry.services import NewInvolvement, RegistryService
from broker.serving import CONFIG_MODULE, check_workers
from broker.setup import initialise

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _populate(core: Core, keys: int) -> tuple[SigningKey, list[list[Pseudonym]]]:
    """Two organisations, the asker with an API key; ``keys`` stored matching keys."""
    operator = Actor.operator("bench")
    ids = {}
    key = SigningKey.generate()
    with core.unit_of_work() as uow:
        registry = RegistryService(uow)
        for code, org_type in (("vt-bench", "veilig_thuis"), ("wijkteam-bench", "wijkteam")):
            ids[code] = registry.create_organisation(operator, identifier=code, name=code,
                                                     org_type=org_type).id
            registry.add_professional(operator, organisation=code, username=f"{code}-p",
                                      name="P", role="r")
        OrganisationKeys(uow).add(operator, organisation="wijkteam-bench", key_id="bench-key",
                                  public_key=bytes(key.verify_key).hex())
    households: list[list[Pseudonym]] = []
    holder = Actor("bench", "cli", ids["vt-bench"])
    while len(households) * 3 < keys:
        batch = [[Pseudonym(c, pysodium.crypto_core_ristretto255_random(), 1)
                  for c in ("person", "person", "address")] for _ in range(500)]
        households += batch
        with core.unit_of_work() as uow:
            RegistryService(uow).register_involvements(holder, organisation="vt-bench", items=[
                NewInvolvement("vt-bench-p", h, "safety_assessment") for h in batch])
    return key, households


def _body(household: list[Pseudonym]) -> bytes:
    return json.dumps({
        "matching_keys": [{"category": p.category, "element": b64url(p.element),
                           "key_epoch": p.oprf_epoch} for p in household],
        "purpose": "safety_assessment", "basis": "legal_task",
        "statute": "wmo2015_5_2_6"}).encode()


def _signed(url: str, key: SigningKey, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Host": httpx.URL(url).netloc.decode()}
    headers.update(sign_request(method="POST", target_uri=url, headers=headers,
                                key_id="bench-key", private_key=key, body=body))
    return headers


def floor(core: Core, key: SigningKey, households: list[list[Pseudonym]], count: int) -> float:
    """Look-ups per second of the irreducible work, in this process."""
    from broker_primitives.httpsig.signatures import verify_request  # noqa: PLC0415

    from broker.callers.replay import InMemoryReplayCache  # noqa: PLC0415

    b = core.keystore.load("broker", core.keystore.current_epoch("broker"))
    url = "http://127.0.0.1:1/v1/lookups"
    prepared = []
    for n in range(count):
        body = _body(households[n % len(households)])
        prepared.append((body, _signed(url, key, body)))
    replay = InMemoryReplayCache()
    today = core.today()
    with core.engine.connect() as connection:
        started = time.perf_counter()
        for n, (body, headers) in enumerate(prepared):
            verify_request(method="POST", target_uri=url, headers=headers, body=body,
                           resolve_key=lambda _k: key.verify_key, replay=replay)
            values = [oprf.scalar_mult_trusted(b, p.element)
                      for p in households[n % len(households)]]
            MATCHES.all(connection, {"values": values, "today": today})
        return count / (time.perf_counter() - started)


def run(*, keys: int, clients: int, seconds: float, workers: int, threads: int = 1
        ) -> dict[str, Any]:
    """Start the server, load it, stop it; the figures."""
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="broker-bench-http-") as home:
        env = {**os.environ, "BROKER_HOME": home, "BROKER_POLICY_DIR": str(ROOT / "policies"),
               "BROKER_API_ORG_RATE": "10000000/minute", "BROKER_API_IP_RATE": "10000000/minute"}
        env.pop("BROKER_DATABASE_URL", None)
        core = Core(Settings.from_env(env))
        initialise(core, Actor.operator("bench"))
        print(f"http: registering {keys:,} keys ...", file=sys.stderr, flush=True)
        key, households = _populate(core, keys)
        floor_rate = floor(core, key, households, 2000)
        port = _free_port()
        check_workers(workers, Settings.from_env(env))  # several need BROKER_REDIS_URL
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "gunicorn", "--config", CONFIG_MODULE, "--workers",
             str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "broker.wsgi:app"],
            env=env, cwd=ROOT)
        # The background worker beside it, as scripts/run and production run it.
        worker = subprocess.Popen(
            [sys.executable, "-c", "from broker.cli import main; main()", "worker"],
            env={**env, "BROKER_LOG_LEVEL": "WARNING"}, cwd=ROOT)
        url = f"http://127.0.0.1:{port}/v1/lookups"
        try:
            _wait(port)
            latencies, errors = _load(url, key, households, clients, seconds)
        finally:
            for process in (server, worker):
                process.terminate()
                process.wait(timeout=10)
            core.dispose()
    latencies.sort()
    return {
        "keys": keys, "clients": clients, "workers": workers, "seconds": seconds,
        "http_lookups_per_s": len(latencies) / seconds,
        "http_p50_ms": statistics.median(latencies) * 1000,
        "http_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "errors": errors,
        "floor_lookups_per_s_one_core": floor_rate,
    }


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start within 30 s")


def _load(url: str, key: SigningKey, households: list[list[Pseudonym]], clients: int,
          seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        mine: list[float] = []
        failed = 0
        with httpx.Client(timeout=10) as http:
            n = offset
            while time.monotonic() < stop:
                body = _body(households[n % len(households)])
                started = time.perf_counter()
                answer = http.post(url, content=body, headers=_signed(url, key, body))
                if answer.status_code == 200:
                    mine.append(time.perf_counter() - started)
                else:
                    failed += 1
                n += clients
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]
