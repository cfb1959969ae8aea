"""The subject access requests a privacy officer has on record, with their withholding
decisions (for the privacy officer's page; :mod:`broker.oversight.subject_requests` makes and
releases them). Holds no identifier: a request is known by its id, its time and its officer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from broker.audit.models import SubjectAccessRequest, SubjectAccessWithholding
from broker.core import UnitOfWork
from broker.registry.models import Organisation, Professional


@dataclass(frozen=True)
class Withholding:
    """One organisation withheld from one request's report, and whether it was released."""

    code: str
    name: str
    org_type: str
    ground: str
    released_at: datetime | None


@dataclass(frozen=True)
class RequestOnRecord:
    """A subject access request: its id, when, by which officer, and its decisions."""

    request_id: str
    requested_at: datetime
    officer: str
    withheld: tuple[Withholding, ...]


def requests_on_record(uow: UnitOfWork, limit: int = 100) -> list[RequestOnRecord]:
    """The newest requests (at most ``limit``) with their withholding decisions."""
    connection = uow.connection
    rows = connection.execute(
        select(SubjectAccessRequest.id, SubjectAccessRequest.public_id,
               SubjectAccessRequest.requested_at, Professional.username)
        .join(Professional, Professional.id == SubjectAccessRequest.officer_id)
        .order_by(SubjectAccessRequest.id.desc()).limit(limit)).all()
    decisions: dict[int, list[Withholding]] = {row.id: [] for row in rows}
    if decisions:
        for request_row, code, name, org_type, ground, released_at in connection.execute(
            select(SubjectAccessWithholding.request_id, Organisation.identifier,
                   Organisation.name, Organisation.org_type, SubjectAccessWithholding.ground,
                   SubjectAccessWithholding.released_at)
            .join(Organisation, Organisation.id == SubjectAccessWithholding.organisation_id)
            .where(SubjectAccessWithholding.request_id.in_(list(decisions)))
            .order_by(Organisation.name)):
            decisions[request_row].append(Withholding(code, name, org_type, ground, released_at))
    return [RequestOnRecord(row.public_id, row.requested_at, row.username,
                            tuple(decisions[row.id])) for row in rows]
