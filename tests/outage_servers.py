"""Private PostgreSQL and Redis servers that a test starts, stops and restarts itself.

Never the machine's shared servers: each runs from a fresh temporary directory on a free port of
127.0.0.1 and is removed afterwards. PostgreSQL comes from the Debian binaries
(``/usr/lib/postgresql/<version>/bin``, else ``initdb`` on the PATH). ``initdb`` refuses to run
as root, so as root the server runs as the ``postgres`` system user (Debian's package creates
it), in a directory under ``/tmp`` that user may enter; as anyone else it runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.notifications.helpers import free_port
from tests.services import POSTGRES_ENV, REDIS_ENV, unavailable


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory; ``url`` reaches its ``postgres`` db."""

    def __init__(self) -> None:
        """Create (``initdb``) and start the cluster, or skip (fail under CI) if impossible."""
        bin_dir = _postgres_bin()
        if bin_dir is None:
            unavailable("initdb (PostgreSQL server binaries)", POSTGRES_ENV, "not installed")
            raise AssertionError  # unreachable: unavailable() skips or fails
        self.bin = bin_dir
        self.user: dict[str, Any] = {}
        root = os.geteuid() == 0
        # mkdtemp makes a fresh 0700 directory; as root it lies directly under /tmp, so that the
        # postgres user can reach it (pytest's own temporary directories are root's alone).
        parent = "/tmp" if root else None  # noqa: S108 - see above
        self.home = Path(tempfile.mkdtemp(prefix="broker-pg-", dir=parent))
        if root:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.home)
                unavailable("a non-root user for PostgreSQL", POSTGRES_ENV,
                            "no postgres system user")
                raise AssertionError from None
            os.chown(self.home, account.pw_uid, account.pw_gid)
            self.user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.data = self.home / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://broker@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "broker", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([str(self.bin / program), *args], check=True, cwd=self.home,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}, **self.user)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home} "
                   "-c fsync=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.home / "log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions and disconnect everyone)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        status = subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                                check=False, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, **self.user)
        if status.returncode == 0:
            self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateRedis:
    """One redis-server with append-only persistence in a temporary directory."""

    def __init__(self) -> None:
        """Start the server, or skip (fail under CI) when redis-server is not installed."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", REDIS_ENV, "not installed")
            raise AssertionError
        self.binary = binary
        self.home = Path(tempfile.mkdtemp(prefix="broker-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.home), "--appendonly", "yes", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                assert self.process.poll() is None, "redis-server stopped"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM: it writes its append-only file and exits)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server for the duration of the block."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.remove()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A private Redis server for the duration of the block."""
    server = PrivateRedis()
    try:
        yield server
    finally:
        server.remove()
