"""``broker audit``: the auditor's and the privacy officer's commands. Thin: parse, open one unit
of work, call, print.

- ``verify``, ``checkpoint``: see :mod:`broker.cli.audit_checks`.
- ``report …``, ``review``: see :mod:`broker.cli.audit_reports`.
- ``export --from DATE --to DATE --out DIR``: a bundle for ``scripts/verify-audit``.
- ``key``: print the verifier key to give auditors (through a channel they trust).
- ``search``: events by organisation, professional, type, period, flag or household.
- ``subject-access``: record an AVG art. 15 request for one person (never an address) and print
  its report; ``release``: release one withheld organisation for one request. Both act as the
  privacy officer named by ``--as``.

Raw identifiers (``--bsn``, ``--address``, ``--person``) are parsed, pseudonymised in memory and
never printed or stored; every search and report is itself audited, in the unit of work that
pseudonymises the household. The acting auditor is the command-line operator
(``cli:operator``), as for ``export``; subject access acts as the privacy officer ``--as``
names. An auditor acts for no organisation: its pseudonym evaluations are charged to none.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast

import click

from broker.audit.export import export_bundle
from broker.audit.services import Actor
from broker.cli.audit_checks import checkpoint, verify
from broker.cli.audit_reports import (
    format_option,
    local_day_start,
    period,
    period_options,
    print_rows,
    report,
    review,
)
from broker.cli.support import (
    cli_errors,
    cli_root,
    household,
    identifier_options,
    translated,
    unit_of_work,
)
from broker.oversight.search import (
    DEFAULT_LIMIT,
    FLAGS,
    MAX_LIMIT,
    AuditQuery,
    AuditRow,
    Flag,
    search_events,
)
from broker.oversight.subject_access import SubjectAccessReport
from broker.oversight.subject_access_render import (
    officer_notes,
    render_text,
    write_report_csv,
    write_report_json,
)
from broker.oversight.subject_requests import as_privacy_officer, one_person, request_access
from broker.oversight.subject_requests import release as release_withheld


@click.group("audit")
def audit_group() -> None:
    """Verify, checkpoint, export and search the tamper-evident audit log; misuse reports and
    the subject access report."""


audit_group.add_command(verify)
audit_group.add_command(checkpoint)
audit_group.add_command(report)
audit_group.add_command(review)


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
    with cli_errors():
        core = cli_root().core
        first_day = start.date() if start else date(2000, 1, 1)
        last_day = end.date() if end else core.today()
        report = export_bundle(
            core, Actor.operator(), out, local_day_start(first_day),
            local_day_start(last_day + timedelta(days=1)),
            progress=lambda message: click.echo(message, err=True))
    click.echo(f"wrote {report.event_count:,} events ({report.first_seq}..{report.last_seq}), "
               f"{report.checkpoints} checkpoints to {report.directory}; verify with: "
               f"scripts/verify-audit {report.directory} --key '{core.audit_key().verifier()}'")


@audit_group.command("search")
@click.option("--org", "organisation", help="Organisation code.")
@click.option("--professional", help="User name: events by them or on their behalf.")
@click.option("--type", "event_types", multiple=True, help="Event type (repeatable).")
@period_options
@click.option("--flag", "flags", multiple=True, type=click.Choice(FLAGS),
              help="vital_interest, review (flagged for review) or refused (any of them).")
@identifier_options
@format_option("table", "csv", "json")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True,
              type=click.IntRange(1, MAX_LIMIT))
def search(organisation: str | None, professional: str | None, event_types: tuple[str, ...],
           start: datetime | None, end: datetime | None, flags: tuple[str, ...],
           bsn: tuple[str, ...], address: tuple[str, ...], person: tuple[str, ...], fmt: str,
           limit: int) -> None:
    """Search the audit log (the search itself is audited)."""
    identifiers = household(bsn, address, person) if bsn or address or person else []
    first, last = period(start, end)
    with unit_of_work() as uow:
        pseudonyms = uow.pseudonymise(Actor.operator(), identifiers) if identifiers else []
        query = AuditQuery(organisation, professional, event_types, first, last,
                           cast(tuple[Flag, ...], flags), tuple(pseudonyms))
        rows = search_events(uow, Actor.operator(), query, limit)
    print_rows(rows, AuditRow, fmt, ("seq", "occurred_at", "event_type", "outcome",
                                     "organisation", "actor", "on_behalf_of", "purpose",
                                     "legal_basis", "rule_id", "vital_interest",
                                     "flagged_for_review"))
    if len(rows) == limit:
        click.echo(translated("warning: the limit of %(limit)s events was reached; narrow the "
                              "search or raise --limit",
                              limit=limit), err=True)


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
@format_option("text", "csv", "json")
def subject_access(bsn: tuple[str, ...], person: tuple[str, ...], address: tuple[str, ...],
                   officer: str, fmt: str) -> None:
    """Record a subject access request (AVG art. 15) for one person and print its report, in
    --lang; organisations the policy withholds (UAVG art. 41) are left out until released."""
    with cli_errors():
        if len(bsn) > 1 or len(person) > 1:
            raise one_person()
    identifiers = household(bsn, address, person)
    lang = cli_root().lang
    with unit_of_work() as uow:
        pseudonyms = uow.pseudonymise(Actor.operator(), identifiers)
        found = request_access(uow, as_privacy_officer(officer), pseudonyms, lang)
    _print_access_report(found, fmt)


@audit_group.command("release")
@click.argument("request_id")
@click.option("--organisation", required=True, help="The code of the withheld organisation.")
@click.option("--reason", required=True,
              help="Why disclosing it endangers no one now (kept in the log; no identifiers).")
@_officer_option
@format_option("text", "csv", "json")
def release(request_id: str, organisation: str, reason: str, officer: str, fmt: str) -> None:
    """Release one withheld organisation for one subject access request, and print the
    request's report again."""
    with unit_of_work() as uow:
        found = release_withheld(uow, as_privacy_officer(officer), request_id, organisation,
                                 reason, cli_root().lang)
    _print_access_report(found, fmt)
