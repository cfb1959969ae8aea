"""Parts 3, 4, 5 and 7 of the reliability suite (scripts/reliability.py): Redis restarted empty,
the pseudonym service stopped, the sustained load, the privacy scan."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Sequence

import httpx
from broker_primitives import oprf
from broker_primitives.identifiers import parse_bsn
from reliability_load import (
    Clients,
    expect,
    figure,
    group_rss_kib,
    percentile,
    statuses,
    stored,
)

from broker.api.schemas import b64url
from broker.core import Core
from deploy.local import BROKER, Deployment, postgres_bin
from tests.api.live import signed
from tests.test_outage_live import lookup_body

BSNS = ["123456782", "111222333", "999999990", "100000009", "222222220"]


def redis_part(clients: Clients, run_outage: Callable[[], None]) -> None:
    """Part 3: Redis stopped and restarted empty; a captured request is not accepted again."""
    captured = signed(clients.base, clients.org, "POST", "/v1/lookups", lookup_body(),
                      extra_headers={"Idempotency-Key": str(uuid.uuid4())})
    with clients.client() as http:
        first = clients.send(http, "lookup", "POST", "/v1/lookups", raw=captured, record=False)
        run_outage()
        replayed = clients.send(http, "lookup", "POST", "/v1/lookups", raw=captured,
                                record=False)
    figure("redis", captured_first=first.status, replay_after_empty_restart=replayed.status,
           replay_problem=replayed.problem_type)
    expect("redis", first.status == 200, "the captured look-up was answered before the outage")
    expect("redis", replayed.status == 401
           and replayed.problem_type == "urn:broker:problem:signature-replayed",
           "the captured request is refused as a replay after Redis restarted empty")


def service_part(deployment: Deployment, clients: Clients, core: Core) -> None:
    """Part 4: the pseudonym service stopped: 503 with Retry-After, nothing written."""
    body = {"blinded_elements": [b64url(oprf.blind(parse_bsn(BSNS[0]).tagged_bytes)[1])]}
    with clients.client() as http:
        before = clients.send(http, "evaluate", "POST", "/v1/pseudonyms/evaluate", body,
                              record=False)
        deployment.stop("service")
        written = stored(core)
        during = [clients.send(http, "evaluate", "POST", "/v1/pseudonyms/evaluate", body,
                               record=False) for _ in range(10)]
        unchanged = stored(core) == written
        deployment.start_service()
        after = clients.send(http, "evaluate", "POST", "/v1/pseudonyms/evaluate", body,
                             record=False)
    figure("pseudonym-service", before=before.status, during=statuses(during),
           after=after.status, written_while_down=not unchanged)
    expect("pseudonym-service", before.status == 200 and after.status == 200,
           "evaluations answered before and after")
    expect("pseudonym-service", all(
        o.status == 503 and o.retry_after and not o.signature
        and o.problem_type == "urn:broker:problem:service-unavailable" for o in during),
        "503 service-unavailable with Retry-After, signed, while it is stopped")
    expect("pseudonym-service", unchanged, "nothing written while it is stopped")


def load_part(deployment: Deployment, clients: Clients, count: int, seconds: float) -> None:
    """Part 5: a sustained mix from ``count`` clients for ``seconds``."""
    broker = deployment.pids["broker"]
    memory_before = group_rss_kib(broker)
    clients.phase = "load"
    clients.stop.clear()
    running = clients.in_threads(count, clients.until_stopped)
    time.sleep(seconds)
    clients.stop.set()
    for thread in running:
        thread.join()
    memory_after = group_rss_kib(broker)
    outcomes = clients.in_phase("load")
    errors = [o for o in outcomes if not 200 <= o.status < 300 or o.signature]
    latencies = [o.seconds * 1000 for o in outcomes]
    figure("load", clients=count, seconds=seconds, requests=len(outcomes),
           per_second=round(len(outcomes) / seconds, 1), errors=len(errors),
           status_counts=statuses(outcomes), p50_ms=round(percentile(latencies, 0.5), 1),
           p99_ms=round(percentile(latencies, 0.99), 1),
           workers_rss_mib_before=round(memory_before / 1024, 1),
           workers_rss_mib_after=round(memory_after / 1024, 1),
           memory_change_percent=round(100 * (memory_after - memory_before)
                                       / max(memory_before, 1), 1))
    expect("load", not errors, "0 errors")


def privacy_part(deployment: Deployment, clients: Clients,
                 more: Sequence[str] = ()) -> None:
    """Part 7: the BSNs used (``more``: those of earlier parts too) appear in no database dump
    and no log."""
    env = deployment.broker_env()
    for bsn in BSNS:
        deployment.run(*BROKER, "lookup", "--org", clients.org.code, "--professional",
                       clients.org.professional, "--purpose", "protection", "--basis",
                       "legal_task", "--statute", "jeugdwet_7_1_1", "--bsn", bsn, "--register",
                       env=env)
    time.sleep(1)  # let the access logs flush
    dump = subprocess.run(
        [str(postgres_bin() / "pg_dump"), "-h", "127.0.0.1", "-p",
         str(deployment.ports["postgres"]), "-U", "postgres", "broker"],
        capture_output=True, check=True).stdout
    service_db = b"".join(path.read_bytes()
                          for path in deployment.service_dir.glob("service.db*"))
    logs = b"".join(path.read_bytes() for path in (deployment.state / "logs").iterdir()
                    if path.is_file())
    # The workers' metrics, scraped as Prometheus would (loopback, straight to gunicorn).
    scrape = httpx.get(f"http://127.0.0.1:{deployment.ports['broker']}/metrics", timeout=10)
    metrics = scrape.content
    scanned = [*BSNS, *more]
    found = {bsn: [where for where, data in (("database dump", dump),
                                             ("pseudonym service database", service_db),
                                             ("logs", logs), ("metrics", metrics))
                   if bsn.encode() in data]
             for bsn in scanned}
    figure("privacy", bsns=len(scanned), dump_bytes=len(dump), service_db_bytes=len(service_db),
           log_bytes=len(logs), metrics_bytes=len(metrics),
           found={b: w for b, w in found.items() if w})
    expect("privacy", scrape.status_code == 200 and b"broker_http_requests_total" in metrics,
           "the metrics were scraped")
    expect("privacy", not any(found.values()), "no BSN in the dumps, the logs or the metrics")
