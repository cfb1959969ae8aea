"""The registry at scale on PostgreSQL (issue 15 §5): ``scripts/bench --scale``.

It starts a PostgreSQL server of its own (never the machine's shared one) and a broker on it,
loads stored matching keys by ``COPY`` (scripts/bench_scale_load.py: rows exactly as a
registration stores them, indexes built as the migrations define them, then VACUUM ANALYZE) and
reports, printed and under ``scale`` in ``--json FILE``:

- ``small`` / ``large``: look-up p50/p99 (ms) and look-ups/s at ``--scale-small`` (10⁴) and at
  ``--scale-keys`` (10⁷) stored keys, and ``p99_growth`` (large / small; the goal is ≤ 1.5).
  Each look-up is ``LookupService.lookup`` in its own ``core.unit_of_work()`` — validation,
  policy, audit event, commit — by Veilig Thuis, for three pseudonyms of a household that
  exists (half of them; registered by Veilig Thuis and one other organisation, which the policy
  discloses unless it is the police) or does not (the other half);
- ``registrations_per_s`` / ``keys_per_s``: ``RegistryService.register_involvements`` in a unit
  of work per request of 50 involvements (audit events included), at the large size;
- ``rotation``: the broker key's rotation (broker/registry/rotation.py) over ``--rotation-keys``
  (10⁶) stored keys: seconds, keys/s, the first and last batches' times, and the projected
  time for every stored key;
- ``size``: ``pg_total_relation_size`` of the registry tables (involvements and matching keys,
  with their indexes) per involvement, and the audit log's growth per registration (measured
  over the timed registrations);
- ``load``: how fast the rows were loaded, and the machine's load averages before and after.

The loaded history has no audit events or notifications of its own (a look-up reads neither);
the audit log grows only by the bench's own look-ups and registrations.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pysodium
from bench_scale_load import (
    CATEGORIES,
    KEYS_PER_HOUSEHOLD,
    ORGS_PER_HOUSEHOLD,
    Loader,
    Member,
    PrivatePostgres,
    log,
)
from broker_primitives.blinding import Pseudonym
from sqlalchemy import func, select, text

from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import Involvement, Professional
from broker.registry.rotation import run_rotation, start_or_resume
from broker.registry.services import NewInvolvement, RegistryService
from broker.setup import initialise

ROOT = Path(__file__).resolve().parents[1]
ORG_TYPES = ["wijkteam", "veilig_thuis", "politie", "school", "ggz", "huisarts",
             "jeugdhulp", "vrouwenopvang", "reclassering", "verslavingszorg"]
#: Who asks: Veilig Thuis, for protection under its statutory task; the policy lets it learn of
#: every other type of the bench but the police (sharing.yaml: veilig-thuis-investigates).
ASKER = 1
STATUTE = Evidence(statute="wmo2015_4_1_1")
PER_REQUEST = 50  # involvements per registration request
WARM_UP = 20  # look-ups before each timed series
ROTATION_BATCH = 2000
NICENESS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The section's options (offered by ``scripts/bench``)."""
    parser.add_argument("--scale", action="store_true",
                        help="run only the scale section (a private PostgreSQL server)")
    parser.add_argument("--scale-keys", type=int, default=10_000_000,
                        help="stored matching keys at the large size (default: %(default)s)")
    parser.add_argument("--scale-small", type=int, default=10_000,
                        help="stored matching keys at the small size (default: %(default)s)")
    parser.add_argument("--rotation-keys", type=int, default=1_000_000,
                        help="stored keys the timed rotation re-keys (default: %(default)s)")
    parser.add_argument("--registrations", type=int, default=2000,
                        help="involvements registered for the timed figure")


class Scale:
    """A broker on the private server, its organisations and the loader."""

    def __init__(self, server: PrivatePostgres, home: Path, lookups: int) -> None:
        env = {"BROKER_HOME": str(home), "BROKER_POLICY_DIR": str(ROOT / "policies"),
               "BROKER_DATABASE_URL": server.url}
        self.core = Core(Settings.from_env(env), notices=InboxNotices())
        self.operator = Actor.operator("bench")
        initialise(self.core, self.operator)
        self.rng = random.Random(9497)  # noqa: S311 - synthetic households
        self.lookups = lookups
        self.actors: list[tuple[str, Actor]] = []
        members = []
        with self.core.unit_of_work() as uow:
            registry = RegistryService(uow)
            for n, org_type in enumerate(ORG_TYPES):
                code = f"org-{n}"
                info = registry.create_organisation(self.operator, identifier=code,
                                                    name=f"Organisation {n}", org_type=org_type)
                registry.add_professional(self.operator, organisation=code,
                                          username=f"{code}-p", name="P", role="r")
                self.actors.append((code, Actor(actor=f"professional:{code}-p", channel="api",
                                                organisation_id=info.id)))
        with self.core.session() as session:
            for n in range(len(ORG_TYPES)):
                person = session.scalars(select(Professional).where(
                    Professional.username == f"org-{n}-p")).one()
                members.append(Member(person.organisation_id, person.id))
        # One real registration: the pattern of every loaded row.
        self.register(1)
        self.loader = Loader(self.core, server.dsn, members, self.rng, members[ASKER])

    def household(self) -> list[Pseudonym]:
        """Pseudonyms of a household nobody registered (random points: see bench.py)."""
        epoch = self.core.keystore.current_epoch("oprf")
        return [Pseudonym(c, pysodium.crypto_core_ristretto255_random(), epoch)
                for c in CATEGORIES]

    def stored_keys(self) -> int:
        """Matching keys stored now."""
        with self.core.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM matching_keys")).scalar_one())

    def grow_to(self, keys: int) -> dict[str, float]:
        """Load households until about ``keys`` matching keys are stored."""
        households = max(1, -(-(keys - self.stored_keys()) // KEYS_PER_HOUSEHOLD))
        self.loader.known.clear()
        return self.loader.load(households, ask_about=max(1, self.lookups // 2))

    def time_lookups(self) -> dict[str, float]:
        """Service-layer look-ups, half of households that exist, each timed."""
        known = self.loader.known
        questions = [self.rng.choice(known) if n % 2 == 0 else self.household()
                     for n in range(self.lookups + WARM_UP)]
        actor = self.actors[ASKER][1]
        timings = []
        answered = 0  # look-ups whose answer named at least one organisation
        started = 0.0
        for n, question in enumerate(questions):
            if n == WARM_UP:
                started = time.perf_counter()
            t0 = time.perf_counter()
            with self.core.unit_of_work() as uow:  # one request, as a door opens it
                result = LookupService(uow).lookup(
                    actor, pseudonyms=question, purpose="protection", basis="legal_task",
                    evidence=STATUTE)
            if n >= WARM_UP:
                timings.append(time.perf_counter() - t0)
                answered += bool(result.matches)
        total = time.perf_counter() - started
        timings.sort()
        return {"stored_keys": self.stored_keys(),
                "lookup_p50_ms": statistics.median(timings) * 1000,
                "lookup_p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000,
                "lookups_per_s": len(timings) / total, "lookups": len(timings),
                "lookups_with_matches": answered}

    def register(self, count: int) -> tuple[int, float]:
        """Register ``count`` involvements (two organisations per household), a unit of work
        per request of :data:`PER_REQUEST`; (involvements registered, seconds)."""
        per_org: dict[int, list[NewInvolvement]] = {}
        for _ in range(max(1, count // ORGS_PER_HOUSEHOLD)):
            household = self.household()
            for index in self.rng.sample(range(len(self.actors)), ORGS_PER_HOUSEHOLD):
                per_org.setdefault(index, []).append(
                    NewInvolvement(f"org-{index}-p", household, "protection"))
        requests = [(index, items[n:n + PER_REQUEST]) for index, items in per_org.items()
                    for n in range(0, len(items), PER_REQUEST)]
        if count == 1:
            first = next(iter(per_org))
            requests = [(first, per_org[first][:1])]
        started = time.perf_counter()
        for index, items in requests:
            code, actor = self.actors[index]
            with self.core.unit_of_work() as uow:  # one request of a case system
                RegistryService(uow).register_involvements(actor, organisation=code, items=items)
        return sum(len(items) for _, items in requests), time.perf_counter() - started

    def sizes(self, tables: tuple[str, ...]) -> int:
        """``pg_total_relation_size`` of ``tables``, summed (bytes)."""
        with self.core.engine.connect() as connection:
            return sum(int(connection.execute(
                text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}
            ).scalar_one()) for t in tables)

    def size_per_involvement(self) -> dict[str, float]:
        """The registry tables' bytes per involvement (indexes included)."""
        with self.core.session() as session:
            involvements = session.scalar(select(func.count()).select_from(Involvement)) or 1
        registry = self.sizes(("involvements", "matching_keys"))
        return {"involvements": involvements, "registry_bytes": registry,
                "registry_bytes_per_involvement": registry / involvements}

    def timed_registrations(self, count: int) -> dict[str, float]:
        """Registrations per second, and the audit log's growth per registration."""
        audit = ("audit_events", "audit_subjects")
        before = self.sizes(audit)
        registered, seconds = self.register(count)
        grown = self.sizes(audit) - before
        return {"registrations": registered, "registrations_per_s": registered / seconds,
                "keys_per_s": registered * len(CATEGORIES) / seconds,
                "audit_bytes_per_registration": grown / registered}

    def rotation(self, keys: int) -> dict[str, float]:
        """The broker key's rotation over the first ``keys`` stored keys, timed batch by batch.

        Each batch carries on after the last id of the one before, so its cost should not grow
        with the rows done; the projection for every stored key still takes the batch time as
        growing linearly from the first batch to the last, so a growth would show."""
        total = self.stored_keys()
        state, _ = start_or_resume(self.core, self.operator, "broker")
        batches: list[float] = []
        mark = started = time.perf_counter()
        reported = [started, 0]

        def progress(count: int) -> None:
            nonlocal mark
            now = time.perf_counter()
            batches.append(now - mark)
            mark = now
            reported[1] += count
            if now - reported[0] > 5:
                reported[0] = now
                log(f"  {reported[1]:,} keys re-keyed in {now - started:.0f} s "
                    f"({reported[1] / (now - started):,.0f} keys/s; this batch "
                    f"{batches[-1] * 1000:.0f} ms)")

        done = run_rotation(self.core, self.operator, state, batch_size=ROTATION_BATCH,
                            max_batches=max(1, -(-min(keys, total) // ROTATION_BATCH)),
                            progress=progress)
        seconds = time.perf_counter() - started
        first, last = statistics.mean(batches[:3]), statistics.mean(batches[-3:])
        growth = (last - first) / max(1, len(batches) - 1)  # seconds per batch, per batch done
        every = -(-total // ROTATION_BATCH)
        return {"rotated_keys": done, "rotation_s": seconds, "rotation_keys_per_s": done / seconds,
                "first_batch_ms": first * 1000, "last_batch_ms": last * 1000,
                "projected_full_rotation_s": every * first + growth * every * every / 2}


def machine() -> dict[str, Any]:
    """The processor and the machine's load (1, 5 and 15-minute averages)."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    return {"cpu": model, "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2**30, 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The section: figures under ``scale``; prints them."""
    os.nice(max(0, NICENESS - os.nice(0)))  # the machine is shared
    small, large = min(args.scale_small, args.scale_keys), args.scale_keys
    figures: dict[str, Any] = {"machine_before": machine()}
    log(f"scale: a private PostgreSQL server; {small:,} then {large:,} stored keys")
    server = PrivatePostgres()
    figures["postgres"] = server.version()
    try:
        with tempfile.TemporaryDirectory(prefix="broker-bench-scale-") as home:
            scale = Scale(server, Path(home), args.lookups)
            try:
                figures["load_small"] = scale.grow_to(small)
                log(f"scale: {args.lookups} look-ups at {small:,} ...")
                figures["small"] = scale.time_lookups()
                figures["load"] = scale.grow_to(large)
                log(f"scale: {args.lookups} look-ups at {large:,} ...")
                figures["large"] = scale.time_lookups()
                figures["size"] = scale.size_per_involvement()
                log(f"scale: {args.registrations} registrations ...")
                figures.update(scale.timed_registrations(args.registrations))
                figures["size"]["audit_bytes_per_registration"] = figures.pop(
                    "audit_bytes_per_registration")
                log(f"scale: rotation of {args.rotation_keys:,} keys ...")
                figures["rotation"] = scale.rotation(args.rotation_keys)
            finally:
                scale.core.dispose()
    finally:
        server.remove()
    figures["p99_growth"] = figures["large"]["lookup_p99_ms"] / figures["small"]["lookup_p99_ms"]
    figures["machine_after"] = machine()
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """Print the figures."""
    print("stored keys | lookup p50 ms | lookup p99 ms | look-ups/s")
    for row in (f["small"], f["large"]):
        print(f"{row['stored_keys']:,} | {row['lookup_p50_ms']:.2f} | "
              f"{row['lookup_p99_ms']:.2f} | {row['lookups_per_s']:,.0f}")
    print(f"p99 at {f['large']['stored_keys']:,} / p99 at {f['small']['stored_keys']:,}: "
          f"{f['p99_growth']:.2f} (goal <= 1.5)")
    print(f"registrations: {f['registrations_per_s']:,.0f}/s ({f['keys_per_s']:,.0f} keys/s)")
    rotation = f["rotation"]
    print(f"rotation: {rotation['rotated_keys']:,} keys in {rotation['rotation_s']:.1f} s "
          f"({rotation['rotation_keys_per_s']:,.0f} keys/s; a batch of {ROTATION_BATCH:,} "
          f"{rotation['first_batch_ms']:.0f} ms first, {rotation['last_batch_ms']:.0f} ms "
          f"last; all "
          f"{f['large']['stored_keys']:,} projected "
          f"{rotation['projected_full_rotation_s']:,.0f} s)")
    size = f["size"]
    print(f"size: {size['registry_bytes_per_involvement']:,.0f} bytes per involvement in the "
          f"registry tables ({size['registry_bytes'] / 2**20:,.0f} MiB for "
          f"{size['involvements']:,}); audit log +{size['audit_bytes_per_registration']:,.0f} "
          "bytes per registration")
    load = f["load"]
    print(f"load: {load['rows']:,} rows at {load['rows_per_s']:,.0f} rows/s, indexes "
          f"{load['index_s']:.0f} s; load average before {f['machine_before']['load_average']}, "
          f"after {f['machine_after']['load_average']}")
