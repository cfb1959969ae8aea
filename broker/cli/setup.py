"""``broker init``, ``serve``, ``demo`` and ``keys``: setting the broker up and running it.

These commands run set-up and background work (creating the database and keys, loading the demo
population, re-keying, serving), which manages its own transactions on the core; only the check
whether the registry is empty before ``init --demo`` is a unit of work of its own.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from broker.app import create_app
from broker.audit.services import Actor
from broker.cli.support import cli_errors, cli_language, cli_root, translated, unit_of_work
from broker.config import Settings
from broker.demo import load_demo
from broker.metrics import MULTIPROC_ENV
from broker.pseudonyms.keys import KeyName
from broker.pseudonyms.remote import refuse_readable_k
from broker.registry.rotation import remaining_rows, run_rotation, start_or_resume
from broker.registry.services import RegistryService
from broker.serving import (
    THREADS,
    check_production,
    check_workers,
    default_workers,
    gunicorn_command,
    metrics_directory,
    production_command,
)
from broker.setup import initialise


@click.command("init")
@click.option("--demo/--no-demo", default=False,
              help="Also load the synthetic demo population (only into an empty registry).")
def init(demo: bool) -> None:
    """Create or upgrade the database, create missing keys and the session secret."""
    with cli_errors():
        core = cli_root().core
        report = initialise(core, Actor.operator())
    settings = core.settings
    click.echo(translated("database: %(database_url)s", database_url=settings.database_url))
    for which in report.keys_created:
        click.echo(translated("created %(which)s key in %(keys_dir)s",
                              which=which, keys_dir=settings.keys_dir / which))
    if report.secret_created:
        click.echo(translated("created session secret in %(instance_dir)s",
                              instance_dir=settings.instance_dir))
    if not demo:
        return
    with unit_of_work() as uow:
        populated = bool(RegistryService(uow).list_organisations())
    if populated:
        click.echo(translated("demo: the registry holds organisations already; demo not loaded"))
        return
    with cli_errors():
        summary = load_demo(core, progress=click.echo)
    click.echo(summary.describe(cli_language()))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes; more than 1 runs gunicorn and needs BROKER_REDIS_URL "
                   "(default 1; with --production 2 x cores + 1, at most 16).")
@click.option("--production", is_flag=True,
              help="Run gunicorn as in production: PostgreSQL and Redis required, gthread "
                   "workers, shared Prometheus counts.")
def serve(host: str, port: int, workers: int | None, production: bool) -> None:
    """Run the broker's web server: one process with threads (the embedded default), or
    gunicorn with its config module (``--workers N``, or ``--production``)."""
    if production:
        os.environ["BROKER_PRODUCTION"] = "1"  # the workers' settings say production too
        with cli_errors():
            settings = Settings.from_env()
            refuse_readable_k(settings)  # before anything starts: k is the service's alone
            check_production(settings)
            count = workers or default_workers()
            check_workers(count, settings)
            os.environ[MULTIPROC_ENV] = str(metrics_directory(settings))
        click.echo(translated("gunicorn: %(count)s workers x %(threads)s threads on "
                              "%(host)s:%(port)s",
                              count=count, threads=THREADS, host=host, port=port), err=True)
        os.execv(sys.executable, production_command(count, host, port))  # noqa: S606 - ours
    workers = workers or 1
    if workers > 1:
        with cli_errors():
            check_workers(workers, Settings.from_env())
        os.execv(sys.executable, gunicorn_command(workers, host, port))  # noqa: S606 - ours
    with cli_errors():
        app = create_app(core=cli_root().core)
    # SIGTERM (a service manager stopping the broker) ends the run like Ctrl+C does, so the
    # closing of the context signs the last audit checkpoint.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    app.run(host=host, port=port, threaded=True)


@click.command("demo")
@click.option("--households", default=300, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=2026, show_default=True, type=int)
def demo(households: int, seed: int) -> None:
    """Load a synthetic population (organisations, professionals, overlapping involvements)."""
    with cli_errors():
        summary = load_demo(cli_root().core, households=households, seed=seed,
                            progress=click.echo)
    click.echo(summary.describe(cli_language()))


@click.group("keys")
def keys() -> None:
    """Create and rotate the pseudonym keys."""


@keys.command("init")
def keys_init() -> None:
    """Create the OPRF key and the broker key if they do not exist."""
    with cli_errors():
        core = cli_root().core
        report = initialise(core, Actor.operator())
    if not report.keys_created:
        click.echo(translated("keys exist already; nothing changed"))
    for which in report.keys_created:
        click.echo(translated("created %(which)s key (epoch 1) in %(keys_dir)s",
                              which=which, keys_dir=core.settings.keys_dir / which))


@keys.command("rotate")
@click.option("--which", type=click.Choice(["oprf", "broker"]), required=True,
              help="oprf: the pseudonym service's key k; broker: the broker's key b.")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate(which: KeyName, batch_size: int) -> None:
    """Re-key every stored matching key in place (resumes an interrupted rotation)."""
    with cli_errors():
        core = cli_root().core
        actor = Actor.operator()
        rotation, resumed = start_or_resume(core, actor, which)
        total = remaining_rows(core, rotation)
        click.echo(translated(
            "resuming %(which)s key: epoch %(from_epoch)s -> %(to_epoch)s, %(total)s stored keys "
            "to re-key" if resumed else
            "rotating %(which)s key: epoch %(from_epoch)s -> %(to_epoch)s, %(total)s stored keys "
            "to re-key", which=which, from_epoch=rotation.from_epoch, to_epoch=rotation.to_epoch,
            total=total))
        with click.progressbar(length=total, label=translated("re-keying"), file=sys.stderr) as bar:
            done = run_rotation(core, actor, rotation, batch_size=batch_size,
                                progress=bar.update)
    click.echo(translated("done: %(done)s stored keys now at epoch %(to_epoch)s",
                          done=done, to_epoch=rotation.to_epoch))
