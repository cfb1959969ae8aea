"""The broker served by gunicorn in its own process, as in production, for live tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from broker.config import Settings
from tests.api.gunicorn_ready import READY
from tests.notifications.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def broker_environment(settings: Settings, extra: Mapping[str, str] | None = None
                       ) -> dict[str, str]:
    """The environment that makes a new process serve ``settings``' broker."""
    env = {**os.environ, "BROKER_HOME": str(settings.home),
           "BROKER_DATABASE_URL": settings.database_url,
           "BROKER_POLICY_DIR": str(settings.policy_dir)}
    env.pop("BROKER_SMTP_URL", None)
    env.pop("BROKER_REDIS_URL", None)
    if settings.redis_url is not None:
        env["BROKER_REDIS_URL"] = settings.redis_url
    return env | dict(extra or {})


@dataclass
class Served:
    """A running server process and its base URL."""

    base: str
    process: subprocess.Popen[bytes]


@contextmanager
def gunicorn(settings: Settings, *, workers: int = 1, extra: Mapping[str, str] | None = None,
             log: Path | None = None) -> Iterator[Served]:
    """gunicorn serving ``broker.wsgi:app`` on a free port, every worker booted.

    The server is stopped (SIGTERM, then SIGKILL) when the block ends. Its log goes to ``log``
    (a temporary file when none is given).
    """
    port = free_port()
    temporary = log is None
    if log is None:
        handle, name = tempfile.mkstemp(prefix="broker-gunicorn-", suffix=".log")
        os.close(handle)
        log = Path(name)
    output = open(log, "ab")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:tests.api.gunicorn_ready",
         "--workers", str(workers), "--threads", "4", "--bind", f"127.0.0.1:{port}",
         "--graceful-timeout", "3", "--timeout", "60", "broker.wsgi:app"],
        cwd=ROOT, env=broker_environment(settings, extra), stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while log.read_text(errors="replace").count(READY) < workers:
            assert process.poll() is None, f"gunicorn stopped (see {log})"
            assert time.monotonic() < deadline, f"gunicorn did not start (see {log})"
            time.sleep(0.2)
        assert httpx.get(base + "/v1/openapi.json", timeout=10).status_code == 200
        yield Served(base, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        output.close()
        if temporary:
            log.unlink()
