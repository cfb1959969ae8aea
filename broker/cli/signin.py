"""``broker professional unlock|enrol-totp|password``: an operator's sign-in chores.

Thin: parse, open one unit of work, call one service, print. Each is audited with the operator as
actor. A password is read from standard input only (arguments show in the process list and the
shell history).
"""

from __future__ import annotations

import sys

import click

from broker.audit.services import Actor
from broker.cli.support import fail, translated, unit_of_work
from broker.core import UnitOfWork
from broker.signin.keys import SignInKey
from broker.signin.second_factor import SecondFactorService
from broker.signin.services import SignInService


def _key(uow: UnitOfWork) -> SignInKey:
    return SignInKey.load(uow.core.settings.keys_dir)


@click.command("unlock")
@click.argument("username")
def unlock_command(username: str) -> None:
    """Lift the sign-in lock of USERNAME (after too many failed attempts)."""
    with unit_of_work() as uow:
        lifted = SignInService(uow, _key(uow)).unlock(Actor.operator(), username)
    if lifted is None or not lifted.was_locked:
        click.echo(translated("%(username)s was not locked; failed attempts counted: "
                              "%(failures)s (now 0)",
                              username=username, failures=lifted.failures if lifted else 0))
    else:
        click.echo(translated("unlocked %(username)s (after %(failures)s failed attempts; "
                              "%(refused)s refused while locked)",
                              username=username, failures=lifted.failures, refused=lifted.refused))


@click.command("enrol-totp")
@click.argument("username")
def enrol_totp_command(username: str) -> None:
    """Print a one-time link (24 hours) with which USERNAME sets up a second factor."""
    with unit_of_work() as uow:
        link = SecondFactorService(uow, _key(uow)).issue_link(Actor.operator(), username,
                                                              uow.core.settings.base_url)
    click.echo(translated("enrolment link for %(username)s (once, until %(expires_at)s UTC; "
                          "hand it over in person or through a channel you trust):",
                          username=username, expires_at=format(link.expires_at, '%Y-%m-%d %H:%M')))
    click.echo(link.url)


@click.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from standard input (required).")
def password_command(username: str, password_stdin: bool) -> None:
    """Set a new web password for USERNAME; every session of the account ends."""
    if not password_stdin:
        fail(translated("give the password on standard input, with --password-stdin"))
    password = sys.stdin.readline().rstrip("\n")
    with unit_of_work() as uow:
        ended = SignInService(uow, _key(uow)).set_password(Actor.operator(), username,
                                                           password)
    click.echo(translated("password of %(username)s changed; sessions ended: %(ended)s",
                          username=username, ended=ended))


COMMANDS = (unlock_command, enrol_totp_command, password_command)
"""The sign-in commands of the ``professional`` group."""
