"""``broker pseudonym-service``: the pseudonym service as its own process. Thin: parse, call,
print.

- ``init --dir DIR [--quota N] [--quota-type TYPE=N]... [--from-policy DIR]``: create the
  service's directory (``k``, its answer-signing key, configuration); quotas per organisation
  type, copied from a broker policy's ``quotas:`` with ``--from-policy``.
- ``client add --dir DIR --key-id ID --public-key HEX [--organisation CODE --organisation-type
  TYPE]``: allow an organisation's key (it evaluates for that organisation only) or, without
  an organisation, the broker's key (it names the organisation per request).
- ``pair --dir DIR``: on one machine, connect this broker to the service: create the broker's
  client key (``BROKER_KEYS_DIR/pseudonym-service/client.key``), allow it at the service, pin the
  service's answer key and the public halves of ``k`` (``BROKER_KEYS_DIR/oprf/<epoch>.pub``).
  On separate hosts copy the same files by hand.
- ``serve --dir DIR [--host] [--port] [--workers N]``: gunicorn serving
  ``broker.pseudonym_service.wsgi:app``.
- ``counts --dir DIR [--day YYYY-MM-DD] [--database-url URL]``: evaluations granted and refused
  per organisation, in the database ``serve`` uses.

The directory is ``--dir``, else ``BROKER_PSEUDONYM_SERVICE_DIR``. None of these commands but
``pair`` touches the broker's keys, and none touches the broker's database.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

import click

from broker.cli.support import cli_errors, translated
from broker.clock import local_date, utcnow
from broker.config import Settings
from broker.policy.loader import load_policy
from broker.pseudonym_service import home
from broker.pseudonym_service.store import day_totals

_directory = click.option(
    "--dir", "directory", type=click.Path(path_type=Path), envvar="BROKER_PSEUDONYM_SERVICE_DIR",
    required=True, help="The service's own directory (or BROKER_PSEUDONYM_SERVICE_DIR).")


@click.group("pseudonym-service")
def pseudonym_service_group() -> None:
    """The pseudonym service (RFC 9497 evaluation under k) as its own process."""


@pseudonym_service_group.command("init")
@_directory
@click.option("--quota", type=click.IntRange(1), help="Evaluations per organisation per day.")
@click.option("--quota-type", "per_type", multiple=True,
              help="TYPE=N: the daily quota of one organisation type; repeatable.")
@click.option("--from-policy", type=click.Path(path_type=Path),
              help="Copy the quotas from a broker policy directory.")
def init(directory: Path, quota: int | None, per_type: tuple[str, ...],
         from_policy: Path | None) -> None:
    """Create the service's directory, key k and signing key (or change its quotas)."""
    with cli_errors():
        types: dict[str, int] | None = None
        if from_policy is not None:
            quotas = load_policy(from_policy).quotas
            quota = quota or quotas.pseudonym_evaluations_per_day
            types = dict(quotas.per_organisation_type)
        if per_type:
            types = (types or {}) | {name: int(n) for name, _, n in
                                     (item.partition("=") for item in per_type)}
        created = home.initialise(directory, default_quota=quota, per_type=types)
    for what in created:
        click.echo(translated("created %(what)s in %(directory)s", what=what, directory=directory))


@pseudonym_service_group.group("client")
def client() -> None:
    """The keys allowed to call the service."""


@client.command("add")
@_directory
@click.option("--key-id", required=True)
@click.option("--public-key", required=True, help="Ed25519 public key, 64 hex characters.")
@click.option("--organisation", help="The organisation this key evaluates for.")
@click.option("--organisation-type", help="Its type (sets its quota).")
def client_add(directory: Path, key_id: str, public_key: str, organisation: str | None,
               organisation_type: str | None) -> None:
    """Allow a client key."""
    with cli_errors():
        home.add_client(directory, key_id, public_key, organisation=organisation,
                        organisation_type=organisation_type)
    click.echo(translated("client %(key_id)s allowed", key_id=key_id))


@pseudonym_service_group.command("pair")
@_directory
@click.option("--key-id", default=None, help="The broker's key id at the service "
              "(default: BROKER_PSEUDONYM_SERVICE_KEY_ID, else broker-1).")
def pair(directory: Path, key_id: str | None) -> None:
    """Connect this broker (BROKER_KEYS_DIR) to the service in DIR, on one machine."""
    with cli_errors():
        settings = Settings.from_env()
        key_id = key_id or settings.pseudonym_service_key_id
        mine = home.pair(directory, settings.keys_dir, key_id)
        pinned = settings.keys_dir / "oprf"
    click.echo(translated("paired: the broker's key %(key_id)s is allowed at the service; its "
                          "keys are pinned in %(mine)s and %(pinned)s",
                          key_id=key_id, mine=mine, pinned=pinned))


_database_url = click.option(
    "--database-url", envvar="BROKER_PSEUDONYM_SERVICE_DATABASE_URL",
    help="Its own database (default: service.db in DIR).")


@pseudonym_service_group.command("serve")
@_directory
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7390, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@_database_url
def serve(directory: Path, host: str, port: int, workers: int, database_url: str | None) -> None:
    """Serve POST /v1/evaluate under gunicorn until stopped."""
    with cli_errors():
        home.open_service(directory, database_url).engine.dispose()  # refuse a bad start now
    env = {**os.environ, "BROKER_PSEUDONYM_SERVICE_DIR": str(directory.resolve())}
    if database_url:
        env["BROKER_PSEUDONYM_SERVICE_DATABASE_URL"] = database_url
    os.execve(sys.executable, [  # noqa: S606 - our own interpreter and module
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
        "--graceful-timeout", "5", "--bind", f"{host}:{port}",
        "broker.pseudonym_service.wsgi:app"], env)


@pseudonym_service_group.command("counts")
@_directory
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="Default: today (Dutch time).")
@_database_url
def counts(directory: Path, day: datetime | None, database_url: str | None) -> None:
    """Evaluations granted and refused per organisation on one day (counts only)."""
    chosen: date = day.date() if day is not None else local_date(utcnow())
    with cli_errors():
        service = home.open_service(directory, database_url)
        with service.engine.connect() as connection:
            totals = day_totals(connection, chosen)
    for organisation, (granted, refused) in sorted(totals.items()):
        click.echo(translated("%(chosen)s %(organisation)s: %(granted)s granted, %(refused)s "
                              "refused",
                              chosen=chosen.isoformat(), organisation=organisation,
                              granted=granted, refused=refused))
