"""Subject access requests (AVG art. 15) and their withholding decisions (UAVG art. 41).

Rules this module guarantees:

1. Only a privacy officer acts: the actor is ``privacy_officer:<username>`` of an *active*
   account whose access role is ``privacy_officer``, checked inside the transaction that acts
   (:func:`as_privacy_officer` builds such an actor; anything else is refused, nothing written).
2. A request is for one person: one BSN, one name with date of birth, or both. Keys of an
   address are refused, alone or with a person's (it would report on everyone who lives or
   lived there, a shelter's clients included), before anything is read or written.
3. A request is a record (:class:`~broker.audit.models.SubjectAccessRequest`): who asked (the
   privacy officer), when, for whom — only as the matching keys that are the subjects of its
   ``audit:subject_access_requested`` event, re-keyed in place by every rotation — and which
   events the report covers (those before that event, which locks the log's head first, so
   none is missed). The person's identifiers are never stored.
4. Every organisation in the report whose type the policy in force withholds is withheld, its
   ground recorded (:class:`~broker.audit.models.SubjectAccessWithholding`); the report says
   that information was withheld and on which grounds. The decisions are in the report's
   ``audit:reported`` event.
5. :func:`release` lifts one withholding for one request only, by a privacy officer's explicit
   decision with a reason (free text, checked by :func:`broker.freetext.check_free_text`,
   kept as an erasable personal detail of the ``audit:subject_access_released`` event). Each
   withholding is released once; of two releases at the same moment one is refused. The
   report is then made again for the same request, with the same events; an organisation of a
   type the policy in force withholds that the request has no decision on stays withheld.
6. Each report made is an ``audit:reported`` event with the person's keys as subjects.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from broker_primitives.blinding import Pseudonym
from sqlalchemy import Connection, insert, select, update

from broker.audit.events import Event
from broker.audit.models import (
    AuditEvent,
    AuditSubject,
    SubjectAccessRequest,
    SubjectAccessWithholding,
)
from broker.audit.services import Actor, Channel, Subject, record_event
from broker.core import UnitOfWork
from broker.errors import Conflict, Forbidden, NotFound, ValidationError, required
from broker.freetext import check_free_text
from broker.oversight.search import household_keys
from broker.oversight.subject_access import (
    FoundEntry,
    SubjectAccessReport,
    assemble,
    current_forms,
    find_entries,
)
from broker.registry.models import ACCESS_PRIVACY_OFFICER, Organisation, Professional

ACTOR_PREFIX = "privacy_officer:"
MAX_REASON_LENGTH = 2000


def as_privacy_officer(username: str, channel: Channel = "cli") -> Actor:
    """The actor of a privacy officer's act (checked when the service acts)."""
    return Actor(actor=f"{ACTOR_PREFIX}{username}", channel=channel, role=ACCESS_PRIVACY_OFFICER)


def _officer(connection: Connection, actor: Actor) -> int:
    """The id of the active privacy officer ``actor`` names, or a refusal."""
    found = None
    if actor.actor.startswith(ACTOR_PREFIX) and actor.role == ACCESS_PRIVACY_OFFICER:
        found = connection.execute(select(Professional.id).where(
            Professional.username == actor.actor.removeprefix(ACTOR_PREFIX),
            Professional.active.is_(True),
            Professional.access_role == ACCESS_PRIVACY_OFFICER)).scalar_one_or_none()
    if found is None:
        raise Forbidden(
            "Only an active privacy officer handles subject access requests; give the user name "
            "of one (--as).")
    return int(found)


def check_person(pseudonyms: Sequence[Pseudonym]) -> None:
    """Refuse anything but one person's keys (rule 2)."""
    if any(p.category != "person" for p in pseudonyms):
        raise ValidationError(
            "A subject access report is made for a person, never for an address: an address "
            "would report on everyone who lives or lived there. Give the person's BSN or, "
            "without one, their name and date of birth (--bsn, --person).",
            code="subject-access-person")
    if not 1 <= len(pseudonyms) <= 2:
        raise one_person()


def one_person() -> ValidationError:
    """The refusal of a request for more (or less) than one person."""
    return ValidationError(
        "A subject access request is for one person: give one BSN, one name with date of birth, "
        "or both; make a request per person.",
        code="subject-access-person")


def _reported(connection: Connection, actor: Actor, report: SubjectAccessReport,
              subjects: Sequence[Subject]) -> None:
    record_event(connection, actor, Event.AUDIT_REPORTED, subjects=subjects, details={
        "report": "subject_access", "request_id": report.request_id,
        "entries": len(report.entries), "organisations": len(report.organisations),
        "withheld": [{"organisation": w.code, "ground": w.ground} for w in report.withheld],
        "language": report.lang})


def request_access(uow: UnitOfWork, actor: Actor, pseudonyms: Sequence[Pseudonym],
                   lang: str = "nl") -> SubjectAccessReport:
    """Record a subject access request for the person with these pseudonyms and make its
    report, withholding what the policy withholds (rules 1-4, 6)."""
    core = uow.core
    check_person(pseudonyms)
    policy = core.policy()
    connection = uow.connection
    officer_id = _officer(connection, actor)
    keys = household_keys(core, connection, pseudonyms)
    request_id = str(uuid.uuid4())
    requested = record_event(connection, actor, Event.AUDIT_SUBJECT_ACCESS_REQUESTED,
                             subjects=keys.subjects, policy_version=policy.version,
                             details={"request_id": request_id})
    row_id = connection.execute(insert(SubjectAccessRequest).values(
        public_id=request_id, requested_at=core.now(), officer_id=officer_id,
        event_id=requested.event_id, covers_seq=requested.seq,
        policy_version=policy.version).returning(SubjectAccessRequest.id)).scalar_one()
    found = find_entries(connection, policy, keys.values, requested.seq, lang)
    grounds = policy.subject_access.withhold
    withheld = {f.organisation_id: grounds[f.org_type] for f in found
                if f.org_type in grounds}
    if withheld:
        connection.execute(insert(SubjectAccessWithholding), [
            {"request_id": row_id, "organisation_id": org_id, "ground": ground}
            for org_id, ground in sorted(withheld.items())])
    report = assemble(request_id, core.now(), lang, [p.category for p in pseudonyms],
                      found, withheld)
    _reported(connection, actor, report, keys.subjects)
    return report


def _withheld(connection: Connection, request_row: int, found: Sequence[FoundEntry],
              policy_grounds: dict[str, str]) -> tuple[dict[int, str], set[int]]:
    """The request's decisions (organisation id -> ground, and the released ones), plus
    organisations of a type the policy in force withholds that the request has none on."""
    withheld: dict[int, str] = {}
    released: set[int] = set()
    for org_id, ground, released_at in connection.execute(
        select(SubjectAccessWithholding.organisation_id, SubjectAccessWithholding.ground,
               SubjectAccessWithholding.released_at)
        .where(SubjectAccessWithholding.request_id == request_row)):
        withheld[org_id] = ground
        if released_at is not None:
            released.add(org_id)
    for f in found:
        if f.organisation_id not in withheld and f.org_type in policy_grounds:
            withheld[f.organisation_id] = policy_grounds[f.org_type]
    return withheld, released


def release(uow: UnitOfWork, actor: Actor, request_id: str, organisation: str, reason: str,
            lang: str = "nl") -> SubjectAccessReport:
    """Release the withheld ``organisation`` (its code) for the request ``request_id`` only,
    and make the request's report again (rules 1, 5, 6)."""
    core = uow.core
    reason_text = required(check_free_text(reason, field="The reason for the release",
                                           max_length=MAX_REASON_LENGTH, required=True),
                           "a required reason")
    policy = core.policy()
    connection = uow.connection
    officer_id = _officer(connection, actor)
    request = connection.execute(
        select(SubjectAccessRequest.id, SubjectAccessRequest.event_id,
               SubjectAccessRequest.covers_seq)
        .where(SubjectAccessRequest.public_id == request_id)).first() if len(
        request_id) <= 36 else None
    if request is None:
        raise NotFound("There is no subject access request with this id.")
    decision = connection.execute(
        select(SubjectAccessWithholding.id, SubjectAccessWithholding.ground,
               SubjectAccessWithholding.released_at)
        .join(Organisation, Organisation.id == SubjectAccessWithholding.organisation_id)
        .where(SubjectAccessWithholding.request_id == request.id,
               Organisation.identifier == organisation)).first()
    if decision is None:
        raise NotFound(
            "This organisation was not withheld in this request; the report of the request "
            "names the ones that were.")
    if decision.released_at is not None:
        raise _released_already()
    subjects = [Subject(*row) for row in connection.execute(
        select(AuditSubject.category, AuditSubject.value, AuditSubject.oprf_epoch,
               AuditSubject.broker_epoch)
        .join(AuditEvent, AuditEvent.id == AuditSubject.event_id)
        .where(AuditEvent.event_id == request.event_id))]
    released = record_event(
        connection, actor, Event.AUDIT_SUBJECT_ACCESS_RELEASED, subjects=subjects,
        justification=reason_text, policy_version=policy.version,
        details={"request_id": request_id, "organisation": organisation,
                 "ground": decision.ground})
    # Appending locked the log's head: a concurrent release of the same decision has
    # committed by now, and the condition below sees it.
    changed = connection.execute(
        update(SubjectAccessWithholding)
        .where(SubjectAccessWithholding.id == decision.id,
               SubjectAccessWithholding.released_at.is_(None))
        .values(released_at=core.now(), released_by_id=officer_id,
                release_event_id=released.event_id)).rowcount
    if changed != 1:
        raise _released_already()
    found = find_entries(connection, policy, current_forms(core, connection, subjects),
                         request.covers_seq, lang)
    withheld, released_ids = _withheld(connection, request.id, found,
                                       dict(policy.subject_access.withhold))
    report = assemble(request_id, core.now(), lang,
                      [s.category for s in subjects], found, withheld, released_ids)
    _reported(connection, actor, report, subjects)
    return report


def _released_already() -> Conflict:
    return Conflict("This organisation has been released for this request already.")
