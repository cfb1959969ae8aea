"""``Idempotency-Key`` on POST: a retried request gets the first answer, not a second effect.

Rules this module guarantees (issue 11: the key, the work and the stored answer commit
together):

1. The key is claimed first, in the request's unit of work, by one statement
   (``INSERT … ON CONFLICT DO NOTHING``); the work runs in the same transaction and the answer
   is stored in it before the commit. A crash anywhere before the commit leaves neither the work
   nor the claim; after it, both.
2. Of two concurrent requests with one key, the database lets exactly one claim it: the other
   waits for the first to commit (PostgreSQL's unique index; SQLite's single writer), then finds
   the stored answer and gets it back (``Idempotent-Replayed: true``, an audited disclosure of
   its own) — or, with a different request under the same key, a 422
   ``idempotency-key-reused``. It never acts itself.
3. Only answers of success are stored: a refused request stores nothing (its refusal is
   recorded, the claim undone), so a retry is decided again.
4. Only requests that change state are claimed (registrations, a look-up that registers,
   contact requests and answers, consents): a retried look-up or evaluation is simply answered
   again, and audited again, as the disclosure it is.
5. Stored answers are kept :data:`~broker.callers.idempotency.KEEP_DAYS` days, then purged
   (``broker purge``, :func:`broker.callers.idempotency.purge_records`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, g, request
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from broker.api.target import target_uri
from broker.audit.events import Event
from broker.callers.models import IdempotencyRecord
from broker.contact.links import redact_tokens
from broker.core import UnitOfWork
from broker.db import Prepared
from broker.door import uow
from broker.errors import Conflict, ValidationError

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
PENDING = 0  # the status of a claim whose answer is not stored yet (never committed as such)

F = TypeVar("F", bound=Callable[..., Response])
_RECORDS = cast(Table, IdempotencyRecord.__table__)


class IdempotencyKeyReused(ValidationError):
    """The key was used before for a different request."""

    code = "idempotency-key-reused"


def _claim_statement(insert: Any) -> Prepared:
    return Prepared(insert(_RECORDS).values(
        organisation_id=bindparam("organisation_id"), key=bindparam("key"),
        request_hash=bindparam("request_hash"), status=PENDING, body="",
        created_at=bindparam("created_at"),
    ).on_conflict_do_nothing(index_elements=[_RECORDS.c.organisation_id, _RECORDS.c.key]))


# Compiled once per dialect: every idempotent POST runs it.
_CLAIM = {"postgresql": _claim_statement(postgresql.insert),
          "sqlite": _claim_statement(sqlite.insert)}
_STORE = Prepared(update(_RECORDS).where(
    _RECORDS.c.organisation_id == bindparam("organisation_id"), _RECORDS.c.key == bindparam("key")
).values(status=bindparam("status"), body=bindparam("body")))


def request_key() -> str | None:
    """The request's Idempotency-Key, checked; None when absent."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise ValidationError(
            "%(header)s must be 1-200 characters: letters, digits, '_', '.', ':' or '-'.",
            header=HEADER)
    return key


def idempotent(view: F) -> F:
    """A view whose every request is :func:`idempotently` answered."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        return idempotently(lambda: view(*args, **kwargs))

    return cast(F, wrapped)


def idempotently(answer: Callable[[], Response]) -> Response:
    """Claim the request's key, make the answer, store it, in one transaction (the module's
    rules); without a key, just the answer. For a view that changes state on some requests
    only (a look-up that registers), called for those."""
    key = request_key()
    if key is None:
        return answer()
    work = uow()
    params = {"organisation_id": g.caller.organisation_id, "key": key,
              "request_hash": _request_hash()}
    connection = work.connection
    claimed = _CLAIM[connection.dialect.name].execute(
        connection, {**params, "created_at": work.now()})
    if not claimed:
        return _earlier_answer(work, params)
    response = answer()
    if 200 <= response.status_code < 300:
        _STORE.execute(work.connection, {**params, "status": response.status_code,
                                         "body": response.get_data(as_text=True)})
    return response


def _request_hash() -> str:
    """SHA-256 of the method, the target as received and the body."""
    return hashlib.sha256(request.method.encode() + b" " + target_uri(request).encode() + b"\n"
                          + request.get_data(cache=True)).hexdigest()


def _earlier_answer(work: UnitOfWork, params: dict[str, Any]) -> Response:
    """The stored answer of the request that claimed the key first (rule 2)."""
    earlier = work.session.scalar(select(IdempotencyRecord).filter_by(
        organisation_id=params["organisation_id"], key=params["key"]))
    if earlier is None or earlier.status == PENDING:
        raise Conflict(
            "A request with this %(header)s is still being handled; retry later.",
            header=HEADER)
    if earlier.request_hash != params["request_hash"]:
        raise IdempotencyKeyReused(
            "This %(header)s was used for a different request; use a new key.",
            header=HEADER)
    # A replayed answer is disclosed again: it gets its own audit event.
    work.record(g.actor, Event.API_ANSWER_REPLAYED,
                details={"path": redact_tokens(request.path), "status": earlier.status,
                         "first_answer_at": earlier.created_at.isoformat()})
    response = Response(earlier.body, status=earlier.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response
