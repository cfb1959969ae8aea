"""Benchmarks of the registry through its service layer, next to the floor for the same work.

For every size (stored matching keys) it measures, in one run:

- ``lookup_p50_ms``, ``lookup_p99_ms``, ``lookups_per_s``: ``RegistryService.lookup`` with three
  pseudonyms (half of them registered, half not), including the audit event and the commit;
- ``floor_lookups_per_s``: the irreducible part of the same work, the scalar multiplications
  ``b·N`` and one index probe per look-up, and the ratio of the two;
- ``registrations_per_s`` / ``keys_per_s``: bulk registration in batches of 500;
- ``rotation_keys_per_s``: in-place re-keying of the first rows (at most ``--rotation-rows``).

Pseudonyms are random ristretto255 points: a client's ``N = k·H(identifier)`` is uniformly
distributed in the group, so the broker's work is the same as for real identifiers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pysodium
from bench_http import add_arguments as add_http_arguments  # scripts/ is on sys.path
from bench_http import run_all as run_http
from bench_scale import add_arguments as add_scale_arguments
from bench_scale import run as run_scale
from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import Category
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from broker.audit.services import Actor
from broker.cli.jobs import Job, checkpoint_wal, uses_wal
from broker.cli.worker import Worker
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.policy import load_policy
from broker.registry.candidates import MATCHES
from broker.registry.lookups import Evidence, LookupService
from broker.registry.rotation import run_rotation, start_or_resume
from broker.registry.services import NewInvolvement, RegistryService
from broker.setup import initialise

ORG_TYPES = ["wijkteam", "veilig_thuis", "politie", "school", "ggz", "huisarts",
             "jeugdhulp", "vrouwenopvang", "reclassering", "verslavingszorg"]
KEYS_PER_HOUSEHOLD = 3
ORGS_PER_HOUSEHOLD = 2
BATCH = 500
CATEGORIES: tuple[Category, ...] = ("person", "person", "address")
STATUTE = Evidence(statute="jeugdwet_7_3_11")  # a statute the policy lists for protection


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


class Bench:
    """A registry on a fresh database that grows to each size in turn."""

    def __init__(self, home: Path, database_url: str | None) -> None:
        env = {"BROKER_HOME": str(home),
               "BROKER_POLICY_DIR": str(Path(__file__).resolve().parents[1] / "policies")}
        if database_url:
            env["BROKER_DATABASE_URL"] = database_url
        self.core = Core(Settings.from_env(env), notices=InboxNotices())
        initialise(self.core, Actor.operator("bench"))
        if uses_wal(self.core):  # as beside a served broker: the worker's WAL job
            wal = Worker(self.core, [Job("sqlite-wal", 0.5, checkpoint_wal, quiet=True)])
            threading.Thread(target=wal.run, name="sqlite-wal", daemon=True).start()
        self.rng = random.Random(9497)
        self.households: list[list[Pseudonym]] = []
        self.stored_keys = 0
        self.members: list[tuple[str, str, Actor]] = []
        with self.core.unit_of_work() as uow:
            registry = RegistryService(uow)
            for n, org_type in enumerate(ORG_TYPES):
                code = f"org-{n}"
                info = registry.create_organisation(Actor.operator("bench"), identifier=code,
                                                    name=f"Organisation {n}", org_type=org_type)
                registry.add_professional(Actor.operator("bench"), organisation=code,
                                          username=f"{code}-p", name="P", role="r")
                actor = Actor(actor=f"professional:{code}-p", channel="api",
                              organisation_id=info.id)
                self.members.append((code, f"{code}-p", actor))

    def _household(self) -> list[Pseudonym]:
        return [Pseudonym(c, pysodium.crypto_core_ristretto255_random(), 1) for c in CATEGORIES]

    def grow_to(self, size: int) -> dict[str, float]:
        """Register households until ``size`` matching keys are stored; time the registration."""
        registered = keys = 0
        elapsed = 0.0
        while self.stored_keys < size:
            per_org: dict[int, list[NewInvolvement]] = {}
            for _ in range(BATCH // ORGS_PER_HOUSEHOLD):
                household = self._household()
                self.households.append(household)
                for org_index in self.rng.sample(range(len(self.members)), ORGS_PER_HOUSEHOLD):
                    item = NewInvolvement(self.members[org_index][1], household, "protection")
                    per_org.setdefault(org_index, []).append(item)
            started = time.perf_counter()
            for org_index, items in per_org.items():
                code, _, actor = self.members[org_index]
                with self.core.unit_of_work() as uow:  # one request of a case system
                    RegistryService(uow).register_involvements(actor, organisation=code,
                                                               items=items)
                registered += len(items)
                keys += len(items) * KEYS_PER_HOUSEHOLD
            elapsed += time.perf_counter() - started
            self.stored_keys += (BATCH // ORGS_PER_HOUSEHOLD) * ORGS_PER_HOUSEHOLD * 3
            if self.stored_keys % 50_000 < BATCH * 3:
                log(f"  {self.stored_keys:,} keys stored")
        return {"registrations_per_s": registered / elapsed if elapsed else 0.0,
                "keys_per_s": keys / elapsed if elapsed else 0.0}

    def _questions(self, count: int) -> list[list[Pseudonym]]:
        """Half registered households, half unknown ones."""
        return [self.rng.choice(self.households) if n % 2 == 0 else self._household()
                for n in range(count)]

    def lookups(self, count: int) -> dict[str, float]:
        """Service-layer look-ups, each timed."""
        timings = []
        actor = self.members[0][2]
        questions = self._questions(count)
        started = time.perf_counter()
        for question in questions:
            t0 = time.perf_counter()
            with self.core.unit_of_work() as uow:  # one request, as a door opens it
                LookupService(uow).lookup(actor, pseudonyms=question, purpose="protection",
                                          basis="legal_task", evidence=STATUTE)
            timings.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        timings.sort()
        return {
            "lookup_p50_ms": statistics.median(timings) * 1000,
            "lookup_p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000,
            "lookups_per_s": count / total,
        }

    def floor(self, count: int) -> float:
        """Look-ups per second of the irreducible work: ``b·N`` per key and the look-up's own
        index probes (its match SELECT), without validation, policy, audit event or commit."""
        b = self.core.keystore.load("broker", self.core.keystore.current_epoch("broker"))
        questions = self._questions(count)
        today = self.core.today()
        with self.core.engine.connect() as connection:
            started = time.perf_counter()
            for question in questions:
                values = [oprf.scalar_mult_trusted(b, p.element) for p in question]
                MATCHES.all(connection, {"values": values, "today": today})
            total = time.perf_counter() - started
        return count / total

    def rotation(self, rows: int, finish: bool) -> float:
        """Re-keying rate over the first ``rows`` stored values; optionally finish the rotation."""
        operator = Actor.operator("bench")
        rotation, _ = start_or_resume(self.core, operator, "broker")
        batch = 2000
        started = time.perf_counter()
        done = run_rotation(self.core, operator, rotation, batch_size=batch,
                            max_batches=max(1, rows // batch))
        rate = done / (time.perf_counter() - started)
        if finish:
            run_rotation(self.core, operator, rotation, batch_size=batch)
        return rate


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server for this run: (url using it, schema name)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


def drop_schema(url: str, schema: str) -> None:
    """Remove the run's schema again."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="stored matching keys, comma-separated (default: %(default)s)")
    parser.add_argument("--lookups", type=int, default=2000, help="look-ups per size")
    parser.add_argument("--rotation-rows", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--only", default="registry,policy,http,audit",
                        help="sections to run: registry, policy, http, audit, scale "
                             "(default: %(default)s)")
    add_http_arguments(parser)  # --clients, --keys, --store, ... (scripts/bench_http.py)
    add_scale_arguments(parser)  # --scale, --scale-keys, ... (scripts/bench_scale.py)
    parser.add_argument("--audit-events", type=int, default=2000)
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-events", type=int, default=10_000_000)
    args = parser.parse_args()
    sections = {"scale"} if args.scale else set(args.only.split(","))
    figures: dict[str, object] = {"machine": machine_info()}
    if "policy" in sections:
        figures["policy"] = policy_decisions()
        print(f"policy: {figures['policy']['decisions_per_s']:,.0f} decisions/s on one core "  # type: ignore[index]
              "(goal >= 50,000)")
    if "http" in sections:
        figures["http"] = run_http(args)
    if "audit" in sections:
        from bench_audit import run as run_audit  # noqa: PLC0415 - scripts/ is on sys.path

        audit = run_audit(events=args.audit_events, verify_events=args.verify_events,
                          checkpoint_events=args.checkpoint_events)
        figures["audit"] = audit
        print(f"audit: {audit['audit_marginal_ms']:.3f} ms added per request (p99 "
              f"{audit['audit_marginal_p99_ms']:.3f} ms; goal < 0.5 ms), "
              f"{audit['audit_txn_ms']:.3f} ms as a transaction of its own; offline "
              f"verification {audit['verify_events_per_s']:,.0f} events/s over "
              f"{audit['verify_events']:,} events (goal >= 200,000); checkpoint of "
              f"{audit['checkpoint_events']:,} events {audit['checkpoint_ms']:.1f} ms "
              "(goal < 1 s)")
    if "registry" in sections:
        figures.update(registry_section(args))
    if "scale" in sections:
        figures["scale"] = run_scale(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        log(f"wrote {args.json}")
    return 0


def machine_info() -> dict[str, object]:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "libsodium": "system"}


def policy_decisions() -> dict[str, float]:
    """Decisions per second of the shipped policy over its whole request space, one core."""
    policy = load_policy(Path(__file__).resolve().parents[1] / "policies")
    requests = list(policy.requests())
    rounds = max(1, 500_000 // len(requests))
    started = time.perf_counter()
    for _ in range(rounds):
        for request in requests:
            policy.decide(request)
    elapsed = time.perf_counter() - started
    return {"requests": len(requests), "decisions_per_s": rounds * len(requests) / elapsed}


def registry_section(args: argparse.Namespace) -> dict[str, object]:
    """The registry at each size; prints its table."""
    sizes = sorted(int(s) for s in args.sizes.split(","))

    base_url = os.environ.get("BROKER_DATABASE_URL")
    url, schema = postgres_schema(base_url) if base_url else (None, None)
    results = []
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as home:
        bench = Bench(Path(home), url)
        engine_name = bench.core.engine.dialect.name
        try:
            for n, size in enumerate(sizes):
                log(f"size {size:,}: registering ...")
                row: dict[str, float | int | str] = {"size": size, "database": engine_name}
                row.update(bench.grow_to(size))
                # As autovacuum does on a live PostgreSQL: statistics for the planner.
                with bench.core.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
                # The benchmark's own millions of pseudonyms are not the broker's heap: keep the
                # collector from walking them during the timed look-ups.
                gc.collect()
                gc.freeze()
                log(f"size {size:,}: {args.lookups} look-ups ...")
                row.update(bench.lookups(args.lookups))
                row["floor_lookups_per_s"] = bench.floor(args.lookups)
                row["ratio_to_floor"] = float(row["lookups_per_s"]) / float(
                    row["floor_lookups_per_s"])
                log(f"size {size:,}: rotation ...")
                row["rotation_keys_per_s"] = bench.rotation(args.rotation_rows,
                                                            finish=n < len(sizes) - 1)
                row["stored_keys"] = bench.stored_keys
                results.append(row)
        finally:
            bench.core.dispose()
            if base_url and schema:
                drop_schema(base_url, schema)

    columns = ["size", "lookup_p50_ms", "lookup_p99_ms", "lookups_per_s",
               "floor_lookups_per_s", "ratio_to_floor", "registrations_per_s", "keys_per_s",
               "rotation_keys_per_s"]
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(f"{row[c]:,.2f}" if isinstance(row[c], float) else f"{row[c]:,}"
                         for c in columns))
    first, last = results[0], results[-1]
    p99_growth = float(last["lookup_p99_ms"]) / float(first["lookup_p99_ms"])
    print(f"p99 at {last['size']:,} / p99 at {first['size']:,}: {p99_growth:.2f} "
          f"(goal <= 1.5); look-ups / floor at {last['size']:,}: "
          f"{float(last['ratio_to_floor']):.2f} (goal >= 0.5)")
    return {"registry": results, "p99_growth": p99_growth}


if __name__ == "__main__":
    sys.exit(main())
