"""The subject access report as the person receives it: text, CSV or JSON, in Dutch or English.

Rules this module guarantees:

- Every form carries the request id, and, when something was withheld, the statement that
  information was withheld under UAVG art. 41 with each ground; never which organisation, of
  which type, or how many (that is for the privacy officer: :func:`officer_notes`).
- Nothing else is added to the report's content (:mod:`broker.oversight.subject_access`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import textwrap
from typing import TextIO

from broker.audit.chain import timestamp
from broker.clock import local_time
from broker.oversight.search import as_dict
from broker.oversight.subject_access import CATEGORY_WORDS, AccessEntry, SubjectAccessReport, word

WITHHELD_NOTICE = (
    "Niet alle informatie staat in dit overzicht. Informatie waarvan bekendmaking u of een ander "
    "in gevaar zou kunnen brengen of een onderzoek zou kunnen schaden, is achtergehouden "
    "(artikel 41 Uitvoeringswet AVG). U kunt de functionaris voor gegevensbescherming om "
    "uitleg vragen of een klacht indienen bij de Autoriteit Persoonsgegevens.",
    "Not all information is in this report. Information whose disclosure could endanger you "
    "or someone else, or harm an investigation, has been withheld (article 41 of the Dutch "
    "GDPR Implementation Act). You may ask the data protection officer for an explanation or "
    "lodge a complaint with the Dutch Data Protection Authority.",
)


def _why(entry: AccessEntry, en: bool) -> str:
    why = [f"{'purpose' if en else 'doel'}: {entry.purpose}"] if entry.purpose else []
    if entry.legal_basis:
        statute = f" ({entry.statute})" if entry.statute else ""
        why.append(f"{'legal basis' if en else 'grondslag'}: {entry.legal_basis}{statute}")
    if entry.rule_id:
        why.append(f"{'rule' if en else 'regel'}: {entry.rule_id}")
    why.append(f"{'concerning' if en else 'betreft'}: {', '.join(entry.concerning)}")
    return "; ".join(why)


def render_text(report: SubjectAccessReport) -> str:
    """The report as plain text in its language, to hand to the person it concerns."""
    en = report.lang == "en"
    kinds = ", ".join(f"{report.searched_on.count(c)} × {word(CATEGORY_WORDS[c], report.lang)}"
                      for c in sorted(set(report.searched_on), reverse=True))
    lines = [
        "Subject access report (GDPR art. 15): household involvement broker" if en else
        "Inzageoverzicht (AVG art. 15): verwijsbroker huiselijk geweld en kindermishandeling",
        f"{'Request' if en else 'Kenmerk verzoek'}: {report.request_id}",
        f"{'Drawn up' if en else 'Opgesteld'}: {local_time(report.generated_at)} "
        f"({'Dutch time' if en else 'Nederlandse tijd'})",
        f"{'Searched on' if en else 'Gezocht op'}: {kinds}",
        "",
        f"{'Organisations' if en else 'Organisaties'} ({len(report.organisations)}):",
    ]
    lines += [f"  - {name} ({org_type})" for name, org_type in report.organisations]
    if not report.entries:
        lines.append("  " + (
            ("none shown: see the withheld information below" if report.withheld_grounds else
             "none: no organisation registered on or looked up these details") if en else
            ("geen die getoond kunnen worden: zie de achtergehouden informatie hieronder"
             if report.withheld_grounds else
             "geen: geen organisatie registreerde op of raadpleegde deze gegevens")))
    if report.withheld_grounds:
        lines += ["", "Withheld information:" if en else "Achtergehouden informatie:"]
        lines += ["  " + line for line in textwrap.wrap(word(WITHHELD_NOTICE, report.lang), 94)]
        lines.append("  " + ("On the grounds of:" if en else "Op grond van:"))
        lines += [f"  - {ground}" for ground in report.withheld_grounds]
    lines += ["", "What happened, by time:" if en else "Wat er gebeurde, op volgorde van tijd:"]
    for e in report.entries:
        lines += [f"  {local_time(e.occurred_at)}  {e.organisation} ({e.organisation_type}): "
                  f"{e.what}", f"      {_why(e, en)}"]
    lines += ["", *textwrap.wrap(
        "The broker stores no citizen service number, address or name: only pseudonymised "
        "keys. It records that an organisation is involved, never why or what about. Names of "
        "staff are not listed; ask the organisation concerned."
        if en else
        "De broker bewaart geen BSN, adres of naam, alleen gepseudonimiseerde sleutels. Hij legt "
        "vast dát een organisatie betrokken is, nooit waarom of waarover. Namen van medewerkers "
        "staan hier niet; vraag daarnaar bij de organisatie zelf.", 96)]
    return "\n".join(lines) + "\n"


def write_report_json(stream: TextIO, report: SubjectAccessReport) -> None:
    """The report as one JSON object: request, when, language, key kinds, organisations,
    entries, and the withholding statement with its grounds (``null`` and ``[]`` when nothing
    was withheld)."""
    json.dump({
        "request_id": report.request_id,
        "generated_at": timestamp(report.generated_at),
        "language": report.lang,
        "searched_on": list(report.searched_on),
        "organisations": [{"name": n, "type": t} for n, t in report.organisations],
        "entries": [as_dict(e) for e in report.entries],
        "withheld_notice": (word(WITHHELD_NOTICE, report.lang) if report.withheld_grounds
                            else None),
        "withheld_grounds": list(report.withheld_grounds),
    }, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def write_report_csv(stream: TextIO, report: SubjectAccessReport) -> None:
    """The entries as CSV (times as UTC timestamps, lists joined with ``|``), with the request
    id on every row and, when something was withheld, one row per ground whose ``event_type``
    is ``withheld`` and whose ``what`` is the withholding statement."""
    names = ["request_id", *(f.name for f in dataclasses.fields(AccessEntry)),
             "withheld_ground"]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(names)
    for entry in report.entries:
        values = as_dict(entry)
        writer.writerow([report.request_id, *(
            "|".join(v) if isinstance(v, list) else "" if v is None else v
            for v in (values[n] for n in names[1:-1])), ""])
    for ground in report.withheld_grounds:
        row = dict.fromkeys(names, "")
        row.update(request_id=report.request_id, event_type="withheld",
                   what=word(WITHHELD_NOTICE, report.lang), withheld_ground=ground)
        writer.writerow([row[n] for n in names])


def officer_notes(report: SubjectAccessReport) -> str:
    """For the privacy officer, never for the person: which organisations were withheld, on
    which ground, and how to release one for this request."""
    en = report.lang == "en"
    if not report.withheld:
        return (f"request {report.request_id}: nothing withheld\n" if en else
                f"verzoek {report.request_id}: niets achtergehouden\n")
    lines = [f"request {report.request_id}: withheld (not for the data subject):" if en else
             f"verzoek {report.request_id}: achtergehouden (niet voor de betrokkene):"]
    lines += [f"  {w.code} ({w.name}, {w.organisation_type}): {w.ground}" for w in report.withheld]
    lines.append(("release one for this request: " if en else
                  "één vrijgeven voor dit verzoek: ") +
                 f"broker audit release {report.request_id} --organisation CODE "
                 "--reason TEXT --as USERNAME")
    return "\n".join(lines) + "\n"
