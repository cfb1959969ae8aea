"""``broker worker``: the process that runs the broker's background jobs on their schedule
(:mod:`broker.cli.jobs`), apart from the web and API processes.

Rules this module guarantees:

1. A tick runs every job that is due, each on its own (:mod:`broker.cli.jobs` rule 1); a job that
   fails is logged by its name and the exception's type only — never its message, which could
   hold a value from the database — and runs again at its next tick, at most
   :data:`RETRY_AFTER` seconds later (an hourly job does not wait an hour after an outage).
   Nothing is lost meanwhile: what a job works on stays in the database until a run succeeds.
2. SIGTERM and SIGINT stop the worker after the job that runs; the jobs marked ``at_stop`` then
   run once more (the last audit checkpoint), and the process ends with status 0.
3. Progress: one log line at start (the schedule), one per job run that did something (its
   counts; the twice-a-second ``sqlite-wal`` at DEBUG), one per failure, one at stop. Lines
   carry counts and names, no personal data.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

import click

from broker.cli.jobs import Counts, Job, schedule
from broker.cli.support import cli_errors, cli_root
from broker.core import Core
from broker.logs import configure_logging

log = logging.getLogger("broker.worker")
RETRY_AFTER = 30.0


@dataclass(frozen=True)
class Ran:
    """One job's run: its counts, or the failure's type name."""

    job: str
    counts: Counts | None = None
    failure: str | None = None


class Worker:
    """Runs ``jobs`` on ``core`` whenever they are due, until :meth:`stop`."""

    def __init__(self, core: Core, jobs: Sequence[Job],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.core = core
        self.jobs = list(jobs)
        self._monotonic = monotonic
        self._due = dict.fromkeys((job.name for job in self.jobs), 0.0)  # all due at once
        self._stop = threading.Event()

    def run_job(self, job: Job) -> Ran:
        """Run one job now (rule 1)."""
        try:
            counts = job.run(self.core)
        except Exception as exc:  # the next tick retries; the message may hold personal data
            log.error("job %s failed (%s); it runs again at its next tick", job.name,
                      type(exc).__name__)
            return Ran(job.name, failure=type(exc).__name__)
        if any(counts.values()):
            log.log(logging.DEBUG if job.quiet else logging.INFO, "job %s: %s", job.name,
                    ", ".join(f"{key}={value}" for key, value in counts.items()))
        return Ran(job.name, counts=counts)

    def tick(self) -> list[Ran]:
        """Run every job that is due; the next run of each is ``every`` seconds later."""
        done = []
        for job in self.jobs:
            if self._stop.is_set():
                break
            now = self._monotonic()
            if now >= self._due[job.name]:
                self._due[job.name] = now + job.every
                ran = self.run_job(job)
                if ran.failure is not None:
                    self._due[job.name] = now + min(job.every, RETRY_AFTER)
                done.append(ran)
        return done

    def run(self) -> None:
        """Tick until stopped, then run the ``at_stop`` jobs once more (rule 2)."""
        log.info("worker started: %s", ", ".join(f"{job.name} every {job.every:g} s"
                                                for job in self.jobs))
        while not self._stop.is_set():
            self.tick()
            wait = min(self._due.values()) - self._monotonic()
            self._stop.wait(max(0.05, min(wait, 1.0)))
        for job in self.jobs:
            if job.at_stop:
                self.run_job(job)
        log.info("worker stopped")

    def stop(self) -> None:
        """Ask the worker to stop after the job that runs."""
        self._stop.set()


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once, then stop.")
def worker_command(once: bool) -> None:
    """Run the background jobs (audit checkpoints, notifications, expiry, reminders, retention,
    housekeeping) until SIGTERM or Ctrl+C."""
    with cli_errors():
        core = cli_root().core
        configure_logging(core.settings)
        worker = Worker(core, schedule(core))
    if once:
        failed = [ran.job for ran in worker.tick() if ran.failure]
        if failed:
            raise click.ClickException(f"failed: {', '.join(failed)}")
        return

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
