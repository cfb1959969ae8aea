"""``broker audit``: the auditor's commands. Thin: parse, call, print.

- ``verify``, ``checkpoint``: see :mod:`broker.audit.checking_cli`.
- ``export --from DATE --to DATE --out DIR``: a bundle for ``scripts/verify-audit``.
- ``key``: print the verifier key to give auditors (through a channel they trust).
- ``search``: events by organisation, professional, type, period, flag or household.
- ``report vital-interest|fishing|volumes|unfollowed|refused``: the misuse reports
  (:mod:`broker.audit.reports`, :mod:`broker.audit.misuse`; fishing and volumes show today's
  flags unless a period is given); ``review``: the verdict on a vital-interest event.
- ``subject-access``: record an AVG art. 15 request for one person (never an address) and print
  its report; ``release``: release one withheld organisation for one request. Both act as the
  privacy officer named by ``--as``.

Raw identifiers (``--bsn``, ``--address``, ``--person``) are parsed, pseudonymised in memory and
never printed or stored; every search and report is itself audited. The acting auditor is the
command-line operator (``cli:operator``), as for ``export``; subject access acts as the privacy
officer ``--as`` names.

The main ``broker`` CLI puts an object in the root context's ``obj`` with ``core`` and ``lang``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from broker_primitives.identifiers import parse_household

from broker.audit import misuse, reports
from broker.audit.checking_cli import checkpoint, verify
from broker.audit.export import export_bundle
from broker.audit.search import (
    DEFAULT_LIMIT,
    FLAGS,
    MAX_LIMIT,
    AuditQuery,
    AuditRow,
    Flag,
    search_events,
    write_csv,
    write_json,
)
from broker.audit.services import Actor
from broker.audit.subject_access import SubjectAccessReport
from broker.audit.subject_access_render import (
    officer_notes,
    render_text,
    write_report_csv,
    write_report_json,
)
from broker.audit.subject_requests import as_privacy_officer, one_person, request_access
from broker.audit.subject_requests import release as release_withheld
from broker.cli_support import cli_errors, cli_root

if TYPE_CHECKING:
    from broker_primitives.blinding import Pseudonym

F = TypeVar("F", bound=Callable[..., Any])


def local_day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the Netherlands, as an aware datetime."""
    from broker.core import LOCAL_ZONE  # noqa: PLC0415 - the core imports this package

    return datetime.combine(day, clock_time(), tzinfo=LOCAL_ZONE)


@click.group("audit")
def audit_group() -> None:
    """Verify, checkpoint, export and search the tamper-evident audit log; misuse reports and
    the subject access report."""


audit_group.add_command(verify)
audit_group.add_command(checkpoint)


@audit_group.command("key")
def key() -> None:
    """Print the audit verifier key (give it to auditors through a channel they trust)."""
    with cli_errors():
        click.echo(cli_root().core.audit_key().verifier())


@audit_group.command("export")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (inclusive, Dutch time); default: the beginning of the log.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day (inclusive, Dutch time); default: today.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="A new (or empty) directory for the bundle.")
def export(start: datetime | None, end: datetime | None, out: Path) -> None:
    """Write the events of a period, signed checkpoints and proofs, for offline verification."""
    core = cli_root().core
    first_day = start.date() if start else date(2000, 1, 1)
    last_day = end.date() if end else core.today()
    with cli_errors():
        report = export_bundle(
            core, Actor.operator(), out, local_day_start(first_day),
            local_day_start(last_day + timedelta(days=1)),
            progress=lambda message: click.echo(message, err=True))
    click.echo(f"wrote {report.event_count:,} events ({report.first_seq}..{report.last_seq}), "
               f"{report.checkpoints} checkpoints to {report.directory}; verify with: "
               f"scripts/verify-audit {report.directory} --key '{core.audit_key().verifier()}'")


# -- searching and reports ---------------------------------------------------------------------


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command
    return apply


_household_options = _options(
    click.option("--bsn", multiple=True, help="Citizen service number (repeatable)."),
    click.option("--address", multiple=True, help='"1234 AB 12 A" (repeatable).'),
    click.option("--person", multiple=True,
                 help='"family name;initial;YYYY-MM-DD" for someone without a BSN.'),
)
_period_options = _options(
    click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
                 help="First day (inclusive, Dutch time); default: the beginning of the log."),
    click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
                 help="Last day (inclusive, Dutch time); default: no end."),
)


def _format(*choices: str) -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="How to print the result.")


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime | None,
                                                                   datetime | None]:
    return (local_day_start(start.date()) if start else None,
            local_day_start(end.date() + timedelta(days=1)) if end else None)


def _pseudonyms(bsn: Sequence[str], address: Sequence[str], person: Sequence[str],
                required: bool) -> list[Pseudonym]:
    """The household's pseudonyms; the raw values stay in this call's memory. The auditor acts
    for no organisation: the evaluation is charged to none (the search or report is audited)."""
    if not (bsn or address or person or required):
        return []
    return cli_root().core.pseudonymise(
        Actor.operator(), parse_household(bsn=bsn, address=address, person=person))


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


def local_time(moment: datetime) -> str:
    """``moment`` in Dutch time, to the second."""
    from broker.core import LOCAL_ZONE  # noqa: PLC0415 - the core imports this package

    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _print(rows: Sequence[Any], row_type: type[Any], fmt: str, columns: Sequence[str]) -> None:
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


@audit_group.command("search")
@click.option("--org", "organisation", help="Organisation code.")
@click.option("--professional", help="User name: events by them or on their behalf.")
@click.option("--type", "event_types", multiple=True, help="Event type (repeatable).")
@_period_options
@click.option("--flag", "flags", multiple=True, type=click.Choice(FLAGS),
              help="vital_interest, review (flagged for review) or refused (any of them).")
@_household_options
@_format("table", "csv", "json")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True,
              type=click.IntRange(1, MAX_LIMIT))
def search(organisation: str | None, professional: str | None, event_types: tuple[str, ...],
           start: datetime | None, end: datetime | None, flags: tuple[str, ...],
           bsn: tuple[str, ...], address: tuple[str, ...], person: tuple[str, ...], fmt: str,
           limit: int) -> None:
    """Search the audit log (the search itself is audited)."""
    with cli_errors():
        first, last = _period(start, end)
        query = AuditQuery(organisation, professional, event_types, first, last,
                           cast(tuple[Flag, ...], flags),
                           tuple(_pseudonyms(bsn, address, person, required=False)))
        rows = search_events(cli_root().core, Actor.operator(), query, limit)
    _print(rows, AuditRow, fmt, ("seq", "occurred_at", "event_type", "outcome", "organisation",
                                 "actor", "on_behalf_of", "purpose", "legal_basis", "rule_id",
                                 "vital_interest", "flagged_for_review"))
    if len(rows) == limit:
        click.echo(f"warning: the limit of {limit} events was reached; narrow the search or "
                   "raise --limit", err=True)


@audit_group.group("report")
def report() -> None:
    """Misuse reports: vital-interest uses awaiting review, fishing and unusual volumes flagged
    over the policy's windows, look-ups never followed up, refused requests (each run is
    audited)."""


@report.command("vital-interest")
@_period_options
@_format("table", "csv", "json")
def report_vital_interest(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Vital-interest ("zwaarwegend belang") events not yet reviewed."""
    with cli_errors():
        rows = reports.vital_interest_pending(cli_root().core, Actor.operator(),
                                              *_period(start, end))
    _print(rows, reports.PendingReview, fmt, ("event_id", "occurred_at", "event_type", "outcome",
                                              "organisation", "actor", "on_behalf_of",
                                              "purpose", "justification"))


def _today_unless(start: datetime | None, end: datetime | None
                  ) -> tuple[datetime | None, datetime | None]:
    """The period given, or today (Dutch time) when neither end is given."""
    if start is None and end is None:
        today = cli_root().core.today()
        return local_day_start(today), local_day_start(today + timedelta(days=1))
    return _period(start, end)


def _flags(start: datetime | None, end: datetime | None, kinds: tuple[str, ...],
           fmt: str) -> None:
    with cli_errors():
        rows = misuse.misuse_flags(cli_root().core, Actor.operator(), kinds,
                                   *_today_unless(start, end))
    _print(rows, misuse.MisuseFlag, fmt, ("flagged_at", "kind", "organisation", "actor",
                                          "lookups", "threshold", "window_minutes", "event_id"))


@report.command("fishing")
@_period_options
@_format("table", "csv", "json")
def report_fishing(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Flags for look-ups on households one's organisation is not registered on, reaching the
    policy's threshold within its window (default: today's)."""
    _flags(start, end, misuse.FISHING_KINDS, fmt)


@report.command("volumes")
@_period_options
@_format("table", "csv", "json")
def report_volumes(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Flags for a professional's or an organisation's look-ups reaching the policy's threshold
    within its window (default: today's)."""
    _flags(start, end, misuse.VOLUME_KINDS, fmt)


@report.command("unfollowed")
@_period_options
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366),
              help="Days a look-up may precede its organisation's registration.")
@_format("table", "csv", "json")
def report_unfollowed(start: datetime | None, end: datetime | None, days: int,
                      fmt: str) -> None:
    """Look-ups never followed by a registration or a contact request (at least --days old)."""
    first, last = _period(start, end)
    with cli_errors():
        rows = reports.unfollowed_lookups(cli_root().core, Actor.operator(), days=days,
                                          start=first, end=last)
    _print(rows, reports.UnfollowedLookup, fmt, ("seq", "occurred_at", "organisation", "actor",
                                                 "on_behalf_of", "purpose", "legal_basis",
                                                 "match_count"))


@report.command("refused")
@_period_options
@_format("table", "csv", "json")
def report_refused(start: datetime | None, end: datetime | None, fmt: str) -> None:
    """Refused requests per organisation, event type and reason."""
    first, last = _period(start, end)
    with cli_errors():
        rows = reports.refused_requests(cli_root().core, Actor.operator(), start=first, end=last)
    _print(rows, reports.RefusedGroup, fmt, ("count", "organisation", "event_type", "reason",
                                             "first_at", "last_at"))


@audit_group.command("review")
@click.argument("event_id")
@click.option("--verdict", type=click.Choice(reports.VERDICTS), required=True)
@click.option("--note", required=True, help="Why: the auditor's reasoning (kept in the log).")
def review(event_id: str, verdict: str, note: str) -> None:
    """Record the verdict on a vital-interest event (once; the review is audited)."""
    with cli_errors():
        recorded = reports.review(cli_root().core, Actor.operator(), event_id, verdict, note)
    click.echo(f"recorded review {recorded}: event {event_id} {verdict}")


def _print_access_report(found: SubjectAccessReport, fmt: str) -> None:
    """The report on standard output (for the person); the privacy officer's notes on
    standard error."""
    buffer = io.StringIO()
    if fmt == "text":
        buffer.write(render_text(found))
    elif fmt == "csv":
        write_report_csv(buffer, found)
    else:
        write_report_json(buffer, found)
    click.echo(buffer.getvalue(), nl=False)
    click.echo(officer_notes(found), err=True, nl=False)


_officer_option = click.option(
    "--as", "officer", required=True, metavar="USERNAME",
    help="The privacy officer who handles the request (an active account with the "
         "privacy_officer access role).")


@audit_group.command("subject-access")
@click.option("--bsn", multiple=True, help="The person's citizen service number.")
@click.option("--person", multiple=True,
              help='"family name;initial;YYYY-MM-DD" for a person without a BSN (or as well).')
@click.option("--address", multiple=True,
              help="Refused: a report is made for a person, never for an address.")
@_officer_option
@_format("text", "csv", "json")
def subject_access(bsn: tuple[str, ...], person: tuple[str, ...], address: tuple[str, ...],
                   officer: str, fmt: str) -> None:
    """Record a subject access request (AVG art. 15) for one person and print its report, in
    --lang; organisations the policy withholds (UAVG art. 41) are left out until released."""
    root = cli_root()
    with cli_errors():
        if len(bsn) > 1 or len(person) > 1:
            raise one_person()
        pseudonyms = _pseudonyms(bsn, address, person, required=True)
        found = request_access(root.core, as_privacy_officer(officer), pseudonyms, root.lang)
    _print_access_report(found, fmt)


@audit_group.command("release")
@click.argument("request_id")
@click.option("--organisation", required=True, help="The code of the withheld organisation.")
@click.option("--reason", required=True,
              help="Why disclosing it endangers no one now (kept in the log; no identifiers).")
@_officer_option
@_format("text", "csv", "json")
def release(request_id: str, organisation: str, reason: str, officer: str, fmt: str) -> None:
    """Release one withheld organisation for one subject access request, and print the
    request's report again."""
    root = cli_root()
    with cli_errors():
        found = release_withheld(root.core, as_privacy_officer(officer), request_id,
                                 organisation, reason, root.lang)
    _print_access_report(found, fmt)
