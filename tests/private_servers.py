"""Servers a test starts for itself on a free port of 127.0.0.1: a private Redis (never the
machine's shared one, which a test must not restart or flush) and a gunicorn serving the broker.

A missing ``redis-server`` binary skips the test (or fails it under CI, like the other services).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own, without persistence: a restart empties it."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server", "PATH", "no redis-server binary")
            raise AssertionError  # unreachable: unavailable() skips or fails
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Stop the server; nothing it held survives (no persistence)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart_empty(self) -> None:
        """Stop and start again: the same port, an empty server."""
        self.stop()
        self.start()


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A running private Redis, stopped afterwards."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def gunicorn(env: Mapping[str, str], *arguments: str, workers: int = 3
             ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``gunicorn -w <workers> <arguments> broker.wsgi:app`` on a free port, as a process.

    Yields the process and its base URL as soon as it started; the caller decides whether it
    is expected to serve (:func:`wait_until_serving`) or to exit.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning", *arguments, "broker.wsgi:app"],
        env=dict(env), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def wait_until_serving(process: subprocess.Popen[bytes], base: str) -> bool:
    """True once ``base`` answers; False when the process exits first (start refused)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            httpx.get(f"{base}/v1/openapi.json", timeout=1)
            return True
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn neither served nor exited within 60 s")
