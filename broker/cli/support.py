"""What the commands of ``broker`` share: the root context, error printing, JSON output, the
household's identifier options, the acting professional, and each command's unit of work.

Rules the commands keep through this module (STYLE habits 2 and 3):

1. A command is a door: it parses its options, opens one unit of work with
   :func:`unit_of_work`, calls one service (or the services of one use case) in it, and prints
   after the unit of work has committed, so that what it prints is what the database keeps.
2. A domain or identifier error becomes one line on stderr in the chosen language and exit
   status 1 (:func:`cli_errors`); the unit of work has then rolled back everything but a refusal
   a service recorded, which it commits.
4. Every text a command prints for a person comes from the one message catalogue
   (:mod:`broker.catalogue`) through :func:`translated`, in the language of ``--lang`` (or
   ``BROKER_LANG``, Dutch by default); codes, names and table rows are printed as they are.
3. Raw identifiers are parsed (:func:`household`) before the unit of work opens and are
   pseudonymised in it; they are never printed or stored.

The ``broker`` group puts a :class:`Context` in the root click context; commands reach it through
:func:`cli_root`, which a test may satisfy with any object that has ``core`` and ``lang``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any, NoReturn, Protocol

import click
from broker_primitives.identifiers import Identifier, IdentifierError, parse_household
from sqlalchemy.exc import SQLAlchemyError

from broker.audit.checkpoints import audit_key_path, sign_checkpoint
from broker.audit.services import Actor
from broker.catalogue import gettext, language
from broker.config import Settings
from broker.core import Core, UnitOfWork
from broker.errors import BrokerError
from broker.notifications.notices import InboxNotices
from broker.policy.diff import InvolvementPair
from broker.registry.services import RegistryService


class Root(Protocol):
    """The root context object of ``broker``: what every command may ask of it."""

    @property
    def core(self) -> Core:
        """The core of this invocation."""
        ...

    lang: str


class Context:
    """The root context object: the language of messages, and a core built on first use and
    shared by the commands of one invocation."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._core: Core | None = None

    @property
    def core(self) -> Core:
        """The core, built on first use from the ``BROKER_*`` settings."""
        if self._core is None:
            self._core = Core(Settings.from_env(), notices=InboxNotices())
        return self._core

    def close(self) -> None:
        """Sign an audit checkpoint of what this command wrote, and release the core."""
        if self._core is None:
            return
        core, self._core = self._core, None
        if audit_key_path(core.settings.keys_dir).exists():
            try:
                sign_checkpoint(core)
            except (BrokerError, SQLAlchemyError) as exc:  # e.g. a database not yet set up
                click.echo(translated("warning: no audit checkpoint signed: %(problem)s",
                                      problem=exc), err=True)
        core.dispose()

    def involvement_pairs(self) -> list[InvolvementPair]:
        """Current pairs of involvements sharing a key, for ``broker policy diff``."""
        with self.core.unit_of_work() as uow:
            return RegistryService(uow).involvement_pairs()


def cli_root() -> Root:
    """The root context object of the running ``broker`` invocation."""
    root: Root = click.get_current_context().find_root().obj
    return root


def cli_language() -> str:
    """The language of this invocation: ``broker --lang``, else ``BROKER_LANG``, else Dutch (a
    command group run on its own, as the tests do, has no root context)."""
    context = click.get_current_context(silent=True)
    root = context.find_root().obj if context is not None else None
    return language(getattr(root, "lang", None) or os.environ.get("BROKER_LANG"))


def translated(message_id: str, **values: object) -> str:
    """The catalogue's text ``message_id`` in the invocation's language (rule 4)."""
    return gettext(cli_language(), message_id, **values)


def fail(message: str) -> NoReturn:
    """Print ``message`` (already in the reader's language) on stderr and exit 1."""
    click.echo(translated("error: %(message)s", message=message), err=True)
    sys.exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn domain and identifier errors into one readable line and exit status 1 (rule 2)."""
    try:
        yield
    except (BrokerError, IdentifierError) as exc:
        fail(exc.message(cli_language()))


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """The command's one unit of work (rule 1): committed when the block ends normally or with
    a refusal it recorded, rolled back otherwise; a domain error then ends the command (rule 2).
    """
    with cli_errors(), cli_root().core.unit_of_work() as uow:
        yield uow


def echo_json(value: Any) -> None:
    """Print dataclasses, lists and dates as indented JSON."""

    def convert(item: Any) -> Any:
        if is_dataclass(item) and not isinstance(item, type):
            return asdict(item)
        if isinstance(item, date):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    click.echo(json.dumps(value, default=convert, indent=2, ensure_ascii=False))


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


def household(bsn: Sequence[str], address: Sequence[str], person: Sequence[str]
              ) -> list[Identifier]:
    """The household's identifiers from the options, or exit 1 naming what is wrong (rule 3)."""
    with cli_errors():
        return parse_household(bsn=bsn, address=address, person=person)


def acting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--org`` and ``--professional`` options of a command that acts as a professional."""
    command = click.option("--professional", "username", required=True,
                           help="Who acts (user name).")(command)
    return click.option("--org", "organisation", required=True,
                        help="Their organisation's code.")(command)


def act_as(uow: UnitOfWork, organisation: str, username: str) -> Actor:
    """The command line acting as professional ``username`` of ``organisation``."""
    registry = RegistryService(uow)
    org = registry.get_organisation(organisation)
    person = registry.get_professional(username)
    return Actor(actor=f"professional:{person.username}", channel="cli",
                 organisation_id=org.id, role=person.role)
