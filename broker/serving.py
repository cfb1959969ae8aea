"""How many processes may serve the broker, and with which shared store (issue 11).

What serving processes share: the database holds the replay nonces (:mod:`broker.callers.replay`)
and the daily quotas (:mod:`broker.pseudonyms.quota`), so a captured request is accepted once
whatever the number of processes. The per-minute request limits live in Redis
(``BROKER_REDIS_URL``) or, without it, in the memory of one process; several processes without
Redis would each grant the full limits. Rules this module guarantees:

- :func:`check_workers` refuses several serving processes without ``BROKER_REDIS_URL``, saying
  how to fix it (set the URL, or serve with one process and threads).
- The production command is ``gunicorn -c python:broker.gunicorn_conf broker.wsgi:app``: the
  config module checks gunicorn's worker count before any worker starts, and refuses to add
  workers later (``TTIN``) beyond what the check allows.
- The config module's start hook marks the environment (:data:`CHECKED`); :mod:`broker.wsgi` refuses
  to load in a gunicorn started without it, since nobody checked its worker count.
- ``broker serve`` serves with one process (threads); ``broker serve --workers N`` runs the
  production command after the same check.
- ``broker serve --production`` refuses SQLite and a missing ``BROKER_REDIS_URL``
  (:func:`check_production`), saying how to fix each, and runs gunicorn sized by
  :func:`default_workers` with :data:`THREADS` threads each, its Prometheus counts kept in
  ``PROMETHEUS_MULTIPROC_DIR`` (default ``<instance>/prometheus``, emptied at start).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from broker.config import Settings
from broker.errors import ConfigurationError
from broker.metrics import MULTIPROC_ENV

CHECKED = "BROKER_GUNICORN_CONF"
CONFIG_MODULE = "python:broker.gunicorn_conf"
#: Threads per production worker: a request mostly waits on the database, the OPRF evaluation
#: and argon2 release the GIL, so two threads keep a core busy without doubling memory.
THREADS = 2
MAX_WORKERS = 16


def check_workers(workers: int, settings: Settings) -> None:
    """Refuse ``workers`` serving processes unless they share their limits through Redis."""
    if workers <= 1 or settings.redis_url:
        return
    raise ConfigurationError(
        "%(workers)s worker processes would each keep their own rate limits: set "
        "BROKER_REDIS_URL to a Redis server they share (e.g. redis://127.0.0.1:6379/0), or "
        "serve with --workers 1 (add --threads for concurrency). Replay nonces and quotas are "
        "shared through the database either way.",
        workers=workers)


def under_unchecked_gunicorn(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a gunicorn started without the broker's config module."""
    env = os.environ if environ is None else environ
    return "gunicorn.arbiter" in sys.modules and env.get(CHECKED) != "1"


def refuse_unchecked_gunicorn() -> None:
    """Stop the import of the WSGI app in a gunicorn nobody checked (see the module's rules)."""
    if under_unchecked_gunicorn():
        raise ConfigurationError(
            "Start gunicorn with the broker's config module: gunicorn -c %(config_module)s "
            "broker.wsgi:app (it checks that several workers share their rate limits).",
            config_module=CONFIG_MODULE)


def gunicorn_command(workers: int, host: str, port: int) -> list[str]:
    """The production command for ``broker serve --workers N``."""
    return [sys.executable, "-m", "gunicorn", "--config", CONFIG_MODULE, "--workers",
            str(workers), "--bind", f"{host}:{port}", "broker.wsgi:app"]


def check_production(settings: Settings) -> None:
    """Refuse production on the embedded database or without a shared Redis."""
    if settings.is_sqlite:
        raise ConfigurationError(
            "Production runs on PostgreSQL, not the embedded SQLite file: set "
            "BROKER_DATABASE_URL=postgresql+psycopg://USER@HOST:5432/DB and run broker init (or "
            "serve without --production for a single machine).")
    if not settings.redis_url:
        raise ConfigurationError(
            "Production runs several workers, which share their rate limits through Redis: set "
            "BROKER_REDIS_URL (e.g. redis://127.0.0.1:6379/0).")


def default_workers(cpus: int | None = None) -> int:
    """gunicorn's rule of thumb, 2 × cores + 1, at most :data:`MAX_WORKERS`."""
    return min(MAX_WORKERS, 2 * (cpus or os.cpu_count() or 1) + 1)


def metrics_directory(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """``PROMETHEUS_MULTIPROC_DIR``, or ``<instance>/prometheus``: emptied, for a new run."""
    env = os.environ if environ is None else environ
    directory = Path(env.get(MULTIPROC_ENV) or settings.instance_dir / "prometheus")
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700, parents=True)
    return directory


def production_command(workers: int, host: str, port: int) -> list[str]:
    """``broker serve --production``: gunicorn with the config module, threads and recycling."""
    return [*gunicorn_command(workers, host, port)[:-1], "--worker-class", "gthread",
            "--threads", str(THREADS), "--timeout", "30", "--graceful-timeout", "30",
            "--max-requests", "10000", "--max-requests-jitter", "1000", "broker.wsgi:app"]
