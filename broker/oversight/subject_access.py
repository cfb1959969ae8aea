"""The content of the subject access report (AVG art. 15): which organisations registered on,
or looked up, a person, when, why and under which rule; and which of them are withheld.

Rules this module guarantees:

- The person is named by the matching keys of their own identifiers (a BSN, a name with a date
  of birth), never by an address: an address is shared by everyone who lives or lived there,
  so a report on it would tell the asker about others (:mod:`broker.oversight.subject_requests`
  refuses one). Keys are compared in every form a stored key can have now, so the report is
  complete before, during and after a key rotation.
- An entry is an event of an organisation: a registration (``involvement:registered``, found by
  the person's keys) and what later happened to that same registration (renewed, ended,
  expired, purged: found by its involvement id), or a look-up (``lookup:performed``) with the
  person's keys. Only events before the request's own event are read (``covers_seq``), so every
  report printed for one request shows the same processing. Nothing else: not other households
  (only the categories of the person's own keys are shown), no raw identifier, no key bytes, no
  professional's name, and never the free-text justification.
- An organisation whose type the policy lists under ``subject_access: withhold:`` is left out
  of the report entirely — its registrations and its look-ups — unless a privacy officer
  released it for this request. What is left out is named only to the privacy officer
  (:attr:`SubjectAccessReport.withheld`); the person is told *that* information was withheld
  and on which grounds (:attr:`SubjectAccessReport.withheld_grounds`), never by whom.
- The auditors' own searches and reports are not listed: they are no organisation's processing
  but the controller's supervision, and are themselves in the log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from broker_primitives import oprf
from sqlalchemy import Connection, select

from broker.audit.events import Event
from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Subject
from broker.core import Core
from broker.policy import Policy
from broker.policy.model import LegalBasis, OrgType, Purpose
from broker.pseudonyms.matching import RotationState, read_rotation
from broker.registry.models import Organisation

REGISTRATION_TYPES = (Event.INVOLVEMENT_REGISTERED,)
LATER_TYPES = (Event.INVOLVEMENT_RENEWED, Event.INVOLVEMENT_ENDED, Event.INVOLVEMENT_EXPIRED,
               Event.INVOLVEMENT_PURGED)
LOOKUP_TYPES = (Event.LOOKUP_PERFORMED,)
_CHUNK = 500

# What happened, in words a data subject understands: (Dutch, English).
WHAT: dict[str, tuple[str, str]] = {
    Event.INVOLVEMENT_REGISTERED: ("registreerde dat zij betrokken is",
                               "registered that it is involved"),
    Event.INVOLVEMENT_RENEWED: ("verlengde haar registratie", "extended its registration"),
    Event.INVOLVEMENT_ENDED: ("beëindigde haar registratie", "ended its registration"),
    Event.INVOLVEMENT_EXPIRED: ("registratie verlopen (einddatum bereikt)",
                            "registration expired (end date reached)"),
    Event.INVOLVEMENT_PURGED: ("registratie definitief verwijderd na de bewaartermijn",
                           "registration deleted for good after the retention period"),
    Event.LOOKUP_PERFORMED: ("raadpleegde of andere organisaties betrokken zijn",
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
class WithheldOrganisation:
    """An organisation left out of a report, for the privacy officer's decision only."""

    code: str
    name: str
    organisation_type: str
    ground: str


@dataclass(frozen=True)
class SubjectAccessReport:
    """The report of one request: its id, when it was made, in which language, on which kinds
    of keys, its entries, the grounds the person is told, and (for the privacy officer) what
    was withheld."""

    request_id: str
    generated_at: datetime
    lang: str
    searched_on: tuple[str, ...]
    entries: list[AccessEntry]
    withheld_grounds: tuple[str, ...] = ()
    withheld: tuple[WithheldOrganisation, ...] = ()

    @property
    def organisations(self) -> list[tuple[str, str]]:
        """(name, type) of every organisation in the report, by name."""
        return sorted({(e.organisation, e.organisation_type) for e in self.entries})


@dataclass(frozen=True)
class FoundEntry:
    """An entry with the organisation behind it (id, code, type code), before withholding."""

    seq: int
    organisation_id: int
    code: str
    org_type: str
    entry: AccessEntry


def word(words: tuple[str, str], lang: str) -> str:
    """The English or the Dutch of a pair of words."""
    return words[1] if lang == "en" else words[0]


def label(policy: Policy, kind: str, code: str | None, lang: str) -> str | None:
    """The policy's label for a code (the code itself once the policy no longer has it)."""
    if code is None:
        return None
    tables: dict[str, Mapping[str, OrgType | Purpose | LegalBasis]] = {
        "purpose": policy.purposes, "basis": policy.bases, "type": policy.org_types}
    known = tables[kind].get(code)
    return known.label.get(lang) if known is not None else code


def current_forms(core: Core, connection: Connection, subjects: Sequence[Subject]) -> list[bytes]:
    """Every value the stored keys ``subjects`` can have now in the log: themselves, and in the
    middle of a rotation also their form at the rotation's other epoch."""
    values = [s.value for s in subjects]
    rotation = read_rotation(connection)
    if rotation is None:
        return values
    forward = core.matching.rotation_factor(rotation)
    back = core.matching.rotation_factor(
        RotationState(rotation.which, rotation.to_epoch, rotation.from_epoch))
    for subject in subjects:
        epoch = subject.oprf_epoch if rotation.which == "oprf" else subject.broker_epoch
        factor = forward if epoch == rotation.from_epoch else back
        values.append(oprf.scalar_mult(factor, subject.value))
    return values


def _events(connection: Connection, values: Sequence[bytes], before_seq: int
            ) -> tuple[dict[int, set[str]], dict[str, int]]:
    """Per event (row id) of an organisation with the person's keys: the categories of those
    keys; and per registered involvement id, the registration's row id."""
    found = connection.execute(
        select(AuditEvent.id, AuditSubject.category,
               AuditEvent.details["involvement_id"].as_string(), AuditEvent.event_type)
        .join(AuditSubject, AuditSubject.event_id == AuditEvent.id)
        .where(AuditSubject.value.in_(values), AuditEvent.seq < before_seq,
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


def find_entries(connection: Connection, policy: Policy, values: Sequence[bytes],
                 before_seq: int, lang: str) -> list[FoundEntry]:
    """Every registration on and look-up of the person with these key values before
    ``before_seq``, by sequence, with the organisation behind each (nothing withheld yet)."""
    categories, registrations = _events(connection, values, before_seq)
    involvement = AuditEvent.details["involvement_id"].as_string()
    ids = list(registrations)
    for chunk in (ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        for row_id, involvement_id in connection.execute(
            select(AuditEvent.id, involvement)
            .where(AuditEvent.event_type.in_(LATER_TYPES), involvement.in_(chunk),
                   AuditEvent.seq < before_seq, AuditEvent.organisation_id.is_not(None))
        ):
            categories[row_id] = categories[registrations[str(involvement_id)]]
    found = []
    row_ids = sorted(categories)
    for rows in (row_ids[i:i + _CHUNK] for i in range(0, len(row_ids), _CHUNK)):
        for row in connection.execute(
            select(AuditEvent.id, AuditEvent.seq, AuditEvent.occurred_at,
                   AuditEvent.event_type, AuditEvent.purpose, AuditEvent.legal_basis,
                   AuditEvent.statute, AuditEvent.rule_id, Organisation.id.label("org_id"),
                   Organisation.identifier, Organisation.name, Organisation.org_type)
            .join(Organisation, Organisation.id == AuditEvent.organisation_id)
            .where(AuditEvent.id.in_(rows))
        ):
            found.append(FoundEntry(row.seq, row.org_id, row.identifier, row.org_type,
                                    AccessEntry(
                occurred_at=row.occurred_at, organisation=row.name,
                organisation_type=label(policy, "type", row.org_type, lang) or "",
                event_type=row.event_type,
                what=word(WHAT[row.event_type], lang),
                purpose=label(policy, "purpose", row.purpose, lang),
                legal_basis=label(policy, "basis", row.legal_basis, lang),
                statute=row.statute, rule_id=row.rule_id,
                concerning=tuple(word(CATEGORY_WORDS[c], lang)
                                 for c in sorted(categories[row.id], reverse=True)),
            )))
    found.sort(key=lambda item: item.seq)
    return found


def assemble(request_id: str, generated_at: datetime, lang: str, searched_on: Sequence[str],
             found: Sequence[FoundEntry], withheld: Mapping[int, str],
             released: Collection[int] = ()) -> SubjectAccessReport:
    """The report from the entries found: organisations in ``withheld`` (id -> ground) and not
    in ``released`` are left out, and their grounds stated."""
    left_out = {org_id: ground for org_id, ground in withheld.items() if org_id not in released}
    organisations = {f.organisation_id: f for f in found if f.organisation_id in left_out}
    return SubjectAccessReport(
        request_id=request_id, generated_at=generated_at, lang=lang,
        searched_on=tuple(sorted(searched_on)),
        entries=[f.entry for f in found if f.organisation_id not in left_out],
        withheld_grounds=tuple(sorted({left_out[i] for i in organisations})),
        withheld=tuple(sorted(
            (WithheldOrganisation(f.code, f.entry.organisation, f.entry.organisation_type,
                                  left_out[i]) for i, f in organisations.items()),
            key=lambda w: w.code)),
    )
