"""The audit log's costs (issue 6): what an event adds to a request, how fast a bundle verifies
offline, and how long a checkpoint takes on a ten-million-event log.

- ``audit_marginal_ms``: ``record_event`` for a look-up-shaped event (three subjects, a policy
  version, a rule) inside a transaction that commits anyway: what the audit adds to a request.
  ``audit_txn_ms`` is one event in a transaction of its own, commit included.
- ``verify_events_per_s``: ``scripts/verify-audit`` on an exported-format bundle of
  ``--verify-events`` events (built with the broker's own chain code, as an export writes it).
- ``checkpoint_ms``: ``sign_checkpoint`` on a log of ``--checkpoint-events`` events. A checkpoint
  reads only the state row (size, head and the tree's compact range), never the events, so the
  state of a ten-million-leaf tree is built from its leaves in memory and stored; the timing is
  then the same as on a log that holds them.

``scripts/bench`` runs all three (``--only audit``) on the embedded database. Run on its own,
``.venv/bin/python scripts/bench_audit.py`` measures only the append, on SQLite or, when
``BROKER_DATABASE_URL`` names a PostgreSQL database, in a schema of its own there (dropped
afterwards); besides the wall-clock figures it reports the process CPU time per event
(``audit_marginal_cpu_ms``, what a shared machine does not disturb) and the statements one
append runs (``statements_per_append``, counted on the driver's connection).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker_primitives.merkle import Frontier, leaf_hash
from sqlalchemy import Connection, update

from broker.audit.chain import GENESIS, STATE_ID, canonical, timestamp
from broker.audit.checkpoints import checkpoint_body, sign_checkpoint
from broker.audit.models import AuditLogState
from broker.audit.services import Actor, Subject, record_event
from broker.clock import utcnow
from broker.config import Settings
from broker.core import Core
from broker.setup import initialise

ROOT = Path(__file__).resolve().parents[1]
ACTOR = Actor(actor="key:bench-1", channel="api", organisation_id=1,
              request_id="0192f0c4-7f1e-7cc0-9d1e-5b7c7f3a0b11", source_address="10.1.2.0/24")
SUBJECTS = [Subject(c, os.urandom(32), 1, 1) for c in ("person", "person", "address")]


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def _lookup_event(connection: object) -> None:
    record_event(connection, ACTOR, "lookup:performed",  # type: ignore[arg-type]
                 purpose="safety_assessment", legal_basis="legal_task",
                 statute="wmo2015_5_2_6", policy_version="ab" * 32,
                 rule_id="wijkteam-ziet-veilig-thuis", subjects=SUBJECTS,
                 details={"match_count": 1, "matched_involvements": [17],
                          "withheld_by_policy": 0, "withheld_for_reciprocity": 0,
                          "flag_for_review": False})


@dataclass
class Statements:
    """What the driver sent while counting: statements executed (each row of an
    ``executemany`` is one) and, on PostgreSQL, round trips (a ``Sync`` or a simple query)."""

    statements: int = 0
    round_trips: int = 0


@contextmanager
def counted_statements(connection: Connection) -> Iterator[Statements]:
    """Count the statements run on ``connection``'s driver connection inside the block.

    On the wire, not through SQLAlchemy's events (the hot paths run on the DBAPI cursor, past
    them): libpq's protocol trace on PostgreSQL, SQLite's trace callback (one call per
    statement execution) on SQLite.
    """
    driver: Any = connection.connection.driver_connection
    counts = Statements()
    if connection.dialect.name == "sqlite":
        def traced(_sql: str) -> None:
            counts.statements += 1
            counts.round_trips += 1
        driver.set_trace_callback(traced)
        try:
            yield counts
        finally:
            driver.set_trace_callback(None)
        return
    from psycopg import pq  # noqa: PLC0415 - only on PostgreSQL

    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as trace:
        driver.pgconn.trace(trace.fileno())
        driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield counts
        finally:
            driver.pgconn.untrace()
        trace.seek(0)
        for line in trace:
            parts = line.split("\t", 3)
            if len(parts) > 2 and parts[0] == "F":
                message = parts[2].strip()
                counts.statements += message in ("Execute", "Query")
                counts.round_trips += message in ("Sync", "Query")


def statements_per_append(core: Core) -> dict[str, int]:
    """The statements (and round trips) one look-up-shaped append runs."""
    with core.transaction() as connection:
        _lookup_event(connection)  # the transaction has begun, the statements are prepared
        with counted_statements(connection) as counts:
            _lookup_event(connection)
    return {"statements_per_append": counts.statements,
            "round_trips_per_append": counts.round_trips}


def audit_costs(core: Core, events: int) -> dict[str, float]:
    """Milliseconds per event: added to a committing transaction, and on its own."""
    marginal, alone, cpu = [], [], 0.0
    for _ in range(events):
        with core.transaction() as connection:
            started, cpu_started = time.perf_counter(), time.process_time()
            _lookup_event(connection)
            cpu += time.process_time() - cpu_started
            marginal.append(time.perf_counter() - started)
        started = time.perf_counter()
        with core.transaction() as connection:
            _lookup_event(connection)
        alone.append(time.perf_counter() - started)
    marginal.sort()
    alone.sort()
    return {
        "audit_marginal_ms": statistics.median(marginal) * 1000,
        "audit_marginal_p99_ms": marginal[int(len(marginal) * 0.99)] * 1000,
        "audit_marginal_cpu_ms": cpu / events * 1000,
        "audit_txn_ms": statistics.median(alone) * 1000,
    }


def write_bundle(core: Core, directory: Path, events: int) -> None:
    """A bundle of ``events`` synthetic look-up events, exactly as ``broker audit export``
    writes one (canonical lines, chained hashes, a signed checkpoint, the key)."""
    from broker_primitives.merkle import inclusion_proof  # noqa: PLC0415

    key = core.audit_key()
    frontier = Frontier.empty()
    leaves = bytearray()
    previous = GENESIS
    at = timestamp(utcnow())
    with (directory / "events.jsonl").open("w", encoding="utf-8") as handle:
        for seq in range(1, events + 1):
            content = {
                "seq": seq, "event_id": f"0192f0c4-7f1e-7cc0-9d1e-{seq:012x}",
                "occurred_at": at, "event_type": "lookup:performed", "action": "R",
                "outcome": "success", "reason": None, "actor": "key:bench-1",
                "actor_role": None, "on_behalf_of": "professional:anna", "organisation_id": 1,
                "channel": "api", "request_id": None, "purpose": "safety_assessment",
                "legal_basis": "legal_task", "statute": "wmo2015_5_2_6",
                "consent_reference": None, "policy_version": "ab" * 32,
                "rule_id": "wijkteam-ziet-veilig-thuis", "obligations": [],
                "vital_interest": False, "subjects": ["address", "person", "person"],
                "personal_digest": None, "details": {"match_count": 1},
                "prev_hash": previous.hex(),
            }
            body = canonical(content)
            digest = leaf_hash(body)
            content["hash"] = digest.hex()
            handle.write(canonical(content).decode("utf-8") + "\n")
            frontier.append(digest)
            leaves += digest
            previous = digest
    note = key.sign(checkpoint_body(key.name, events, frontier.root(), utcnow()))
    (directory / "checkpoints.txt").write_text(note, encoding="utf-8")
    view = [bytes(leaves[i * 32:(i + 1) * 32]) for i in range(events)]
    proof = inclusion_proof(view, events - 1, events)
    (directory / "proofs.json").write_text(json.dumps({
        "inclusion": [{"leaf_index": events - 1, "tree_size": events,
                       "path": [h.hex() for h in proof]}],
        "consistency": []}), encoding="utf-8")
    (directory / "audit-key.pub").write_text(key.verifier() + "\n", encoding="utf-8")
    (directory / "manifest.json").write_text(json.dumps({
        "format": "broker-audit-bundle/1", "origin": key.name, "first_seq": 1,
        "last_seq": events, "event_count": events, "from": at, "to": at, "created_at": at,
        "tree_size": events}), encoding="utf-8")


def verify_rate(core: Core, events: int) -> dict[str, float]:
    """Events per second of the offline verifier (a separate process, as an auditor runs it)."""
    with tempfile.TemporaryDirectory(prefix="broker-bundle-") as tmp:
        directory = Path(tmp)
        log(f"audit: writing a bundle of {events:,} events ...")
        write_bundle(core, directory, events)
        log("audit: verifying it offline ...")
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 - our own script, no shell
            [sys.executable, str(ROOT / "scripts" / "verify-audit"), str(directory), "--key",
             core.audit_key().verifier(), "--quiet"],
            capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the verifier refused the bench bundle: {result.stdout}"
                         f"{result.stderr}")
    return {"verify_events": events, "verify_seconds": elapsed,
            "verify_events_per_s": events / elapsed}


def checkpoint_time(core: Core, events: int) -> dict[str, float]:
    """Signing a checkpoint of a log whose state holds ``events`` leaves."""
    log(f"audit: building the tree state of {events:,} leaves ...")
    frontier = Frontier.empty()
    seed = os.urandom(32)
    for n in range(events):
        frontier.append(leaf_hash(seed + n.to_bytes(8, "big")))
    with core.transaction() as connection:
        connection.execute(update(AuditLogState).where(AuditLogState.id == STATE_ID).values(
            size=events, head=os.urandom(32), frontier=frontier.to_bytes()))
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        signed = sign_checkpoint(core, force=True)
        timings.append(time.perf_counter() - started)
        assert signed is not None and signed.tree_size == events
    return {"checkpoint_events": events, "checkpoint_ms": statistics.median(timings) * 1000,
            "checkpoint_max_ms": max(timings) * 1000}


def run(*, events: int, verify_events: int, checkpoint_events: int) -> dict[str, Any]:
    """All three measurements on a fresh embedded (or ``BROKER_DATABASE_URL``) database."""
    with tempfile.TemporaryDirectory(prefix="broker-bench-audit-") as home:
        env = {"BROKER_HOME": home, "BROKER_POLICY_DIR": str(ROOT / "policies")}
        if os.environ.get("BROKER_DATABASE_URL"):
            raise SystemExit("the audit section runs on the embedded database only; "
                             "unset BROKER_DATABASE_URL or use --only registry,policy,http")
        core = Core(Settings.from_env(env))
        try:
            initialise(core, Actor.operator("bench"))
            log(f"audit: {events:,} events through record_event ...")
            figures = {"database": core.engine.dialect.name, **audit_costs(core, events)}
            figures.update(verify_rate(core, verify_events))
            figures.update(checkpoint_time(core, checkpoint_events))
        finally:
            core.dispose()
    return figures


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server for this run: (url using it, schema name)."""
    from bench import postgres_schema as fresh  # noqa: PLC0415 - scripts/ is on sys.path

    return fresh(url)


def append_only(*, events: int, rounds: int) -> dict[str, Any]:
    """The append alone (``audit_costs`` and the statements it runs), ``rounds`` times over, on
    the embedded database or on ``BROKER_DATABASE_URL``'s PostgreSQL server."""
    base_url = os.environ.get("BROKER_DATABASE_URL")
    url, schema = postgres_schema(base_url) if base_url else (None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="broker-bench-audit-") as home:
            env = {"BROKER_HOME": home, "BROKER_POLICY_DIR": str(ROOT / "policies")}
            if url:
                env["BROKER_DATABASE_URL"] = url
            core = Core(Settings.from_env(env))
            try:
                initialise(core, Actor.operator("bench"))
                figures: dict[str, Any] = {"database": core.engine.dialect.name,
                                           **statements_per_append(core)}
                for _ in range(max(1, events // 10)):  # warm: caches, prepared statements
                    with core.transaction() as connection:
                        _lookup_event(connection)
                figures["rounds"] = [audit_costs(core, events) for _ in range(rounds)]
            finally:
                core.dispose()
    finally:
        if base_url and schema:
            from bench import drop_schema  # noqa: PLC0415 - scripts/ is on sys.path

            drop_schema(base_url, schema)
    return figures


def main() -> int:
    """Measure the append and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="appends per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = append_only(events=args.events, rounds=args.rounds)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    raise SystemExit(main())
