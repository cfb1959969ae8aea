"""``broker notify``: deliver and inspect the outbox of e-mails and webhooks. Thin: parse, call,
print.

- ``run``: deliver in the foreground every ``BROKER_NOTIFY_INTERVAL`` seconds until stopped
  (for a separate delivery process); ``run --once`` delivers what is due now and stops.
- ``status``: per channel, how many messages wait (and how many of those are due), were
  delivered or were given up, and since when the oldest waits.

The main ``broker`` CLI puts an object in the root context's ``obj`` with ``core`` and ``lang``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click
from sqlalchemy import case, func, select

from broker.cli_support import cli_errors, cli_root
from broker.db import utcnow
from broker.notifications.delivery import DeliveryReport, deliver_due
from broker.notifications.models import OutboxMessage
from broker.notifications.services import NotificationSettings

if TYPE_CHECKING:
    pass

_LIMIT = 100  # messages per delivery round


def _summary(report: DeliveryReport, lang: str) -> str:
    if lang == "en":
        return (f"{report.delivered} delivered, {report.retried} to retry, "
                f"{report.given_up} given up")
    return (f"{report.delivered} afgeleverd, {report.retried} opnieuw te proberen, "
            f"{report.given_up} opgegeven")


@click.group("notify")
def notify_group() -> None:
    """Deliver and inspect queued e-mails and webhooks."""


@notify_group.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
def run(once: bool) -> None:
    """Deliver due e-mails and webhooks (until interrupted, or once)."""
    root = cli_root()
    with cli_errors():
        settings = NotificationSettings.from_env()
        core = root.core
        if once:
            total = DeliveryReport()
            while True:
                report = deliver_due(core, limit=_LIMIT, settings=settings)
                total += report
                if report.claimed < _LIMIT:
                    break
            click.echo(_summary(total, root.lang))
            return
        try:
            while True:
                report = deliver_due(core, limit=_LIMIT, settings=settings)
                if report.claimed:
                    click.echo(_summary(report, root.lang))
                if report.claimed < _LIMIT:
                    time.sleep(settings.interval)
        except KeyboardInterrupt:
            return


@notify_group.command("status")
def status() -> None:
    """How many messages wait, are due, were delivered or were given up, per channel."""
    root = cli_root()
    outbox = OutboxMessage
    waiting = outbox.delivered_at.is_(None) & outbox.failed_at.is_(None)
    now = utcnow()
    with cli_errors(), root.core.transaction() as connection:
        rows = connection.execute(
            select(outbox.channel,
                   func.count(case((waiting, 1))),
                   func.count(case((waiting & (outbox.next_attempt_at <= now), 1))),
                   func.count(outbox.delivered_at), func.count(outbox.failed_at),
                   func.min(case((waiting, outbox.created_at))))
            .group_by(outbox.channel).order_by(outbox.channel)).all()
    if not rows:
        click.echo("the outbox is empty" if root.lang == "en" else "de uitgaande berichten zijn op")
        return
    for channel, waits, due, delivered, given_up, oldest in rows:
        if root.lang == "en":
            line = (f"{channel}: {waits} waiting ({due} due now), {delivered} delivered, "
                    f"{given_up} given up")
            since = " ; the oldest waits since "
        else:
            line = (f"{channel}: {waits} wachtend ({due} nu aan de beurt), {delivered} "
                    f"afgeleverd, {given_up} opgegeven")
            since = " ; de oudste wacht sinds "
        if oldest is not None:
            line += f"{since}{oldest:%Y-%m-%d %H:%M:%S} UTC"
        click.echo(line)
