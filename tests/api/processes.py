"""The broker served by gunicorn in its own process, as in production, for live tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from broker.config import Settings
from tests.notifications.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def broker_environment(settings: Settings, extra: Mapping[str, str] | None = None
                       ) -> dict[str, str]:
    """The environment that makes a new process serve ``settings``' broker."""
    env = {**os.environ, "BROKER_HOME": str(settings.home),
           "BROKER_DATABASE_URL": settings.database_url,
           "BROKER_POLICY_DIR": str(settings.policy_dir), **(extra or {})}
    env.pop("BROKER_SMTP_URL", None)
    if settings.redis_url is None and "BROKER_REDIS_URL" not in (extra or {}):
        env.pop("BROKER_REDIS_URL", None)
    return env


@contextmanager
def gunicorn(settings: Settings, *, workers: int = 1, extra: Mapping[str, str] | None = None,
             log: Path | None = None) -> Iterator[str]:
    """gunicorn serving ``broker.wsgi:app`` on a free port; yields the base URL.

    The server is stopped (SIGTERM, then SIGKILL) when the block ends.
    """
    port = free_port()
    output = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "3", "--timeout", "60",
         "broker.wsgi:app"],
        cwd=ROOT, env=broker_environment(settings, extra), stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gunicorn stopped (see {log})"
            try:
                if httpx.get(base + "/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if output is not subprocess.DEVNULL:
            output.close()
