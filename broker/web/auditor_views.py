"""The auditor's web pages (access role ``auditor``): the audit log with filters and each
event's detail, the vital-interest review queue with its review action, the fishing and volume
reports, look-ups and registrations per day per organisation type (an SVG drawn here), the
export of a period as a verifiable bundle, the newest checkpoint with its cosignatures and a
verification run.

Every page an auditor opens and every action is itself an audit event, written by the service
in this request's unit of work (the export's event by the export itself, before its final
checkpoint, so the bundle holds its own export). Filters are codes, user names, dates and
flags: never an identifier, so a filtered URL carries no personal data.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import cast

from flask import Blueprint, abort, redirect, request, send_file, url_for
from werkzeug.wrappers import Response

from broker.audit.events import Event
from broker.audit.export import export_bundle
from broker.audit.services import EVENT_TYPES
from broker.door import current_core, failed, uow
from broker.errors import BrokerError, required
from broker.oversight import reports
from broker.oversight.misuse import FISHING_KINDS, VOLUME_KINDS, misuse_flags
from broker.oversight.overview import activity, event_detail, latest_checkpoint, run_verification
from broker.oversight.search import FLAGS, AuditQuery, Flag, search_events
from broker.registry.models import ACCESS_AUDITOR
from broker.web.access import role_required
from broker.web.chart import activity_chart
from broker.web.i18n import current_language, gettext, lazy_gettext
from broker.web.staff import page, parse_day, period_of, staff_actor
from broker.web.views import check_csrf, check_input

bp = Blueprint("auditor", __name__, url_prefix="/auditor")
bp.before_request(check_input)
bp.before_request(check_csrf)
auditor_only = role_required(ACCESS_AUDITOR)

PAGE_ROWS = 200
CHART_TITLES = {Event.LOOKUP_PERFORMED: lazy_gettext("auditor_chart_lookups"),
                Event.INVOLVEMENT_REGISTERED: lazy_gettext("auditor_chart_registrations")}
CHART_DAYS = 14


def _period() -> tuple[date | None, date | None]:
    return parse_day(request.args.get("from")), parse_day(request.args.get("to"))


def _refused(template: str, exc: BrokerError, **context: object) -> str:
    failed()
    return page(template, errors=[exc.message(current_language())], **context)


@bp.route("/log")
@auditor_only
def log() -> str:
    """The audit log, filtered by organisation, professional, type, period and flags."""
    args = request.args
    first, last = _period()
    flags = cast(tuple[Flag, ...], tuple(f for f in args.getlist("flag") if f in FLAGS))
    types = tuple(t for t in args.getlist("type") if t)
    organisation, professional = args.get("organisation", ""), args.get("professional", "")
    filters = {"organisation": organisation, "professional": professional, "types": types,
               "flags": flags, "from": first.isoformat() if first else "",
               "to": last.isoformat() if last else ""}
    start, end = period_of(first, last)
    query = AuditQuery(organisation or None, professional or None, types, start, end, flags)
    context = {"filters": filters, "event_types": sorted(EVENT_TYPES), "flag_codes": FLAGS}
    try:
        rows = search_events(uow(), staff_actor(), query, PAGE_ROWS)
    except BrokerError as exc:
        return _refused("auditor/log.html", exc, rows=[], limited=False, **context)
    return page("auditor/log.html", rows=rows, limited=len(rows) == PAGE_ROWS, **context)


@bp.route("/events/<event_id>")
@auditor_only
def event(event_id: str) -> str:
    """One event's detail (itself audited)."""
    try:
        row = event_detail(uow(), staff_actor(), event_id)
    except BrokerError:
        abort(404)
    return page("auditor/event.html", row=row)


@bp.route("/reviews", methods=["GET", "POST"])
@auditor_only
def reviews() -> str | Response:
    """The vital-interest uses awaiting review, and the review action (a verdict, a note)."""
    if request.method == "POST":
        try:
            reports.review(uow(), staff_actor(), request.form.get("event_id", ""),
                           request.form.get("verdict", ""), request.form.get("note", ""))
        except BrokerError as exc:
            message = exc.message(current_language())
            failed()  # the review is not kept; the queue is shown again with the message
            return page("auditor/reviews.html", errors=[message], verdicts=reports.VERDICTS,
                        pending=reports.vital_interest_pending(uow(), staff_actor()))
        return redirect(url_for("auditor.reviews", reviewed=1))
    pending = reports.vital_interest_pending(uow(), staff_actor())
    return page("auditor/reviews.html", pending=pending, verdicts=reports.VERDICTS,
                reviewed=request.args.get("reviewed") == "1")


@bp.route("/flags")
@auditor_only
def flags() -> str:
    """The fishing and volume reports: flags raised as look-ups happened."""
    first, last = _period()
    start, end = period_of(first, last)
    actor = staff_actor()
    try:
        fishing = misuse_flags(uow(), actor, FISHING_KINDS, start, end)
        volume = misuse_flags(uow(), actor, VOLUME_KINDS, start, end)
    except BrokerError as exc:
        return _refused("auditor/flags.html", exc, fishing=[], volume=[], first=first, last=last)
    return page("auditor/flags.html", fishing=fishing, volume=volume, first=first, last=last)


@bp.route("/chart")
@auditor_only
def chart() -> str:
    """Look-ups and registrations per day per organisation type: an SVG and the same figures
    as a table."""
    first, last = _period()
    last = last or uow().today()
    first = first or last - timedelta(days=CHART_DAYS - 1)
    start, end = period_of(first, last)  # both days are known here
    start, end = required(start, "the chart's start"), required(end, "the chart's end")
    try:
        found = activity(uow(), staff_actor(), first, last, start, end)
    except BrokerError as exc:
        return _refused("auditor/chart.html", exc, found=None, charts=[], first=first,
                        last=last)
    names = page_org_types()
    charts = [(kind, activity_chart(found, kind, names, str(title)))
              for kind, title in CHART_TITLES.items()]
    return page("auditor/chart.html", found=found, charts=charts, first=first, last=last)


def page_org_types() -> dict[str, str]:
    """The organisation types' labels in the page's language."""
    lang = current_language()
    return {code: t.label.get(lang) for code, t in uow().policy().org_types.items()}


@bp.route("/export", methods=["GET", "POST"])
@auditor_only
def export() -> str | Response:
    """Export a period as the bundle ``broker audit export`` writes, as a .tar.gz download
    that ``scripts/verify-audit`` checks after unpacking."""
    today = uow().today()
    if request.method == "GET":
        return page("auditor/export.html", first=today - timedelta(days=30), last=today)
    first = parse_day(request.form.get("from"))
    last = parse_day(request.form.get("to"))
    if first is None or last is None or last < first:
        failed()
        return page("auditor/export.html", first=first or today, last=last or today,
                    errors=[gettext("auditor_export_bad_period")])
    start, end = period_of(first, last)  # both days are known here
    start, end = required(start, "the export's start"), required(end, "the export's end")
    name = f"audit-{first.isoformat()}-{last.isoformat()}"
    actor = staff_actor()
    # The export records its own event and signs a final checkpoint in transactions of its own
    # (as on the command line), so that the bundle holds its own export: what this request
    # wrote so far (the session's last use) is committed first, or SQLite's one writer would
    # wait on it.
    uow().commit()
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="audit-export-") as folder:
        out = Path(folder) / name
        export_bundle(current_core(), actor, out, start, end)
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            archive.add(out, arcname=name)
    buffer.seek(0)
    return send_file(buffer, mimetype="application/gzip", as_attachment=True,
                     download_name=f"{name}.tar.gz")


@bp.route("/checkpoint", methods=["GET", "POST"])
@auditor_only
def checkpoint() -> str:
    """The newest checkpoint and its witnesses' cosignatures; POST runs a verification."""
    actor = staff_actor()
    verified = run_verification(uow(), actor) if request.method == "POST" else None
    return page("auditor/checkpoint.html", latest=latest_checkpoint(uow(), actor),
                verified=verified)
