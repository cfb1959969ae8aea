"""Signed clients for the reliability suite (scripts/reliability.py): each request is signed as
the test organisation, sent through nginx over TLS, its answer's signature and binding verified,
and its outcome and latency recorded."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from broker_primitives.httpsig.signatures import RequestMessage, SignatureError, verify_response
from nacl.signing import VerifyKey
from sqlalchemy import func, select

from broker.audit.models import AuditEvent
from broker.core import Core
from broker.registry.models import Involvement
from tests.api.live import Organisation, signed
from tests.test_outage_live import INBOX, lookup_body, registration

RETRYABLE = {502, 503, 504}
FAILURES: list[str] = []


def figure(part: str, **values: object) -> None:
    """Print one part's figures."""
    print(f"[{part}] {dumps(values)}", flush=True)


def expect(part: str, ok: bool, what: str) -> None:
    """Record a failed expectation (the suite goes on, and exits 1 at the end)."""
    print(f"[{part}] {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        FAILURES.append(f"{part}: {what}")


def statuses(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many answers had each status (0: no answer)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome.status)] = counts.get(str(outcome.status), 0) + 1
    return counts


def stored(core: Core) -> tuple[int, int, int]:
    """(involvements, distinct public ids, audit events) in the broker's database."""
    with core.session() as session:
        rows = session.scalar(select(func.count()).select_from(Involvement)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Involvement.public_id)))) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return rows, distinct, events


def group_rss_kib(pid: int) -> int:
    """Resident memory of every process in the process group ``pid`` (KiB)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pid:  # the process group
                for line in (stat.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass
class Outcome:
    """One request and its answer."""

    phase: str
    kind: str
    key: str | None
    body: Any
    status: int  # 0: no answer (connection refused or reset)
    seconds: float
    retry_after: str | None = None
    problem_type: str | None = None
    signature: str = ""  # "" when the answer's signature and binding verified
    answer: Any = None


@dataclass
class Clients:
    """Signed requests as one organisation, from any number of threads."""

    base: str
    org: Organisation
    public_key: VerifyKey
    tls: ssl.SSLContext
    phase: str = "start"
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> httpx.Client:
        """An HTTP client that trusts the test certificate."""
        return httpx.Client(timeout=60, verify=self.tls)

    def send(self, http: httpx.Client, kind: str, method: str, path: str, body: Any = None,
             key: str | None = None, raw: tuple[str, dict[str, str], bytes] | None = None,
             record: bool = True) -> Outcome:
        """Sign (or send ``raw`` as it is), send, verify, record."""
        extra = {"Idempotency-Key": key} if key else {}
        url, headers, content = raw or signed(self.base, self.org, method, path, body,
                                              extra_headers=extra)
        phase, started = self.phase, time.perf_counter()
        try:
            response = http.request(method, url, headers=headers, content=content)
        except httpx.TransportError:
            outcome = Outcome(phase, kind, key, body, 0, time.perf_counter() - started)
        else:
            outcome = Outcome(phase, kind, key, body, response.status_code,
                              time.perf_counter() - started, response.headers.get("retry-after"))
            if "json" in response.headers.get("content-type", ""):
                outcome.answer = response.json()
                if response.status_code >= 400 and isinstance(outcome.answer, dict):
                    outcome.problem_type = outcome.answer.get("type")
            if response.status_code != 502:  # nginx's own answer while no worker is up
                try:
                    verify_response(
                        status=response.status_code, headers=response.headers,
                        body=response.content,
                        resolve_key=lambda k: self.public_key if k == "broker-api-1" else None,
                        request=RequestMessage(method, url, headers), request_label="sig1")
                except SignatureError as exc:
                    outcome.signature = exc.code
        if record:
            with self.lock:
                self.outcomes.append(outcome)
        return outcome

    def register_until_acknowledged(self, http: httpx.Client, body: Any, key: str,
                                    attempts: int = 200) -> Outcome:
        """One registration, retried with the same Idempotency-Key through any outage."""
        outcome = self.send(http, "register", "POST", "/v1/involvements", body, key)
        for _ in range(attempts):
            if outcome.status == 0 or outcome.status in RETRYABLE:
                time.sleep(0.2)
                outcome = self.send(http, "register", "POST", "/v1/involvements", body, key)
            else:
                break
        return outcome

    def mixed(self, http: httpx.Client, turn: int) -> Outcome:
        """One request of a mix: registrations, look-ups and inbox reads."""
        kind = ("register", "lookup", "lookup", "inbox")[turn % 4]
        if kind == "inbox":
            return self.send(http, kind, "GET", INBOX)
        key = str(uuid.uuid4())
        if kind == "register":
            return self.send(http, kind, "POST", "/v1/involvements",
                             registration(self.org.professional), key)
        return self.send(http, kind, "POST", "/v1/lookups", lookup_body(), key)

    def in_threads(self, count: int, work: Callable[[int], None]) -> list[threading.Thread]:
        """Start ``count`` threads running ``work(n)``."""
        threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(count)]
        for thread in threads:
            thread.start()
        return threads

    def until_stopped(self, number: int) -> None:
        """Send the mix until :attr:`stop` is set."""
        with self.client() as http:
            turn = number
            while not self.stop.is_set():
                self.mixed(http, turn)
                turn += 1

    def in_phase(self, phase: str) -> list[Outcome]:
        """The outcomes of requests sent in ``phase``."""
        with self.lock:
            return [o for o in self.outcomes if o.phase == phase]


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of ``values``, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def dumps(data: Any) -> str:
    """Compact JSON for a figure line."""
    return json.dumps(data, sort_keys=True)
