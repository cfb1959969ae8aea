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

from broker.cli.support import cli_errors, cli_root, unit_of_work
from broker.notifications.delivery import DeliveryReport, deliver_due
from broker.notifications.outbox import outbox_status
from broker.notifications.services import NotificationSettings

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
    with unit_of_work() as uow:
        channels = outbox_status(uow)
    english = cli_root().lang == "en"
    if not channels:
        click.echo("the outbox is empty" if english else "de uitgaande berichten zijn op")
        return
    for c in channels:
        if english:
            line = (f"{c.channel}: {c.waiting} waiting ({c.due} due now), {c.delivered} "
                    f"delivered, {c.given_up} given up")
            since = " ; the oldest waits since "
        else:
            line = (f"{c.channel}: {c.waiting} wachtend ({c.due} nu aan de beurt), "
                    f"{c.delivered} afgeleverd, {c.given_up} opgegeven")
            since = " ; de oudste wacht sinds "
        if c.oldest_waiting_since is not None:
            line += f"{since}{c.oldest_waiting_since:%Y-%m-%d %H:%M:%S} UTC"
        click.echo(line)
