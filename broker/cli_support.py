"""What the command groups of ``broker`` share: the root context object, error printing and the
household's identifier options.

The main ``broker`` command puts an object with ``core`` (built on first use) and ``lang`` in
the root click context; groups defined in their own packages (``audit``, ``contact``, …) reach
it through :func:`cli_root`, so they need not import :mod:`broker.cli` (which imports them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import click
from broker_primitives.identifiers import IdentifierError

from broker.errors import BrokerError

if TYPE_CHECKING:
    from broker.core import Core


class Root(Protocol):
    """The root context object of ``broker``."""

    @property
    def core(self) -> Core:
        """The core of this invocation."""
        ...

    lang: str


def cli_root() -> Root:
    """The root context object of the running ``broker`` invocation."""
    root: Root = click.get_current_context().find_root().obj
    return root


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn domain and identifier errors into one readable line and exit status 1."""
    try:
        yield
    except (BrokerError, IdentifierError) as exc:
        click.echo(f"error: {exc.message(cli_root().lang)}", err=True)
        sys.exit(1)


def identifier_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The repeatable ``--bsn``, ``--address`` and ``--person`` options."""
    for option in reversed([
        click.option("--bsn", multiple=True, help="Citizen service number (repeatable)."),
        click.option("--address", multiple=True, help='"1234 AB 12 A" (repeatable).'),
        click.option("--person", multiple=True,
                     help='"family name;initial;YYYY-MM-DD" for someone without a BSN.'),
    ]):
        command = option(command)
    return command
