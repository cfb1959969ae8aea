"""A serving process's housekeeping, in a background thread (issue 11).

Every ``interval`` seconds (10 by default) one round:

1. writes the counted refusals of every minute that is over to the audit log, one event per
   source network and minute (:func:`broker.oversight.refusals.flush_tallies`);
2. deletes the replay nonces whose signatures can no longer be accepted
   (:func:`broker.callers.replay.purge_expired`);
3. deletes the evaluation counts of days before yesterday
   (:func:`broker.pseudonyms.quota.purge_days`).

Rules this module guarantees:

- One housekeeper per core; :func:`start_housekeeping` is idempotent and ``Core.dispose`` stops
  it after a last round.
- Every task may run in several processes at once and may be repeated: each takes its rows in
  one transaction (see :mod:`broker.oversight.refusals`, rule 3), so nothing is written twice.
- A failing round (the database away) is logged and left to the next one; nothing is lost,
  since counters, nonces and counts stay in the database until a round succeeds. A nonce kept
  too long only refuses a request that would have been refused as expired anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from broker.callers.replay import purge_expired
from broker.core import Core
from broker.oversight.refusals import flush_tallies
from broker.pseudonyms.quota import purge_days

log = logging.getLogger("broker.housekeeping")

INTERVAL = 10.0


@dataclass(frozen=True)
class Round:
    """What one round did."""

    refusal_events: int
    nonces_purged: int
    quota_days_purged: int


def housekeep(core: Core) -> Round:
    """Run one round now."""
    return Round(flush_tallies(core), purge_expired(core.engine, int(time.time())),
                 purge_days(core.engine, core.today()))


class Housekeeper:
    """Runs :func:`housekeep` every ``interval`` seconds until stopped."""

    def __init__(self, core: Core, interval: float = INTERVAL) -> None:
        self.core = core
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._round()

    def _round(self) -> None:
        try:
            housekeep(self.core)
        except Exception:  # the next round retries; nothing is lost meanwhile
            log.exception("housekeeping round failed")

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread after a last round."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._round()


_RUNNING: dict[Core, Housekeeper] = {}
_LOCK = threading.Lock()


def start_housekeeping(core: Core) -> Housekeeper:
    """The core's housekeeper, started once (a serving process calls this)."""
    with _LOCK:
        running = _RUNNING.get(core)
        if running is None:
            running = _RUNNING[core] = Housekeeper(core)
            core.on_dispose(lambda: _stop(core))
        return running


def _stop(core: Core) -> None:
    with _LOCK:
        running = _RUNNING.pop(core, None)
    if running is not None:
        running.stop()
