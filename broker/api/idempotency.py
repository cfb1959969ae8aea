"""``Idempotency-Key`` on POST: a retried request gets the first answer, not a second effect.

Two layers. (1) The first successful answer is stored per organisation and key, with a hash of
the request; a retry with the same key and the same request gets it back, the same key with a
different request is refused (``idempotency-key-reused``). (2) Registration also writes the key
on each involvement in the same transaction, so a retry after a crash between the commit and
storing the answer finds the involvements instead of registering them twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, g, request
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from broker.api.auth import core_of_request
from broker.api.models import IdempotencyRecord
from broker.audit.services import Actor, record_event
from broker.contact.links import redact_tokens
from broker.core import Core
from broker.errors import ValidationError

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")

F = TypeVar("F", bound=Callable[..., Response])


class IdempotencyKeyReused(ValidationError):
    """The key was used before for a different request."""

    code = "idempotency-key-reused"


def request_key() -> str | None:
    """The request's Idempotency-Key, checked; None when absent."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise ValidationError(
            f"{HEADER} must be 1-200 characters: letters, digits, '_', '.', ':' or '-'.",
            f"{HEADER} moet 1-200 tekens zijn: letters, cijfers, '_', '.', ':' of '-'.",
        )
    return key


def idempotent(view: F) -> F:
    """Replay the stored answer for a repeated key; store the first successful answer."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        key = request_key()
        if key is None:
            return view(*args, **kwargs)
        core = core_of_request()
        org_id = g.caller.organisation_id
        digest = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n"
            + request.get_data(cache=True)
        ).hexdigest()
        with core.unit_of_work() as session:
            earlier = session.scalar(
                select(IdempotencyRecord).filter_by(organisation_id=org_id, key=key))
            if earlier is not None:
                if earlier.request_hash != digest:
                    raise IdempotencyKeyReused(
                        f"This {HEADER} was used for a different request; use a new key.",
                        f"Deze {HEADER} is gebruikt voor een ander verzoek; gebruik een nieuwe.",
                    )
                # A replayed answer is disclosed again: it gets its own audit event.
                record_event(session, g.actor, "api:answer_replayed",
                             details={"path": redact_tokens(request.path), "status": earlier.status,
                                      "first_answer_at": earlier.created_at.isoformat()})
                response = Response(earlier.body, status=earlier.status,
                                    mimetype="application/json")
                response.headers["Idempotent-Replayed"] = "true"
                return response
        response = view(*args, **kwargs)
        if 200 <= response.status_code < 300:
            try:
                with core.unit_of_work() as session:
                    session.add(IdempotencyRecord(
                        organisation_id=org_id, key=key, request_hash=digest,
                        status=response.status_code, body=response.get_data(as_text=True)))
            except IntegrityError:
                pass  # a concurrent retry stored the same answer first
        return response

    return cast(F, wrapped)


# Long enough for a case system to retry a whole interrupted sync the next working day.
KEEP_DAYS = 7


def purge_records(core: Core, actor: Actor) -> int:
    """Delete stored answers older than :data:`KEEP_DAYS`; returns how many."""
    cutoff = core.now() - timedelta(days=KEEP_DAYS)
    with core.unit_of_work() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
        deleted = cast(CursorResult[Any], result).rowcount
        if deleted:
            record_event(session, actor, "api:idempotency_purged",
                         details={"records": deleted, "older_than_days": KEEP_DAYS})
    return int(deleted or 0)
