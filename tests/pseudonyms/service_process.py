"""The pseudonym service in a process of its own (``broker pseudonym-service serve``, gunicorn),
for live tests and the reliability suite: started, stopped and started again on one port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.notifications.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServiceProcess:
    """``broker pseudonym-service serve --dir DIR`` on a fixed free port of 127.0.0.1."""

    directory: Path
    log: Path
    workers: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the service and wait until it answers /healthz."""
        output = open(self.log, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from broker.cli import main; main()", "pseudonym-service",
             "serve", "--dir", str(self.directory), "--port", str(self.port), "--workers",
             str(self.workers)],
            cwd=ROOT, env={**os.environ, **self.extra}, stdout=output, stderr=output,
            start_new_session=True)
        output.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, f"the pseudonym service stopped (see {self.log})"
            assert time.monotonic() < deadline, f"the pseudonym service did not start ({self.log})"
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the service's process group (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@contextmanager
def running_service(directory: Path, log: Path, **options: object) -> Iterator[ServiceProcess]:
    """The service running for the duration of the block."""
    service = ServiceProcess(directory, log, **options)  # type: ignore[arg-type]
    service.start()
    try:
        yield service
    finally:
        service.stop()
