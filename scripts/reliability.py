"""The reliability suite (issue 15, item 4): ``scripts/reliability [--reduced]``.

It starts the local production layout (deploy/local.py: private PostgreSQL and Redis, the
pseudonym service, a witness, gunicorn workers behind nginx with TLS) in a directory of its own,
runs each part against it, prints each part's figures, stops everything and exits 1 when any
part failed. The parts:

1. crash: SIGKILL of the broker's process group during N signed registrations from concurrent
   clients, which retry with the same Idempotency-Key; then no acknowledged write is missing,
   none is stored twice, and the audit chain verifies.
2. database: PostgreSQL stopped mid-burst: every answer 2xx or a signed 503 problem with
   Retry-After (never a 500), refused registrations sent again land exactly once, and the
   broker recovers without a restart.
3. redis: Redis stopped (fail closed: 503) and restarted empty; a request captured before is
   not accepted again inside its signature's window.
4. pseudonym service stopped: evaluations answer 503 with Retry-After and nothing is written.
5. load: a mix of registrations, look-ups and inbox reads from 50 concurrent clients; 0 errors,
   p50/p99 latency, the workers' memory before and after.
6. schemathesis (scripts/reliability_fuzz.py): every operation of the served
   ``/v1/openapi.json`` through nginx over TLS, each request signed as a registered
   organisation and most of them seeded to be valid (real pseudonyms finalised by the shipped
   client, ids that exist, the policy's purposes and bases, dates in range); no 5xx, every
   answer keeps to the document and is signed by the broker, at least 60 % valid.
7. privacy: the BSNs used (through the command line's raw-identifier door, client-side
   blinding and part 6's seeds) appear nowhere in the database dumps (broker and pseudonym
   service), the logs or the workers' Prometheus metrics, taken after every other part.

``--reduced`` (a few minutes; scripts/test runs it when BROKER_TEST_RELIABILITY=1) uses fewer
registrations, a short load run and 25 schemathesis cases per operation (200 in the full form).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # deploy/, tests/ and the sibling modules

from reliability_fuzz import schemathesis_part
from reliability_load import (
    FAILURES,
    Clients,
    expect,
    figure,
    statuses,
    stored,
)
from reliability_parts import load_part, privacy_part, redis_part, service_part
from sqlalchemy import select

from broker.audit.verification import verify_log
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.models import Involvement
from deploy.local import Deployment
from deploy.up_down import down, up
from tests.api.live import broker_public_key, enrol
from tests.test_outage_live import registration


def crash(deployment: Deployment, clients: Clients, core: Core, total: int, threads: int) -> None:
    """Part 1: SIGKILL of the serving process group during the registrations."""
    before = stored(core)[0]
    keys = [(str(uuid.uuid4()), registration(clients.org.professional)) for _ in range(total)]
    acknowledged: dict[str, str] = {}
    retried = [0]

    def work(number: int) -> None:
        with clients.client() as http:
            for key, body in keys[number::threads]:
                outcome = clients.register_until_acknowledged(http, body, key)
                if outcome.status == 201:
                    acknowledged[key] = outcome.answer["involvements"][0]["id"]

    clients.phase = "crash"
    started = time.monotonic()
    running = clients.in_threads(threads, work)
    while len(acknowledged) < total * 0.4:  # a stalled run fails, it never hangs CI
        if time.monotonic() - started > 600 or not any(t.is_alive() for t in running):
            raise SystemExit("crash: the registrations stalled before the kill "
                             f"({len(acknowledged)} of {total} acknowledged)")
        time.sleep(0.05)
    killed_at = len(acknowledged)
    os.killpg(deployment.pids["broker"], signal.SIGKILL)
    deployment.pids.pop("broker")
    down_at = time.monotonic()
    deployment.start_broker()
    back_after = time.monotonic() - down_at
    for thread in running:
        thread.join()
    elapsed = time.monotonic() - started
    outcomes = clients.in_phase("crash")
    retried[0] = len(outcomes) - total
    rows, distinct, _ = stored(core)
    with core.session() as session:
        ids = set(session.scalars(select(Involvement.public_id)))
    missing = [i for i in acknowledged.values() if i not in ids]
    with core.transaction() as connection:
        report = verify_log(connection, core.audit_key())
    figure("crash", registrations=total, clients=threads, acknowledged=len(acknowledged),
           acknowledged_before_kill=killed_at, missing=len(missing),
           duplicates=rows - before - len(acknowledged), retried_requests=retried[0],
           restart_seconds=round(back_after, 1), seconds=round(elapsed, 1),
           per_second=round(total / elapsed, 1), chain_verifies=report.ok,
           status_counts=statuses(outcomes))
    expect("crash", len(acknowledged) == total, "every registration acknowledged in the end")
    expect("crash", not missing, "0 acknowledged writes missing")
    expect("crash", rows - before == len(acknowledged) and rows == distinct, "0 duplicates")
    expect("crash", report.ok, f"the audit chain verifies ({report.problem or 'ok'})")
    expect("crash", not [o for o in outcomes if o.status == 500], "no 500")


def outage(part: str, clients: Clients, stop: Callable[[], None], start: Callable[[], None],
           threads: int, seconds: float) -> None:
    """Load through a stopped and restarted store; the answers of each phase recorded."""
    clients.stop.clear()
    clients.phase = f"{part}: before"
    running = clients.in_threads(threads, clients.until_stopped)
    time.sleep(2)
    stop()
    clients.phase = f"{part}: down"
    time.sleep(seconds)
    clients.phase = f"{part}: starting"
    start()
    clients.phase = f"{part}: back"
    deadline = time.monotonic() + 60
    while not any(o.status < 300 for o in clients.in_phase(f"{part}: back")):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(1)
    clients.stop.set()
    for thread in running:
        thread.join()


def check_outage(part: str, clients: Clients, core: Core, broker_pid: int,
                 deployment: Deployment) -> None:
    """Every answer 2xx or a signed 503 problem with Retry-After; refused registrations sent
    again land once; the broker was not restarted."""
    answers = [o for o in clients.outcomes if o.phase.startswith(part + ":")]
    down_answers = clients.in_phase(f"{part}: down")
    bad = [o for o in answers if o.status not in (200, 201, 503)]
    unsigned = [o for o in answers if o.signature]
    honest_503 = all(o.problem_type == "urn:broker:problem:service-unavailable"
                     and o.retry_after and int(o.retry_after) > 0
                     for o in answers if o.status == 503)
    before = stored(core)[0]
    refused = [o for o in answers if o.kind == "register" and o.status == 503]
    with clients.client() as http:
        again = [clients.send(http, "register", "POST", "/v1/involvements", o.body, o.key,
                              record=False).status for o in refused]
    succeeded = [o for o in answers if o.kind == "register" and o.status == 201]
    rows, distinct, _ = stored(core)
    figure(part, requests=len(answers), during_outage=len(down_answers),
           status_counts=statuses(answers), refused_registrations_resent=len(refused),
           broker_restarted=deployment.pids.get("broker") != broker_pid)
    expect(part, not bad, "every answer 2xx or 503 (never a 500)")
    expect(part, not unsigned, "every answer signed and bound to its request")
    expect(part, honest_503, "every 503 a service-unavailable problem with Retry-After")
    expect(part, bool(down_answers) and all(o.status == 503 for o in down_answers),
           "503 throughout the outage (fail closed)")
    expect(part, any(o.status < 300 for o in clients.in_phase(f"{part}: back")),
           "recovered without a restart")
    expect(part, all(s == 201 for s in again) and rows - before == len(refused)
           and rows == distinct, "refused registrations land exactly once when sent again")
    del succeeded


def main() -> int:
    """Run the suite; 0 when every part held."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reduced", action="store_true", help="a short run (CI)")
    options = parser.parse_args()
    reduced = options.reduced
    parent = Path(tempfile.mkdtemp(prefix="broker-reliability-", dir="/tmp"))
    parent.chmod(0o755)
    state = parent / "state"
    os.environ |= {"BROKER_DEPLOY_POLICY": str(ROOT / "tests" / "data" / "open_policy.yaml"),
                   "BROKER_API_IP_RATE": "10000000/minute",
                   "BROKER_API_ORG_RATE": "10000000/minute",
                   "BROKER_DEPLOY_SERVICE_QUOTA": "10000000"}
    print(f"== reliability suite ({'reduced' if reduced else 'full'}), state in {state}")
    deployment = up(state, 2 if reduced else 4)
    core = Core(Settings.from_env(deployment.broker_env()), notices=InboxNotices())
    try:
        run_parts(deployment, core, reduced)
    finally:
        core.dispose()
        down(state)
        os.rmdir(parent) if parent.exists() and not any(parent.iterdir()) else None
    print(f"== {'FAILED: ' + '; '.join(FAILURES) if FAILURES else 'all parts held'}")
    return 1 if FAILURES else 0


def run_parts(deployment: Deployment, core: Core, reduced: bool) -> None:
    """The seven parts, in order."""
    org = enrol(core, "vt-a", "veilig_thuis")
    clients = Clients(deployment.base_url, org, broker_public_key(core), deployment.tls())
    crash(deployment, clients, core, 600 if reduced else 10_000, 8 if reduced else 16)

    broker_pid = deployment.pids["broker"]
    outage("database", clients, lambda: deployment.stop_postgres("fast"),
           deployment.start_postgres, 3, 4.0)
    check_outage("database", clients, core, broker_pid, deployment)

    def redis_outage() -> None:
        outage("redis", clients, lambda: deployment.stop("redis"),
               lambda: deployment.start_redis(empty=True), 3, 4.0)
        check_outage("redis", clients, core, broker_pid, deployment)

    redis_part(clients, redis_outage)
    service_part(deployment, clients, core)
    load_part(deployment, clients, 50, 20.0 if reduced else 180.0)
    seeds = schemathesis_part(deployment.base_url, deployment.tls(), core, clients.org,
                              clients.public_key, Path(os.environ["BROKER_DEPLOY_POLICY"]),
                              25 if reduced else 200)
    privacy_part(deployment, clients, seeds.identifiers)


if __name__ == "__main__":
    sys.exit(main())
