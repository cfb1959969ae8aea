"""gunicorn's configuration for the broker: ``gunicorn -c python:broker.gunicorn_conf
broker.wsgi:app`` (worker count, address and the rest from the command line as usual).

It refuses to start several workers without a shared rate-limit store, and refuses to grow to
several workers later (``kill -TTIN``), as :mod:`broker.serving` describes; a worker that ends
is marked in the Prometheus counts of ``PROMETHEUS_MULTIPROC_DIR`` (broker.metrics). A
deployment with a config file of its own imports these hooks from here.

Workers are threaded (``gthread``) and keep HTTP connections alive: a case system's client
(``broker_client``) reuses one connection for its requests instead of a TCP handshake per
request, and a thread waiting on the database leaves the worker's other threads to serve
(issue 13). The command line overrides these as usual (``--threads``, ``--keep-alive``).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess as prometheus_multiprocess

from broker.config import Settings
from broker.errors import ConfigurationError
from broker.metrics import multiprocess
from broker.serving import CHECKED, check_workers

worker_class = "gthread"
threads = 4
keepalive = 75  # seconds an idle connection stays open (longer than clients' pools keep them)


def on_starting(server: Any) -> None:
    """Before any worker starts: refuse a worker count the settings cannot serve safely, and
    mark the environment the workers inherit, so that broker.wsgi knows the count was checked
    (set here, in the arbiter, not at import: importing this module checks nothing)."""
    try:
        check_workers(int(server.cfg.workers), Settings.from_env())
    except ConfigurationError as exc:
        raise RuntimeError(exc.message_en) from None  # gunicorn prints it and exits 1
    os.environ[CHECKED] = "1"


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """Keep the worker count where the start check allowed it (``TTIN`` adds one)."""
    if old_value is None:
        return  # the start itself: on_starting decides
    try:
        check_workers(new_value, Settings.from_env())
    except ConfigurationError as exc:
        server.log.error("not adding workers: %s", exc.message_en)
        server.num_workers = old_value


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges leave the Prometheus counts (broker.metrics rule 2)."""
    if multiprocess():
        prometheus_multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
