"""``broker audit report …`` and ``broker audit review``: the misuse reports and the verdict on
a vital-interest event (:mod:`broker.oversight.reports`, :mod:`broker.oversight.misuse`), and
how the audit commands take a period and print rows. Thin: parse, open one unit of work, call,
print.

- ``report vital-interest|fishing|volumes|unfollowed|refused``: fishing and volumes show
  today's flags unless a period is given; every run is itself audited.
- ``review EVENT_ID --verdict V --note N``: recorded once, and audited.

The acting auditor is the command-line operator (``cli:operator``). Days are Dutch days: a
period runs from midnight at the start of ``--from`` to midnight after ``--to``, Dutch time.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar

import click

from broker.audit.services import Actor
from broker.cli.support import translated, unit_of_work
from broker.clock import LOCAL_ZONE
from broker.oversight import misuse, reports
from broker.oversight.search import write_csv, write_json

F = TypeVar("F", bound=Callable[..., Any])


def local_day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the Netherlands, as an aware datetime."""
    return datetime.combine(day, clock_time(), tzinfo=LOCAL_ZONE)


def local_time(moment: datetime) -> str:
    """``moment`` in Dutch time, to the second."""
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def period_options(command: F) -> F:
    """The ``--from`` and ``--to`` days of a search or report."""
    command = click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
                           help="Last day (inclusive, Dutch time); default: no end.")(command)
    return click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
                        help="First day (inclusive, Dutch time); default: the beginning of "
                             "the log.")(command)


def format_option(*choices: str) -> Callable[[F], F]:
    """The ``--format`` option, its first choice the default."""
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="How to print the result.")


def period(start: datetime | None, end: datetime | None) -> tuple[datetime | None,
                                                                  datetime | None]:
    """The moments that bound the days ``start`` to ``end`` (each may be open)."""
    return (local_day_start(start.date()) if start else None,
            local_day_start(end.date() + timedelta(days=1)) if end else None)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "-"
    return str(value)


def print_rows(rows: Sequence[Any], row_type: type[Any], fmt: str,
               columns: Sequence[str]) -> None:
    """Print ``rows`` as an aligned table of ``columns``, or all fields as CSV or JSON."""
    if fmt in ("csv", "json"):
        buffer = io.StringIO()
        if fmt == "csv":
            write_csv(buffer, rows, row_type)
        else:
            write_json(buffer, rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    table = [list(columns)] + [[_cell(getattr(row, c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip())
    click.echo(f"({len(rows)})", err=True)


@click.group("report")
def report() -> None:
    """Misuse reports: vital-interest uses awaiting review, fishing and unusual volumes flagged
    over the policy's windows, look-ups never followed up, refused requests (each run is
    audited)."""


@report.command("vital-interest")
@period_options
@format_option("table", "csv", "json")
def report_vital_interest(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Vital-interest ("zwaarwegend belang") events not yet reviewed."""
    with unit_of_work() as uow:
        rows = reports.vital_interest_pending(uow, Actor.operator(), *period(start, end))
    print_rows(rows, reports.PendingReview, fmt, (
        "event_id", "occurred_at", "event_type", "outcome", "organisation", "actor",
        "on_behalf_of", "purpose", "justification"))


def _flags(start: datetime | None, end: datetime | None, kinds: tuple[str, ...],
           fmt: str) -> None:
    """The misuse flags of ``kinds`` in the period given, or today's (Dutch time)."""
    with unit_of_work() as uow:
        first, last = period(start, end)
        if start is None and end is None:
            today = uow.today()
            first, last = local_day_start(today), local_day_start(today + timedelta(days=1))
        rows = misuse.misuse_flags(uow, Actor.operator(), kinds, first, last)
    print_rows(rows, misuse.MisuseFlag, fmt, ("flagged_at", "kind", "organisation", "actor",
                                              "lookups", "threshold", "window_minutes",
                                              "event_id"))


@report.command("fishing")
@period_options
@format_option("table", "csv", "json")
def report_fishing(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Flags for look-ups on households one's organisation is not registered on, reaching the
    policy's threshold within its window (default: today's)."""
    _flags(start, end, misuse.FISHING_KINDS, fmt)


@report.command("volumes")
@period_options
@format_option("table", "csv", "json")
def report_volumes(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Flags for a professional's or an organisation's look-ups reaching the policy's threshold
    within its window (default: today's)."""
    _flags(start, end, misuse.VOLUME_KINDS, fmt)


@report.command("unfollowed")
@period_options
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366),
              help="Days a look-up may precede its organisation's registration.")
@format_option("table", "csv", "json")
def report_unfollowed(start: datetime | None, end: datetime | None, days: int,
                      fmt: str) -> None:
    """Look-ups never followed by a registration or a contact request (at least --days old)."""
    first, last = period(start, end)
    with unit_of_work() as uow:
        rows = reports.unfollowed_lookups(uow, Actor.operator(), days=days, start=first,
                                          end=last)
    print_rows(rows, reports.UnfollowedLookup, fmt, (
        "seq", "occurred_at", "organisation", "actor", "on_behalf_of", "purpose",
        "legal_basis", "match_count"))


@report.command("refused")
@period_options
@format_option("table", "csv", "json")
def report_refused(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Refused requests per organisation, event type and reason."""
    first, last = period(start, end)
    with unit_of_work() as uow:
        rows = reports.refused_requests(uow, Actor.operator(), start=first, end=last)
    print_rows(rows, reports.RefusedGroup, fmt, ("count", "organisation", "event_type",
                                                 "reason", "first_at", "last_at"))


@click.command("review")
@click.argument("event_id")
@click.option("--verdict", type=click.Choice(reports.VERDICTS), required=True)
@click.option("--note", required=True, help="Why: the auditor's reasoning (kept in the log).")
def review(event_id: str, verdict: str, note: str) -> None:
    """Record the verdict on a vital-interest event (once; the review is audited)."""
    with unit_of_work() as uow:
        recorded = reports.review(uow, Actor.operator(), event_id, verdict, note)
    click.echo(translated("recorded review %(recorded)s: event %(event_id)s %(verdict)s",
                          recorded=recorded, event_id=event_id, verdict=verdict))
