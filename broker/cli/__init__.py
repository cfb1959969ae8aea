"""The ``broker`` command: set-up, operators' tasks, registration and look-up for demos — the
command-line door of the broker, beside the web and API doors.

One module per domain (:mod:`~broker.cli.setup`, :mod:`~broker.cli.registry`,
:mod:`~broker.cli.signin`, :mod:`~broker.cli.contact`, :mod:`~broker.cli.coordination`,
:mod:`~broker.cli.audit`, :mod:`~broker.cli.notifications`, :mod:`~broker.cli.policy`,
:mod:`~broker.cli.witness`, :mod:`~broker.cli.pseudonym_service`, and :mod:`~broker.cli.worker`
with the background jobs of :mod:`~broker.cli.jobs`); this module makes the ``main`` group and
registers theirs.

Commands are thin: they parse options, open one unit of work, call one service in it, and print
(:mod:`broker.cli.support`). Every domain error becomes one line on stderr in the chosen
language (``--lang`` or ``BROKER_LANG``, Dutch by default) and exit status 1; nothing is written
when an input is refused but the refusal's audit event.
"""

from __future__ import annotations

import os

import click

from broker.cli.audit import audit_group
from broker.cli.contact import consent_group, contact_group
from broker.cli.coordination import coordinator_group, inform_group
from broker.cli.notifications import notify_group
from broker.cli.policy import policy_group
from broker.cli.pseudonym_service import pseudonym_service_group
from broker.cli.registry import lookup, org, professional, purge, register
from broker.cli.setup import demo, init, keys, serve
from broker.cli.signin import COMMANDS as SIGN_IN_COMMANDS
from broker.cli.support import Context
from broker.cli.witness import witness_group
from broker.cli.worker import worker_command


@click.group()
@click.option("--lang", type=click.Choice(["nl", "en"]), default=lambda: os.environ.get(
    "BROKER_LANG", "nl"), show_default="nl (or BROKER_LANG)", help="Language of messages.")
@click.pass_context
def main(click_ctx: click.Context, lang: str) -> None:
    """The household involvement broker: who else is involved, and how do I reach them?"""
    click_ctx.obj = Context(lang)
    click_ctx.call_on_close(click_ctx.obj.close)


for _command in (init, serve, demo, keys, org, professional, register, lookup, purge,
                 policy_group, audit_group, contact_group, consent_group, inform_group,
                 coordinator_group, notify_group, witness_group, pseudonym_service_group,
                 worker_command):
    main.add_command(_command)

for _command in SIGN_IN_COMMANDS:  # unlock, enrol-totp, password
    professional.add_command(_command)

__all__ = ["main"]
