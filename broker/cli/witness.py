"""``broker witness``: run a witness of audit logs. Thin: parse, call, print.

- ``init --name NAME [--log VERIFIER_KEY]...``: create the witness's directory (key,
  configuration, storage) or add logs to watch; prints the witness's verifier key.
- ``key``: print the witness's verifier key (for the broker's ``BROKER_WITNESS_KEYS``).
- ``serve [--host] [--port]``: answer ``POST /add-checkpoint`` and ``GET /checkpoint/<origin>``
  until stopped (Ctrl+C or SIGTERM).

The directory is ``--dir``, else ``BROKER_WITNESS_DIR``, else ``./witness``. None of these
commands touches the broker's database or keys.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
from werkzeug.serving import make_server

from broker.cli.support import cli_errors, translated
from broker.witness.app import create_witness_app
from broker.witness.home import initialise, load_key, open_service

_directory = click.option(
    "--dir", "directory", type=click.Path(path_type=Path), envvar="BROKER_WITNESS_DIR",
    default=Path("witness"), show_default="./witness (or BROKER_WITNESS_DIR)",
    help="The witness's own directory: key, configuration, storage.")


@click.group("witness")
def witness_group() -> None:
    """A witness that co-signs audit checkpoints (c2sp.org/tlog-witness) and keeps its own copy
    of the newest one, beside the broker or at another organisation."""


@witness_group.command("init")
@_directory
@click.option("--name", help="The witness's name, a schema-less URL (e.g. getuige.example.nl/w1).")
@click.option("--log", "logs", multiple=True,
              help="A log's verifier key to watch (print the broker's with: broker audit key); "
                   "repeatable.")
def init(directory: Path, name: str | None, logs: tuple[str, ...]) -> None:
    """Create the witness (or add logs to watch); print its verifier key."""
    with cli_errors():
        key = initialise(directory, name, logs)
    click.echo(key.verifier())


@witness_group.command("key")
@_directory
def key(directory: Path) -> None:
    """Print the witness's verifier key (give it to the broker's operator as a
    BROKER_WITNESS_KEYS entry)."""
    with cli_errors():
        click.echo(load_key(directory).verifier())


@witness_group.command("serve")
@_directory
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7380, show_default=True, type=click.IntRange(0, 65535))
def serve(directory: Path, host: str, port: int) -> None:
    """Serve the witness's HTTP interface until stopped."""
    with cli_errors():
        service = open_service(directory)
    server = make_server(host, port, create_witness_app(service), threaded=True)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    click.echo(translated("witness %(name)s on http://%(host)s:%(port)s", name=service.key.name,
                          host=host, port=server.server_port), err=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        service.store.close()
