"""The subject access report (AVG art. 15): which organisations registered on, or looked up, a
person or household, when, why and under which rule, in a form a privacy officer can hand over.

Rules this module guarantees:

- The person is named by the pseudonyms of their identifiers, searched exactly as a look-up
  searches (:func:`broker.audit.search.household_keys`), in every form a stored key can have
  now, so the report is complete before, during and after a key rotation.
- An entry is an event of an organisation: a registration (``involvement:registered``, found by
  the person's keys) and what later happened to that same registration (renewed, ended,
  expired, purged: found by its involvement id), or a look-up (``lookup:performed``) with the
  person's keys. Nothing else: not other households (only events with the person's own keys
  are read, and only the categories of *those* keys are shown), no raw identifier, no key
  bytes, no professional's name, and never the free-text justification.
- The auditors' own searches and reports are not listed: they are no organisation's processing
  but the controller's supervision, and are themselves in the log (``audit:searched``,
  ``audit:reported``) with the person's keys, so a search by household finds them.
- Producing the report is audited (``audit:reported``) with the person's keys as subjects.
"""

from __future__ import annotations

import json
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Connection, select

from broker.audit.chain import timestamp
from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.search import as_dict, household_keys
from broker.audit.services import Actor, record_event
from broker.pseudonyms.matching import Pseudonym
from broker.registry.models import Organisation

if TYPE_CHECKING:
    from broker.core import Core
    from broker.policy import Policy
    from broker.policy.model import LegalBasis, OrgType, Purpose

REGISTRATION_TYPES = ("involvement:registered",)
LATER_TYPES = ("involvement:renewed", "involvement:ended", "involvement:expired",
               "involvement:purged")
LOOKUP_TYPES = ("lookup:performed",)
_CHUNK = 500

# What happened, in words a data subject understands: (Dutch, English).
WHAT: dict[str, tuple[str, str]] = {
    "involvement:registered": ("registreerde dat zij betrokken is",
                               "registered that it is involved"),
    "involvement:renewed": ("verlengde haar registratie", "extended its registration"),
    "involvement:ended": ("beëindigde haar registratie", "ended its registration"),
    "involvement:expired": ("registratie verlopen (einddatum bereikt)",
                            "registration expired (end date reached)"),
    "involvement:purged": ("registratie definitief verwijderd na de bewaartermijn",
                           "registration deleted for good after the retention period"),
    "lookup:performed": ("raadpleegde of andere organisaties betrokken zijn",
                         "looked up whether other organisations are involved"),
}
CATEGORY_WORDS = {"person": ("persoon", "person"), "address": ("adres", "address")}


@dataclass(frozen=True)
class AccessEntry:
    """One processing by one organisation, in the report's language."""

    occurred_at: datetime
    organisation: str
    organisation_type: str
    event_type: str
    what: str
    purpose: str | None
    legal_basis: str | None
    statute: str | None
    rule_id: str | None
    concerning: tuple[str, ...]


@dataclass(frozen=True)
class SubjectAccessReport:
    """The report: when it was made, in which language, on which kinds of keys, its entries."""

    generated_at: datetime
    lang: str
    searched_on: tuple[str, ...]
    entries: list[AccessEntry]

    @property
    def organisations(self) -> list[tuple[str, str]]:
        """(name, type) of every organisation in the report, by name."""
        return sorted({(e.organisation, e.organisation_type) for e in self.entries})


def _word(words: tuple[str, str], lang: str) -> str:
    return words[1] if lang == "en" else words[0]


def _label(policy: Policy, kind: str, code: str | None, lang: str) -> str | None:
    """The policy's label for a code (the code itself once the policy no longer has it)."""
    if code is None:
        return None
    tables: dict[str, Mapping[str, OrgType | Purpose | LegalBasis]] = {
        "purpose": policy.purposes, "basis": policy.bases, "type": policy.org_types}
    known = tables[kind].get(code)
    return known.label.get(lang) if known is not None else code


def _events(connection: Connection, values: list[bytes]
            ) -> tuple[dict[int, set[str]], dict[str, int]]:
    """Per event (row id) of an organisation with the person's keys: the categories of those
    keys; and per registered involvement id, the registration's row id."""
    found = connection.execute(
        select(AuditEvent.id, AuditSubject.category,
               AuditEvent.details["involvement_id"].as_string(), AuditEvent.event_type)
        .join(AuditSubject, AuditSubject.event_id == AuditEvent.id)
        .where(AuditSubject.value.in_(values),
               AuditEvent.event_type.in_((*REGISTRATION_TYPES, *LOOKUP_TYPES)),
               AuditEvent.organisation_id.is_not(None))
    ).all()
    categories: dict[int, set[str]] = defaultdict(set)
    registrations: dict[str, int] = {}
    for row_id, category, involvement_id, event_type in found:
        categories[row_id].add(category)
        if event_type in REGISTRATION_TYPES and involvement_id is not None:
            registrations[involvement_id] = row_id
    return categories, registrations


def subject_access_report(core: Core, actor: Actor, pseudonyms: list[Pseudonym],
                          lang: str = "nl") -> SubjectAccessReport:
    """Every registration on and look-up of the person with these pseudonyms, by time."""
    policy = core.policy()
    with core.transaction() as connection:
        keys = household_keys(core, connection, pseudonyms)
        categories, registrations = _events(connection, keys.values)
        involvement = AuditEvent.details["involvement_id"].as_string()
        ids = list(registrations)
        for chunk in (ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
            for row_id, involvement_id in connection.execute(
                select(AuditEvent.id, involvement)
                .where(AuditEvent.event_type.in_(LATER_TYPES), involvement.in_(chunk),
                       AuditEvent.organisation_id.is_not(None))
            ):
                categories[row_id] = categories[registrations[str(involvement_id)]]
        entries = []
        row_ids = sorted(categories)
        for rows in (row_ids[i:i + _CHUNK] for i in range(0, len(row_ids), _CHUNK)):
            for row in connection.execute(
                select(AuditEvent.id, AuditEvent.seq, AuditEvent.occurred_at,
                       AuditEvent.event_type, AuditEvent.purpose, AuditEvent.legal_basis,
                       AuditEvent.statute, AuditEvent.rule_id, Organisation.name,
                       Organisation.org_type)
                .join(Organisation, Organisation.id == AuditEvent.organisation_id)
                .where(AuditEvent.id.in_(rows))
            ):
                entries.append((row.seq, AccessEntry(
                    occurred_at=row.occurred_at, organisation=row.name,
                    organisation_type=_label(policy, "type", row.org_type, lang) or "",
                    event_type=row.event_type,
                    what=_word(WHAT[row.event_type], lang),
                    purpose=_label(policy, "purpose", row.purpose, lang),
                    legal_basis=_label(policy, "basis", row.legal_basis, lang),
                    statute=row.statute, rule_id=row.rule_id,
                    concerning=tuple(_word(CATEGORY_WORDS[c], lang)
                                     for c in sorted(categories[row.id], reverse=True)),
                )))
        entries.sort(key=lambda pair: pair[0])
        searched_on = tuple(sorted(p.category for p in pseudonyms))
        report = SubjectAccessReport(core.now(), lang, searched_on, [e for _, e in entries])
        record_event(connection, actor, "audit:reported", subjects=keys.subjects, details={
            "report": "subject_access", "entries": len(report.entries),
            "organisations": len(report.organisations), "language": lang})
    return report


def render_text(report: SubjectAccessReport) -> str:
    """The report as plain text in its language, to hand to the person it concerns."""
    from broker.core import LOCAL_ZONE  # noqa: PLC0415 - the core imports this package

    en = report.lang == "en"

    def local(moment: datetime) -> str:
        return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")

    kinds = ", ".join(f"{report.searched_on.count(c)} × {_word(CATEGORY_WORDS[c], report.lang)}"
                      for c in sorted(set(report.searched_on), reverse=True))
    lines = [
        "Subject access report (GDPR art. 15): household involvement broker" if en else
        "Inzageoverzicht (AVG art. 15): verwijsbroker huiselijk geweld en kindermishandeling",
        f"{'Drawn up' if en else 'Opgesteld'}: {local(report.generated_at)} "
        f"({'Dutch time' if en else 'Nederlandse tijd'})",
        f"{'Searched on' if en else 'Gezocht op'}: {kinds}",
        "",
        f"{'Organisations' if en else 'Organisaties'} ({len(report.organisations)}):",
    ]
    lines += [f"  - {name} ({org_type})" for name, org_type in report.organisations]
    if not report.entries:
        lines.append("  " + ("none: no organisation registered on or looked up these details" if en
                             else "geen: geen organisatie registreerde op of raadpleegde deze "
                                  "gegevens"))
    lines += ["", "What happened, by time:" if en else "Wat er gebeurde, op volgorde van tijd:"]
    for e in report.entries:
        why = [f"{'purpose' if en else 'doel'}: {e.purpose}"] if e.purpose else []
        if e.legal_basis:
            statute = f" ({e.statute})" if e.statute else ""
            why.append(f"{'legal basis' if en else 'grondslag'}: {e.legal_basis}{statute}")
        if e.rule_id:
            why.append(f"{'rule' if en else 'regel'}: {e.rule_id}")
        why.append(f"{'concerning' if en else 'betreft'}: {', '.join(e.concerning)}")
        lines += [f"  {local(e.occurred_at)}  {e.organisation} ({e.organisation_type}): {e.what}",
                  f"      {'; '.join(why)}"]
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
    """The report as one JSON object: when, language, key kinds, organisations, entries."""
    json.dump({
        "generated_at": timestamp(report.generated_at),
        "language": report.lang,
        "searched_on": list(report.searched_on),
        "organisations": [{"name": n, "type": t} for n, t in report.organisations],
        "entries": [as_dict(e) for e in report.entries],
    }, stream, ensure_ascii=False, indent=2)
    stream.write("\n")
