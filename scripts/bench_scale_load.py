"""The scale bench's machinery: a private PostgreSQL server and the bulk loader.

:class:`PrivatePostgres` is a cluster of the bench's own (``initdb`` in a temporary directory, a
free port of 127.0.0.1, removed afterwards), never the machine's shared server: millions of rows
do not belong there. As root it runs as the ``postgres`` system user (``initdb`` refuses root).
It runs under ``nice -n 10``, like the bench itself, because the machine is shared.

:class:`Loader` adds households to the registry with ``COPY``: the rows are copies of a row that
a real registration stored (its every column, as ``COPY ... TO STDOUT`` prints it), with only the
row id, the public id, the organisation and its contact, and the matching key changed. A
household is three matching keys (two persons and an address), registered by two organisations
(two involvements sharing the three keys), as ``scripts/bench.py`` registers them. Stored keys
are random ristretto255 points — what ``b·N`` is for a uniformly distributed ``N`` — except for
the households the bench will ask about, whose ``N`` is kept and whose stored keys are made by
the broker's own :meth:`~broker.pseudonyms.matching.Matching.to_stored_many`; those are
registered by the asking organisation and one other, so that the policy's
reciprocity lets the other be disclosed. Before a load the
tables' secondary indexes and constraints are dropped; afterwards they are created again from
their own definitions (as the migrations made them) and the tables vacuumed and analysed.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pysodium
from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import Category

from broker.core import Core

CATEGORIES: tuple[Category, ...] = ("person", "person", "address")
ORGS_PER_HOUSEHOLD = 2
KEYS_PER_HOUSEHOLD = len(CATEGORIES) * ORGS_PER_HOUSEHOLD  # stored rows per household
TABLES = ("involvements", "matching_keys")
#: The columns the loader sets, in the order the migrations made them (checked at the start).
LAID_OUT = {"involvements": ("id", "public_id", "organisation_id", "professional_id"),
            "matching_keys": ("id", "involvement_id", "category", "value", "oprf_epoch",
                              "broker_epoch")}
CHUNK = 2000  # households per write to the COPY stream


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries (Debian's layout, else the PATH), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL cluster of the bench's own; ``url`` reaches its ``postgres`` database."""

    SETTINGS = ("-c shared_buffers=512MB -c maintenance_work_mem=512MB -c max_wal_size=8GB "
                "-c checkpoint_timeout=30min -c max_connections=40")

    def __init__(self) -> None:
        """Create (``initdb``) and start the cluster under ``nice -n 10``."""
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL server binaries (initdb) are not installed: "
                             "apt-get install -y postgresql")
        self.bin = bin_dir
        self.user: dict[str, Any] = {}
        root = os.geteuid() == 0
        # As root the directory lies directly under /tmp, so that the postgres user reaches it.
        self.home = Path(tempfile.mkdtemp(prefix="broker-bench-pg-",
                                          dir="/tmp" if root else None))  # noqa: S108
        if root:
            account = pwd.getpwnam("postgres")
            os.chown(self.home, account.pw_uid, account.pw_gid)
            self.user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.data = self.home / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://broker@127.0.0.1:{self.port}/postgres"
        self.dsn = f"postgresql://broker@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "broker", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home} {self.SETTINGS}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.home / "log"),
                  "-w", "-t", "60", "start")

    def _run(self, program: str, *args: str) -> None:
        nice = shutil.which("nice") or "/usr/bin/nice"
        subprocess.run([nice, "-n", "10", str(self.bin / program), *args], check=True,  # noqa: S603
                       cwd=self.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}, **self.user)

    def version(self) -> str:
        """The server's version string."""
        with psycopg.connect(self.dsn) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Member:
    """An organisation of the bench and its contact professional (database ids)."""

    organisation_id: int
    professional_id: int


@dataclass
class Loader:
    """Adds households to the registry of ``core`` by ``COPY`` (see the module's docstring)."""

    core: Core
    dsn: str
    members: list[Member]
    rng: random.Random
    asker: Member
    known: list[list[Pseudonym]] = field(default_factory=list)
    households: int = 0  # loaded so far
    _templates: dict[str, list[str]] = field(default_factory=dict)

    def templates(self, connection: psycopg.Connection[Any]) -> None:
        """Read the rows of the newest registration as ``COPY`` prints them: the pattern of
        every loaded row."""
        for table in TABLES:
            with connection.cursor().copy(
                    f"COPY (SELECT * FROM {table} ORDER BY id DESC LIMIT 1) TO STDOUT"  # noqa: S608
            ) as copy:
                line = b"".join(bytes(block) for block in copy).decode()
            self._templates[table] = line.rstrip("\n").split("\t")
            columns = [name for (name,) in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() ORDER BY ordinal_position", (table,))]
            expected = LAID_OUT[table]
            assert columns[:len(expected)] == list(expected), f"{table} columns: {columns}"

    def load(self, households: int, ask_about: int) -> dict[str, float]:
        """Add ``households`` households; keep the pseudonyms of ``ask_about`` of them, spread
        over the load, for look-ups of households that exist."""
        started = time.perf_counter()
        with psycopg.connect(self.dsn) as connection, psycopg.connect(self.dsn) as second:
            if not self._templates:
                self.templates(connection)
            dropped = drop_secondary(connection)
            connection.commit()
            first_involvement, first_key = next_ids(connection)
            stride = max(1, households // max(1, ask_about))
            rows = 0
            last_report = time.perf_counter()
            # One COPY stream per table, each on its own connection (the foreign key between
            # them is dropped during the load); both committed at the end.
            with connection.cursor().copy("COPY involvements FROM STDIN") as involvements, \
                    second.cursor().copy("COPY matching_keys FROM STDIN") as keys:
                for involvement_chunk, key_chunk in self._chunks(households, stride,
                                                                 first_involvement, first_key):
                    involvements.write(involvement_chunk)
                    keys.write(key_chunk)
                    rows += involvement_chunk.count(b"\n") + key_chunk.count(b"\n")
                    if time.perf_counter() - last_report > 5:
                        last_report = time.perf_counter()
                        self._progress(rows, started, households)
            connection.commit()
            second.commit()
            copied = time.perf_counter() - started
            self._progress(rows, started, households)
            ids_after(connection)
            log(f"  recreating {len(dropped)} indexes and constraints ...")
            build_started = time.perf_counter()
            recreate(connection, dropped)
            connection.autocommit = True
            for table in TABLES:
                connection.execute(f"VACUUM (ANALYZE) {table}")
            built = time.perf_counter() - build_started
            log(f"  indexes, constraints, VACUUM ANALYZE: {built:.1f} s")
            # The load's gigabytes written out now, not during the timed look-ups: otherwise
            # each look-up's commit waits behind their write-back (a live server's data is old).
            checkpoint_started = time.perf_counter()
            connection.execute("CHECKPOINT")
            checkpoint = time.perf_counter() - checkpoint_started
            log(f"  CHECKPOINT: {checkpoint:.1f} s")
        self.households += households
        return {"households": households, "rows": rows, "copy_s": copied,
                "rows_per_s": rows / copied, "index_s": built, "checkpoint_s": checkpoint}

    def _progress(self, rows: int, started: float, households: int) -> None:
        elapsed = time.perf_counter() - started
        total = households * (ORGS_PER_HOUSEHOLD + KEYS_PER_HOUSEHOLD)
        log(f"  {rows:,} of {total:,} rows in {elapsed:.0f} s ({rows / elapsed:,.0f} rows/s)")

    def _chunks(self, households: int, stride: int, involvement_id: int, key_id: int
                ) -> Iterator[tuple[bytes, bytes]]:
        """The ``COPY`` text of the involvements and of their keys, chunk by chunk."""
        inv = self._templates["involvements"]
        key = self._templates["matching_keys"]
        assert int(key[-1]) == self.core.keystore.current_epoch("broker"), "current epochs"
        tail = "\t".join(key[4:])
        others = [member for member in self.members if member != self.asker]
        for start in range(0, households, CHUNK):
            involvements, keys = [], []
            for n in range(start, min(households, start + CHUNK)):
                ask = n % stride == 0
                values = [f"\\\\x{value.hex()}" for value in self._values(ask)]
                # A household asked about is registered by the asker too,
                # so that reciprocity lets its other organisation be disclosed.
                holders = ([self.asker, self.rng.choice(others)] if ask
                           else self.rng.sample(self.members, ORGS_PER_HOUSEHOLD))
                for member in holders:
                    row = list(inv)
                    row[0], row[1] = str(involvement_id), str(uuid.uuid4())
                    row[2], row[3] = str(member.organisation_id), str(member.professional_id)
                    involvements.append("\t".join(row))
                    for category, value in zip(CATEGORIES, values, strict=True):
                        keys.append(f"{key_id}\t{involvement_id}\t{category}\t{value}\t{tail}")
                        key_id += 1
                    involvement_id += 1
            yield ("\n".join(involvements) + "\n").encode(), ("\n".join(keys) + "\n").encode()

    def _values(self, ask: bool) -> list[bytes]:
        """A household's three stored keys; for a household asked about, made from kept
        pseudonyms by the broker's own matching."""
        if not ask:
            return [pysodium.crypto_core_ristretto255_random() for _ in CATEGORIES]
        oprf_epoch = self.core.keystore.current_epoch("oprf")
        household = [Pseudonym(c, pysodium.crypto_core_ristretto255_random(), oprf_epoch)
                     for c in CATEGORIES]
        self.known.append(household)
        return [k.value for k in self.core.matching.to_stored_many(household)]


def drop_secondary(connection: psycopg.Connection[Any]) -> list[str]:
    """Drop the loaded tables' unique and foreign-key constraints and plain indexes (not the
    primary keys); the statements that make them again, in order (unique, index, foreign)."""
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'f') "
        "ORDER BY contype DESC, conname", (list(TABLES),)).fetchall()
    indexes = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname "
        "NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname", (list(TABLES),)
    ).fetchall()
    for table, name, _, _ in constraints:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    unique = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, c, d in constraints
              if c == "u"]
    foreign = [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, c, d in constraints
               if c == "f"]
    return unique + [d for _, d in indexes] + foreign


def recreate(connection: psycopg.Connection[Any], statements: list[str]) -> None:
    """Run the statements :func:`drop_secondary` returned, each committed."""
    for statement in statements:
        connection.execute(statement)
        connection.commit()


def next_ids(connection: psycopg.Connection[Any]) -> tuple[int, int]:
    """The first free row ids of the involvements and of the matching keys."""
    found = [connection.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}")  # noqa: S608
             .fetchone() for t in TABLES]
    return int(found[0][0]) if found[0] else 1, int(found[1][0]) if found[1] else 1


def ids_after(connection: psycopg.Connection[Any]) -> None:
    """Move the tables' id sequences past the loaded rows."""
    for table in TABLES:
        connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                           f"(SELECT max(id) FROM {table}))")
    connection.commit()
