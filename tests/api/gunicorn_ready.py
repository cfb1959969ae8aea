"""gunicorn settings for live tests: the broker's own config module (its worker-count checks),
plus a line from each worker when it has loaded the app.

``gunicorn -c python:tests.api.gunicorn_ready``; tests/api/processes.py waits for one line per
worker, so that no worker is still booting when a test starts to break things.
"""

from __future__ import annotations

from typing import Any

from broker.gunicorn_conf import nworkers_changed, on_starting

__all__ = ["READY", "nworkers_changed", "on_starting", "post_worker_init"]

READY = "broker worker ready"


def post_worker_init(worker: Any) -> None:
    """Called by gunicorn once a worker has loaded the WSGI app."""
    worker.log.info(READY)
