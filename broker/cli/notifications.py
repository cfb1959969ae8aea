"""``broker notify``: deliver and inspect the outbox of e-mails and webhooks. Thin: parse, call,
print.

- ``run``: deliver in the foreground every ``BROKER_NOTIFY_INTERVAL`` seconds until stopped
  (for a separate delivery process); ``run --once`` delivers what is due now and stops. Delivery
  is a background job: it runs its own transactions on the core.
- ``status``: per channel, how many messages wait (and how many of those are due), were
  delivered or were given up, and since when the oldest waits (one unit of work).
"""

from __future__ import annotations

import time

import click

from broker.cli.support import cli_errors, cli_root, translated, unit_of_work
from broker.notifications.delivery import DeliveryReport, deliver_due
from broker.notifications.outbox import outbox_status
from broker.notifications.services import NotificationSettings

_LIMIT = 100  # messages per delivery round


def _summary(report: DeliveryReport) -> str:
    return translated("%(delivered)s delivered, %(retried)s to retry, %(given_up)s given up",
                      delivered=report.delivered, retried=report.retried,
                      given_up=report.given_up)


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
            click.echo(_summary(total))
            return
        try:
            while True:
                report = deliver_due(core, limit=_LIMIT, settings=settings)
                if report.claimed:
                    click.echo(_summary(report))
                if report.claimed < _LIMIT:
                    time.sleep(settings.interval)
        except KeyboardInterrupt:
            return


@notify_group.command("status")
def status() -> None:
    """How many messages wait, are due, were delivered or were given up, per channel."""
    with unit_of_work() as uow:
        channels = outbox_status(uow)
    if not channels:
        click.echo(translated("the outbox is empty"))
        return
    for c in channels:
        line = translated("%(channel)s: %(waiting)s waiting (%(due)s due now), %(delivered)s "
                          "delivered, %(given_up)s given up", channel=c.channel,
                          waiting=c.waiting, due=c.due, delivered=c.delivered,
                          given_up=c.given_up)
        if c.oldest_waiting_since is not None:
            line += translated(" ; the oldest waits since %(since)s UTC",
                               since=format(c.oldest_waiting_since, "%Y-%m-%d %H:%M:%S"))
        click.echo(line)
