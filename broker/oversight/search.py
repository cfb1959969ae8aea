"""Searching the audit log: the auditor's filters, rows fit to show, and CSV and JSON writers.

Rules this module guarantees:

- A row holds what an auditor needs to judge an event (who, on whose behalf, which organisation,
  through which door, why, under which rule, with which flags) and never a matching key's bytes,
  a raw identifier, the free-text justification or a source address.
- A household is searched by the pseudonyms of its identifiers, made the way a look-up makes
  them (:meth:`broker.core.Core.pseudonymise`), and compared with the events' subjects in every
  form a stored key can have now (:meth:`MatchingKeys.search_values`), so a search finds events
  from before a key rotation and from the middle of one.
- Every search is itself an audit event (``audit:searched``) in the same transaction as the
  read: the filters, the number of results and, for a household search, the household's
  matching keys as subjects. Recording the keys means an auditor's search shows up in a later
  search by the same household (who looked at whose log). It carries no organisation, so the
  subject access report (:mod:`broker.oversight.subject_access`), which lists the *organisations*
  that registered on or looked up the person, does not list the auditor.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TextIO, get_args

from broker_primitives.blinding import Pseudonym
from sqlalchemy import ColumnElement, Connection, or_, select

from broker.audit.chain import timestamp
from broker.audit.events import Event
from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import EVENT_TYPES, Actor, Subject, record_event
from broker.core import Core, UnitOfWork
from broker.errors import NotFound, ValidationError
from broker.pseudonyms.matching import unique_values
from broker.registry.models import Organisation, Professional
from broker.registry.validation import MAX_KEYS_PER_INVOLVEMENT

Flag = Literal["vital_interest", "review", "refused"]
FLAGS: tuple[Flag, ...] = get_args(Flag)
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
# Event types that later issues add; searching for them is not a typing error.
FUTURE_EVENT_TYPES = frozenset({Event.CONTACT_REQUESTED})


@dataclass(frozen=True)
class AuditQuery:
    """What an auditor searches for; every filter given must hold (flags: any of them).

    ``start`` is inclusive, ``end`` exclusive (aware datetimes). ``household`` holds the
    pseudonyms of one household's identifiers; an event matches when it concerned any of them.
    """

    organisation: str | None = None
    professional: str | None = None
    event_types: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    flags: tuple[Flag, ...] = ()
    household: tuple[Pseudonym, ...] = ()


@dataclass(frozen=True)
class AuditRow:
    """One event as an auditor sees it (no key bytes, no identifiers, no personal details)."""

    seq: int
    event_id: str
    occurred_at: datetime
    event_type: str
    action: str
    outcome: str
    reason: str | None
    actor: str
    actor_role: str | None
    on_behalf_of: str | None
    organisation: str | None
    organisation_name: str | None
    channel: str
    purpose: str | None
    legal_basis: str | None
    statute: str | None
    rule_id: str | None
    vital_interest: bool
    flagged_for_review: bool
    subject_categories: tuple[str, ...]


@dataclass(frozen=True)
class HouseholdKeys:
    """A household's keys for one search: every live stored form, and the current forms."""

    values: list[bytes]
    subjects: list[Subject]


_ROW_COLUMNS = (
    AuditEvent.seq, AuditEvent.event_id, AuditEvent.occurred_at, AuditEvent.event_type,
    AuditEvent.action, AuditEvent.outcome, AuditEvent.reason, AuditEvent.actor,
    AuditEvent.actor_role, AuditEvent.on_behalf_of, Organisation.identifier.label("organisation"),
    Organisation.name.label("organisation_name"), AuditEvent.channel, AuditEvent.purpose,
    AuditEvent.legal_basis, AuditEvent.statute, AuditEvent.rule_id, AuditEvent.vital_interest,
    AuditEvent.details["flag_for_review"].as_boolean().label("flagged_for_review"),
    AuditEvent.subject_categories,
)


def flagged_for_review() -> ColumnElement[bool]:
    """The condition "the event's details flag it for the auditor's review"."""
    condition: ColumnElement[bool] = AuditEvent.details["flag_for_review"].as_boolean().is_(True)
    return condition


def query_rows(connection: Connection, *conditions: ColumnElement[bool],
               limit: int | None = None) -> list[AuditRow]:
    """Events meeting every condition, as rows, in log order (at most ``limit``)."""
    statement = (
        select(*_ROW_COLUMNS)
        .outerjoin(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(*conditions)
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    rows = []
    for row in connection.execute(statement).mappings():
        values = dict(row)
        values["flagged_for_review"] = bool(values["flagged_for_review"])
        values["subject_categories"] = tuple(values["subject_categories"] or ())
        rows.append(AuditRow(**values))
    return rows


def household_keys(core: Core, connection: Connection,
                   pseudonyms: Sequence[Pseudonym]) -> HouseholdKeys:
    """The values a household's subjects can have now, computed exactly as a look-up does."""
    if not 1 <= len(pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
        raise ValidationError(
            "Give between 1 and %(max_keys_per_involvement)s identifiers of the household.",
            max_keys_per_involvement=MAX_KEYS_PER_INVOLVEMENT)
    rotation, epochs = core.matching.snapshot(connection)
    variants = core.matching.search_values(pseudonyms, rotation, epochs)
    return HouseholdKeys(
        values=unique_values(v for group in variants for v in group),
        subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                  for k in (group[0] for group in variants)],
    )


def concerning(values: Sequence[bytes]) -> ColumnElement[bool]:
    """The condition "the event concerned one of these stored key values"."""
    return AuditEvent.id.in_(select(AuditSubject.event_id).where(AuditSubject.value.in_(values)))


def search_events(uow: UnitOfWork, actor: Actor, query: AuditQuery,
                  limit: int = DEFAULT_LIMIT) -> list[AuditRow]:
    """The events matching ``query`` in log order, at most ``limit``; audited as
    ``audit:searched``. A caller that receives exactly ``limit`` rows should narrow the search."""
    core = uow.core
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            "The limit must lie between 1 and %(max_limit)s.",
            max_limit=MAX_LIMIT)
    check_period(query.start, query.end)
    for flag in query.flags:
        if flag not in FLAGS:
            raise ValidationError("Unknown flag; use one of: %(flags)s.", flags=', '.join(FLAGS))
    unknown = sorted(set(query.event_types) - set(EVENT_TYPES) - FUTURE_EVENT_TYPES)
    if unknown:
        raise ValidationError("Unknown event type %(unknown)s.", unknown=repr(unknown[0]))
    connection = uow.connection
    conditions = _conditions(connection, query)
    subjects: list[Subject] = []
    if query.household:
        keys = household_keys(core, connection, query.household)
        conditions.append(concerning(keys.values))
        subjects = keys.subjects
    rows = query_rows(connection, *conditions, limit=limit)
    record_event(connection, actor, Event.AUDIT_SEARCHED, subjects=subjects, details={
        "organisation": query.organisation, "professional": query.professional,
        "event_types": sorted(query.event_types), "flags": sorted(query.flags),
        "from": timestamp(query.start) if query.start else None,
        "to": timestamp(query.end) if query.end else None,
        "household_keys": len(query.household), "limit": limit, "results": len(rows),
    })
    return rows


def check_period(start: datetime | None, end: datetime | None) -> None:
    """Refuse a period that ends before it starts."""
    if start is not None and end is not None and end <= start:
        raise ValidationError("The end of the period must lie after its start.")


def period(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions for ``start <= occurred_at < end`` (either side open when None)."""
    conditions = []
    if start is not None:
        conditions.append(AuditEvent.occurred_at >= start)
    if end is not None:
        conditions.append(AuditEvent.occurred_at < end)
    return conditions


def _conditions(connection: Connection, query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions = period(query.start, query.end)
    if query.organisation is not None:
        org_id = connection.scalar(
            select(Organisation.id).where(Organisation.identifier == query.organisation))
        if org_id is None:
            raise NotFound(
                "There is no organisation with code %(organisation)s; see: broker org list",
                organisation=repr(query.organisation))
        conditions.append(AuditEvent.organisation_id == org_id)
    if query.professional is not None:
        if connection.scalar(select(Professional.id).filter_by(
                username=query.professional)) is None:
            raise NotFound(
                "There is no professional with user name %(professional)s; see: broker "
                "professional list",
                professional=repr(query.professional))
        # NEN 7513: the user who acted, or the user a system acted for.
        who = f"professional:{query.professional}"
        conditions.append(or_(AuditEvent.actor == who, AuditEvent.on_behalf_of == who))
    if query.event_types:
        conditions.append(AuditEvent.event_type.in_(sorted(set(query.event_types))))
    flags = {
        "vital_interest": AuditEvent.vital_interest.is_(True),
        "review": flagged_for_review(),
        "refused": AuditEvent.outcome == "refused",
    }
    if query.flags:
        conditions.append(or_(*(flags[f] for f in sorted(set(query.flags)))))
    return conditions


# -- writers -----------------------------------------------------------------------------------

# A cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection); the
# privacy officer opens exports in one, so such cells get a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(_cell(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def as_dict(row: Any) -> dict[str, Any]:
    """A row dataclass as JSON-ready values (times as UTC timestamps, tuples as lists)."""
    return {f.name: _plain(getattr(row, f.name)) for f in dataclasses.fields(row)}


def write_csv(stream: TextIO, rows: Iterable[Any], row_type: type[Any] = AuditRow) -> None:
    """Write ``rows`` (instances of the dataclass ``row_type``) as CSV with a header line;
    lists are joined with ``|``, times are UTC timestamps."""
    names = [f.name for f in dataclasses.fields(row_type)]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in names])


def write_json(stream: TextIO, rows: Iterable[Any]) -> None:
    """Write ``rows`` (dataclasses) as one JSON array of objects."""
    json.dump([as_dict(row) for row in rows], stream, ensure_ascii=False, indent=2)
    stream.write("\n")
