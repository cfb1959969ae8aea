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
from dataclasses import dataclass
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


@dataclass
class Server:
    """A server process started by a test, its base URL and where its output goes."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(errors="replace")


@contextmanager
def server_process(command: list[str], env: Mapping[str, str], log: Path, port: int
                   ) -> Iterator[Server]:
    """Run ``command`` (which serves on ``port``) with its output in ``log``; stop it after."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=dict(env), cwd=ROOT, stdout=sink,
                                   stderr=subprocess.STDOUT)
        try:
            yield Server(process, f"http://127.0.0.1:{port}", log)
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


@contextmanager
def gunicorn(env: Mapping[str, str], log: Path, *arguments: str, workers: int = 3
             ) -> Iterator[Server]:
    """``gunicorn -w <workers> <arguments> broker.wsgi:app`` on a free port, as a process.

    Yields as soon as it started; the caller decides whether it is expected to serve
    (:func:`wait_until_serving`) or to exit.
    """
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
               f"127.0.0.1:{port}", "--log-level", "info", *arguments, "broker.wsgi:app"]
    with server_process(command, env, log, port) as server:
        yield server


def wait_until_serving(server: Server) -> bool:
    """True once the server answers; False when the process exits first (start refused)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            httpx.get(f"{server.base}/v1/openapi.json", timeout=1)
            return True
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server neither served nor exited within 60 s")


def wait_for_output(server: Server, text: str) -> str:
    """The server's output once it contains ``text`` (or fail after 30 s)."""
    deadline = time.monotonic() + 30
    while text not in (output := server.output()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the server's output:\n{output}")
        time.sleep(0.1)
    return output
